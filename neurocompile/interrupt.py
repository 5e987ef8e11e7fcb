"""Ctrl-C and SIGTERM while a command runs: outputs whole or not at all, long runs ended early with what they have."""
from __future__ import annotations

import signal
import sys
import threading
from contextlib import contextmanager


class _Interrupt:
    """SIGINT (Ctrl-C) and SIGTERM (what `timeout`, schedulers and containers send): raise KeyboardInterrupt (outputs
    are written whole or not at all, temporaries removed), except inside `deferred()`, where they only set
    `requested` and the running loop ends at its next step, keeping what it has.  The exit code says which:
    130 for SIGINT, 143 for SIGTERM (128 + the signal's number, as a shell reports it)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.signum: int | None = None  # the signal received, if any
        self.depth = 0
        self.running = False  # a command is running (its handler and hook are installed)

    @property
    def requested(self) -> bool:
        return self.signum is not None

    @property
    def exit_code(self) -> int:
        return 128 + int(self.signum or signal.SIGINT)

    @property
    def what(self) -> str:
        return "terminated (SIGTERM)" if self.signum == signal.SIGTERM else "interrupted"

    def handler(self, signum, frame) -> None:
        self.signum = signum
        if not self.depth:
            raise KeyboardInterrupt

    @contextmanager
    def deferred(self):
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1

    def unraisable(self, args) -> None:
        """``sys.unraisablehook`` while a command runs.  A signal that lands inside a callback Python cannot propagate
        from (a lock's weakref callback in the import machinery, a finaliser) would be printed as "Exception
        ignored ... Traceback" and dropped, and the command would run on and write its output; instead it is
        delivered again a moment later, once the callback has returned."""
        if args.exc_type is not None and issubclass(args.exc_type, KeyboardInterrupt):
            again = self.signum or signal.SIGINT
            threading.Timer(0.01, lambda: self.running and signal.raise_signal(again)).start()
        else:
            sys.__unraisablehook__(args)


INTERRUPT = _Interrupt()
