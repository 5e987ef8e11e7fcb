"""Package discovery: every package under the three source folders, each under its installed name.

``neurocompile/`` is the package; ``models/`` and ``targets/`` (top-level folders, so that a new chip or model is a
folder beside the compiler) install as ``neurocompile.models`` and ``neurocompile.targets``.  Everything else is in
pyproject.toml.
"""
from setuptools import find_packages, setup

ROOTS = {"neurocompile": "neurocompile", "neurocompile.models": "models", "neurocompile.targets": "targets"}

setup(
    package_dir=ROOTS,
    packages=[f"{name}.{sub}" if sub else name for name, folder in ROOTS.items()
              for sub in ["", *find_packages(folder, exclude=["*.__pycache__"])]],
)
