"""The ranges of every numeric option, in one place: the command line parses with them (``Range.parser``) and the
Python API checks with them (``Range.check``), so a value the CLI refuses is refused by the API with the same
words, as a ``UserError``."""
from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from typing import Any

from .errors import UserError

MAX_TOKENS = 10**9  # a long run is a real use (energy per token over a long text); memory stays flat
MAX_SEED = 2**63 - 1


@dataclass(frozen=True)
class Range:
    kind: type  # int or float
    lo: float
    hi: float
    lo_open: bool = False  # (lo, hi] instead of [lo, hi]

    def _span(self) -> str:
        if self.kind is int:
            return f"{int(self.lo)}..{int(self.hi)}"
        return f"{'(' if self.lo_open else '['}{self.lo:g}, {self.hi:g}]"

    def _fits(self, value: float) -> bool:
        low_ok = value > self.lo if self.lo_open else value >= self.lo
        return math.isfinite(value) and low_ok and value <= self.hi

    def check(self, value: Any, name: str) -> int | float:
        """`value` from Python: of the option's type (an int for an integer option, any real number for a number) and
        in range, else one UserError naming the option."""
        integer = isinstance(value, int) and not isinstance(value, bool)
        number = integer or (isinstance(value, float) and not isinstance(value, bool))
        if (self.kind is int and not integer) or (self.kind is float and not number):
            what = "an integer" if self.kind is int else "a number"
            raise UserError(f"{name}: expected {what} in {self._span()}, got {value!r}")
        if not self._fits(value):
            raise UserError(f"{name}: must be {'a finite number ' if self.kind is float else ''}in {self._span()}, "
                            f"got {value!r}")
        return self.kind(value)

    def parser(self):
        """An argparse ``type=``: the text parsed and checked (argparse names the option in its message)."""
        def parse(text: str) -> int | float:
            try:
                value = self.kind(text)
            except ValueError:
                what = f"an integer in {self._span()}" if self.kind is int else "a number"
                raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
            if not self._fits(value):
                finite = "a finite number " if self.kind is float else ""
                raise argparse.ArgumentTypeError(f"must be {finite}in {self._span()}, got {text}")
            return value

        parse.__name__ = "integer" if self.kind is int else "number"
        return parse


RANGES = {
    "tokens": Range(int, 0, MAX_TOKENS),
    "temperature": Range(float, 0, 100),
    "top_p": Range(float, 0, 1, lo_open=True),
    "seed": Range(int, 0, MAX_SEED),
    "v_threshold": Range(float, 0, 1e6, lo_open=True),
    "dt": Range(float, 0, 1e3, lo_open=True),
    "rate": Range(float, 0, 1, lo_open=True),
    "steps": Range(int, 1, 10**6),
    "streams": Range(int, 1, 2**16),
    "calibration_tokens": Range(int, 16, 10**8),
    "payload_bits": Range(int, 2, 24),
    "block_rows": Range(int, 0, 2**24),
    "max_tokens": Range(int, 0, 10**10),
    "workers": Range(int, 1, 1024),
    "warmup": Range(int, 0, 10**8),
    "reset_interval": Range(int, 1, 2**24),
    "reset_offset": Range(int, 0, 2**24),
}
CHOICES = {"reset": ("zero", "subtract"), "token_shift": ("fold", "delay")}


def check(name: str, value: Any) -> Any:
    """An API option's value, checked as the CLI checks it (None: the default, always allowed)."""
    if value is None:
        return None
    if name in RANGES:
        return RANGES[name].check(value, name)
    if name in CHOICES and value not in CHOICES[name]:
        raise UserError(f"{name}: choose {' or '.join(CHOICES[name])}, got {value!r}")
    return value
