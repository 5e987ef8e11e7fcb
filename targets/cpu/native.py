"""The engine's native dot products and barrier (``native.c``): built with the machine's C compiler on first use
(``make install`` builds it), loaded, and linked into the compiled kernels by symbol name -- so numba's cached kernels
stay cached.

Where no compiler is found, or ``NEUROCOMPILE_NATIVE=0``, the dot product's symbol is a numba function computing the
same integers (``portable_dot``), the kernels keep the input-major weights of the event-driven path and one stream's
step runs on one thread (``AVAILABLE`` False; the barrier's symbols are then never called): the native library is an
acceleration, never a requirement."""
from __future__ import annotations

import ctypes
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import llvmlite.binding as llvm
import numpy as np
from numba import carray, cfunc, njit, types

SOURCE = Path(__file__).with_name("native.c")
SYMBOL, BARRIER, ABORT = "neurocompile_dot", "neurocompile_barrier", "neurocompile_abort"
WAIT, POST, ARRIVE = "neurocompile_wait", "neurocompile_post", "neurocompile_arrive"
DIGIT = 15  # inputs wider than int16 are split into 15-bit digits (the top one signed)
MAX_THREADS = 8  # one stream's step over at most this many threads: a few cores already take the memory's bandwidth

# neurocompile_dot(W int8 [n_out, n_in], n_in, n_out, X int16 [B, n_in], B, acc int64 [B, n_out]): pointers as
# integers (the kernels pass ``array.ctypes.data``), the same registers as the C pointers on every 64-bit ABI
dot = types.ExternalFunction(SYMBOL, types.void(types.uintp, types.int64, types.int64, types.uintp, types.int64,
                                                types.uintp))
# neurocompile_barrier(sync int64 [3], parts) -> 1 when a part gave up (neurocompile_abort(sync)), else 0
barrier = types.ExternalFunction(BARRIER, types.int64(types.uintp, types.int64))
abort = types.ExternalFunction(ABORT, types.void(types.uintp))
# neurocompile_wait(word, seen) -> *word once it is not `seen`; neurocompile_post(word, value): *word = value;
# neurocompile_arrive(word) -> *word + 1, stored (atomically, with the orderings a hand-off needs: native.c)
wait = types.ExternalFunction(WAIT, types.int64(types.uintp, types.int64))
post = types.ExternalFunction(POST, types.void(types.uintp, types.int64))
arrive = types.ExternalFunction(ARRIVE, types.int64(types.uintp))


@njit(cache=True, nogil=True)
def _rows(W, X, acc):
    n_out, n_in = W.shape
    for o in range(n_out):
        for b in range(X.shape[0]):
            total = 0
            for j in range(n_in):
                total += np.int64(W[o, j]) * np.int64(X[b, j])
            acc[b, o] = total


@cfunc(types.void(types.CPointer(types.int8), types.int64, types.int64, types.CPointer(types.int16), types.int64,
                  types.CPointer(types.int64)), cache=True, nogil=True)
def portable_dot(W, n_in, n_out, X, B, acc):
    """native.c's contract in numba: the symbol's body where the C library cannot be built."""
    _rows(carray(W, (n_out, n_in)), carray(X, (B, n_in)), carray(acc, (B, n_out)))


@cfunc(types.int64(types.CPointer(types.int64), types.int64), cache=True, nogil=True)
def _one_part(sync, parts):
    """The barrier's symbol without the library: a step is never split then (numba has no atomics to meet with)."""
    return 0


@cfunc(types.void(types.CPointer(types.int64)), cache=True, nogil=True)
def _no_abort(sync):
    pass


@cfunc(types.int64(types.CPointer(types.int64), types.int64), cache=True, nogil=True)
def _stopped(word, seen):
    """The hand-off's symbols without the library (never called: a step is not split then)."""
    return -1


@cfunc(types.void(types.CPointer(types.int64), types.int64), cache=True, nogil=True)
def _no_post(word, value):
    pass


@cfunc(types.int64(types.CPointer(types.int64)), cache=True, nogil=True)
def _no_arrive(word):
    return 0


def _cache_dirs() -> list[Path]:
    return [SOURCE.parent / "__pycache__", Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "neurocompile"]


def _compiler() -> str | None:
    return shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc") or shutil.which("clang")


def build(quiet: bool = True) -> Path:
    """The library for this source and compiler, compiled if it is not there yet (atomically: concurrent builds
    each write their own file and rename it into place).  Raises OSError with the reason when it cannot."""
    cc = _compiler()
    if cc is None:
        raise OSError("no C compiler (cc, gcc or clang) on PATH")
    source = SOURCE.read_bytes()
    key = hashlib.sha256(source + cc.encode() + sys.platform.encode()).hexdigest()[:16]
    name = f"native-{key}.so"
    for directory in _cache_dirs():
        if (directory / name).exists():
            return directory / name
    errors = []
    for directory in _cache_dirs():
        try:
            directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(suffix=".so", dir=directory)
            os.close(fd)
        except OSError as exc:
            errors.append(f"{directory}: {exc}")
            continue
        try:
            done = subprocess.run([cc, "-O3", "-fPIC", "-shared", "-pthread", "-o", tmp, str(SOURCE)],
                                  capture_output=True, text=True, timeout=300)
            if done.returncode:
                raise OSError(f"{cc} failed: {done.stderr.strip()[-500:]}")
            os.replace(tmp, directory / name)
            for stale in directory.glob("native-*.so"):  # earlier sources' builds: only names this function writes
                if stale.name != name and re.fullmatch(r"native-[0-9a-f]{16}\.so", stale.name):
                    stale.unlink(missing_ok=True)
            return directory / name
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    raise OSError("; ".join(errors))


def _load() -> tuple[bool, str]:
    """Link the symbol the kernels call: the C library's, else ``portable_dot``.  (available, what runs)."""
    if os.environ.get("NEUROCOMPILE_NATIVE", "1") == "0":
        why = "NEUROCOMPILE_NATIVE=0"
    else:
        try:
            library = ctypes.CDLL(str(build()))
            library.neurocompile_dot_isa.restype = ctypes.c_char_p
            for symbol in (SYMBOL, BARRIER, ABORT, WAIT, POST, ARRIVE):
                llvm.add_symbol(symbol, ctypes.cast(getattr(library, symbol), ctypes.c_void_p).value)
            _KEEP.append(library)
            isa = library.neurocompile_dot_isa().decode()
            want = os.environ.get("NEUROCOMPILE_NATIVE_ISA")
            if want and want != isa:  # a name this CPU does not run, or none of native.c's
                return True, f"native ({isa}; NEUROCOMPILE_NATIVE_ISA={want} is not a variant this CPU runs)"
            return True, f"native ({isa})"
        except OSError as exc:
            why = str(exc)
    for symbol, function in ((SYMBOL, portable_dot), (BARRIER, _one_part), (ABORT, _no_abort), (WAIT, _stopped),
                             (POST, _no_post), (ARRIVE, _no_arrive)):
        llvm.add_symbol(symbol, function.address)
    return False, f"portable (numba; {why})"


_KEEP: list = []
AVAILABLE, ENGINE = _load()
