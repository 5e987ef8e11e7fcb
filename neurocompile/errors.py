"""User-facing errors: one clear message, exit code 2, no traceback (the CLI catches these)."""
from __future__ import annotations


class UserError(Exception):
    """A mistake in what the user gave us (a file, an option): the message says what and what to do."""

    exit_code = 2


class EngineMismatch(Exception):
    """Two engines disagree on the same program: a bug in neurocompile, not a user error (exit code 1)."""
