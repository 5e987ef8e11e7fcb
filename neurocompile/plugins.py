"""Plug-ins found, not named: every package directly under a package that defines a given object (a target's
``TARGET``, a task's ``TASK``, a model family's ``FAMILY``) -- a new one is a new folder, and nothing else changes."""
from __future__ import annotations

import importlib
import pkgutil


def find(package: str, attribute: str, kind: type) -> list:
    """The `attribute` of each package under `package` where it is a `kind`, in the packages' name order."""
    parent = importlib.import_module(package)
    found = []
    for info in sorted(pkgutil.iter_modules(parent.__path__), key=lambda i: i.name):
        if info.ispkg:
            value = getattr(importlib.import_module(f"{package}.{info.name}"), attribute, None)
            if isinstance(value, kind):
                found.append(value)
    return found
