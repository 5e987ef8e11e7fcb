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
    _let_lava_set_fork()
    try:
        import lava.proc.lif.process  # noqa: F401
    except ImportError as exc:
        raise UserError(f"Lava is not installed in this environment ({exc}); run `make install`") from None
    except ValueError as exc:  # the dataclass error of an unpatched lava on Python 3.11
        raise UserError(f"Lava is installed but not patched for Python 3.11 ({exc}); run `python tools/fix_lava.py`") from None
    if netx:
        sys.modules.setdefault("lava.lib.dl.slayer.object_detection", types.ModuleType("lava.lib.dl.slayer.object_detection"))


def _let_lava_set_fork() -> None:
    """Lava's message infrastructure calls ``multiprocessing.set_start_method('fork')`` when first imported, which
    raises if anything in the process fixed the start method before (a data loader, a benchmark harness).  Lava runs
    only under 'fork': an earlier 'fork' is unset so that Lava's call succeeds; anything else is refused."""
    import multiprocessing

    if "lava.magma.runtime.message_infrastructure.multiprocessing" in sys.modules:
        return
    current = multiprocessing.get_start_method(allow_none=True)
    if current is None:
        return
    if current != "fork":
        raise UserError(f"Lava's simulator needs multiprocessing's 'fork' start method, and this process has set "
                        f"{current!r}; run it in a process that has not (or before setting it)")
    multiprocessing.set_start_method(None, force=True)
