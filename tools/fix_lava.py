"""Make lava-nc 0.10.0 / lava-dl 0.6.0 work on Python 3.11; idempotent, run by `make install`.

1. ``lava/magma/compiler/var_model.py`` uses ``ByteEncoder()`` instances as dataclass defaults, which
   Python 3.11 rejects at class definition ("mutable default ... use default_factory"), so no
   ``lava.proc`` module imports.  They become ``field(default_factory=ByteEncoder)``.
2. The lava wheels install a top-level ``tests`` package (about 110 MB) into site-packages that can
   shadow other projects' tests; it is removed when lava's own RECORD lists it.

Then it imports ``lava.proc.lif.process`` and ``lava.proc.dense.process`` to prove the fix took.
"""
from __future__ import annotations

import re
import shutil
import sys
import sysconfig
from pathlib import Path

SITE = Path(sysconfig.get_paths()["purelib"])


def patch_var_model() -> str:
    path = SITE / "lava" / "magma" / "compiler" / "var_model.py"
    if not path.is_file():
        sys.exit(f"fix_lava: {path} not found: is lava-nc installed in this environment ({sys.prefix})?")
    text = original = path.read_text()
    text = re.sub(r"^(\s+\w+): ByteEncoder = ByteEncoder\(\)$", r"\1: ByteEncoder = field(default_factory=ByteEncoder)",
                  text, flags=re.M)
    if "default_factory=ByteEncoder" in text and not re.search(r"^from dataclasses import .*\bfield\b", text, re.M):
        text = re.sub(r"^from dataclasses import (.*)$", r"from dataclasses import \1, field", text, count=1, flags=re.M)
    if text == original:
        return f"{path}: already patched"
    path.write_text(text)
    return f"{path}: ByteEncoder defaults now use default_factory"


def remove_stray_tests() -> str:
    tests = SITE / "tests"
    records = list(SITE.glob("lava_nc-*.dist-info/RECORD")) + list(SITE.glob("lava_dl-*.dist-info/RECORD"))
    owned = any(line.startswith("tests/") for r in records for line in r.read_text().splitlines())
    if tests.is_dir() and owned:
        shutil.rmtree(tests)
        return f"{tests}: removed (installed by the lava wheels)"
    return "no stray top-level tests package"


def main() -> None:
    print("fix_lava:", patch_var_model())
    print("fix_lava:", remove_stray_tests())
    import lava.proc.dense.process  # noqa: F401
    import lava.proc.lif.process  # noqa: F401

    print("fix_lava: lava.proc imports on Python", sys.version.split()[0])


if __name__ == "__main__":
    main()
