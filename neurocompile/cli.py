"""The ``neurocompile`` command: a shell that finds its verbs.  The verbs every build has are the modules of
``neurocompile/verbs``; a task's own verbs come with its task (``tasks/<task>/cli.py``).  User mistakes end with one
message on stderr and exit code 2; Ctrl-C and SIGTERM as ``interrupt`` says.
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import signal
import sys

from . import __version__
from .errors import EngineMismatch, UserError
from .interrupt import INTERRUPT

__all__ = ["INTERRUPT", "entry", "main"]


class _Parser(argparse.ArgumentParser):
    """argparse, its mistakes ending as ours do: one message, exit code 2."""

    def error(self, message: str):  # type: ignore[override]
        raise UserError(f"{message} (see `{self.prog} --help`)")


def verbs() -> list:
    """Every verb, in its order: the shared ones (``neurocompile.verbs.*``) and each task's."""
    from . import verbs as shared

    modules = [importlib.import_module(f"{shared.__name__}.{info.name}") for info in pkgutil.iter_modules(shared.__path__)]
    found = [module.VERB for module in modules if hasattr(module, "VERB")]
    found += [verb for task in shared.task_verbs().values() for verb in task.verbs]
    return sorted(found, key=lambda verb: (verb.order, verb.name))


def _parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="neurocompile",
                 description="Deploy spiking networks (SpikeGPT, SpikeDecoder, NIR graphs) to neuromorphic hardware.")
    ap.add_argument("--version", action="version", version=f"neurocompile {__version__}")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for verb in verbs():
        p = sub.add_parser(verb.name, help=verb.help)
        verb.arguments(p)
        p.set_defaults(run=verb.run)
    return ap


def _printable_streams() -> None:
    """Text that the terminal's encoding cannot show (a C locale, PYTHONIOENCODING=ascii) is printed escaped
    (``\\xe9``), never a traceback halfway through a command's output."""
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            try:
                stream.reconfigure(errors="backslashreplace")
            except (ValueError, OSError):  # a closed or detached stream: nothing to print to anyway
                pass


def main(argv: list[str] | None = None, *, exiting: bool = False) -> int:
    """Run one command; return its exit code.  `exiting`: the process ends right after (the console script),
    so the signals stay handled until it does -- a late Ctrl-C must not turn exit code 130 into death by signal."""
    INTERRUPT.signum = None
    previous = {sig: signal.signal(sig, INTERRUPT.handler) for sig in INTERRUPT.SIGNALS}
    previous_hook, sys.unraisablehook = sys.unraisablehook, INTERRUPT.unraisable
    INTERRUPT.running = True
    _printable_streams()
    try:
        args = _parser().parse_args(argv)
        args.run(args)
    except UserError as exc:
        print(f"neurocompile: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except EngineMismatch as exc:
        print(f"neurocompile: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\nneurocompile: {INTERRUPT.what}; nothing was written (outputs are written whole or not at all)",
              file=sys.stderr)
        # CPython (3.11) marks a KeyboardInterrupt that leaves an exec() of a string as "unhandled" even when it is
        # caught later (libraries define functions that way: dataclasses, namedtuple), and Py_RunMain then ends the
        # process by SIGINT instead of our exit code 130.  Every exec() of a string clears that mark first.
        exec("None")
        return INTERRUPT.exit_code
    except MemoryError:
        print("neurocompile: error: out of memory; try a smaller model, fewer streams or fewer tokens", file=sys.stderr)
        return 2
    except OSError as exc:  # a file or folder the system refused us; the commands check what they can first
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"neurocompile: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, signal.SIG_IGN if exiting else handler)
        sys.unraisablehook = previous_hook
        INTERRUPT.running = False
    return INTERRUPT.exit_code if INTERRUPT.requested else 0


def entry() -> None:
    """The ``neurocompile`` console script."""
    sys.exit(main(exiting=True))


if __name__ == "__main__":
    entry()
