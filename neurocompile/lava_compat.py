"""Importing Lava on Python 3.11 (see tools/fix_lava.py for the install-time fix)."""
from __future__ import annotations

import sys
import types

from .errors import UserError


def ensure_importable(netx: bool = False) -> None:
    """Fail with one clear message when Lava is missing or unpatched; make netx importable without torchvision.

    lava-dl's slayer imports ``object_detection``, which imports torchvision; PyPI's torchvision does not load
    beside a CPU torch.  netx needs nothing from it, so an empty module stands in for it.
    """
    try:
        import lava.proc.lif.process  # noqa: F401
    except ImportError as exc:
        raise UserError(f"Lava is not installed in this environment ({exc}); run `make install`") from None
    except ValueError as exc:  # the dataclass error of an unpatched lava on Python 3.11
        raise UserError(f"Lava is installed but not patched for Python 3.11 ({exc}); run `python tools/fix_lava.py`") from None
    if netx:
        sys.modules.setdefault("lava.lib.dl.slayer.object_detection", types.ModuleType("lava.lib.dl.slayer.object_detection"))
