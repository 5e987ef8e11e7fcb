"""Files neurocompile writes: atomically, only over what it made itself, and never stranded by a crash.

The rules the README promises and ``tests/test_hostile.py`` enforces:

* An output is written to a temporary sibling and renamed into place, so a failure or an interrupt leaves
  the previous output (or nothing), never half a file.  Outputs follow the umask (0644 by default).
* An existing path is replaced only when it is provably ours: a file that carries one of our format marks
  (``owned_file``), or a directory that ``owned_dir`` accepts (a build: our manifest, every listed file
  unchanged, every other entry ours).  Anything else is refused, naming what is in the way.
* A temporary sibling is named ``.NAME.neurocompile-tmp-PID-XXXX``.  A later run removes the ones whose
  writer (PID) is gone -- the only files neurocompile ever deletes besides its own replaced outputs.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import stat
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .errors import UserError

TMP_TAG = "neurocompile-tmp"
REPORT_FORMAT = "neurocompile.report/1"  # carried by every report we write (JSON key, Markdown/TeX comment)
REPORT_MARK = "neurocompile.report/"  # any version of it: an earlier report is ours to replace too
NPZ_MARK = "neurocompile_format"  # a member of every .npz we write
CSV_MARK = "node,layer,kind,placement,input,"  # the first columns of every report CSV we write
_PDF_MARK = b"/Creator (neurocompile"
_PNG_MARK = b"neurocompile"  # in the PNG 'Software' text chunk, before the image data
_HEAD = 4096

_umask = os.umask(0)
os.umask(_umask)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _kind(mode: int) -> str:
    return ("a folder" if stat.S_ISDIR(mode) else "a named pipe (FIFO)" if stat.S_ISFIFO(mode) else
            "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode) else
            "not a regular file")


def regular_file(path: Path, what: str) -> Path:
    """`path`, checked to be a regular file (after symbolic links) before a reader opens it: a folder, a FIFO, a device
    (``/dev/zero``) or a socket is one UserError, never a read that blocks or never ends."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise UserError(f"{path}: no such file (given as {what})") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read it ({exc.strerror}); {what} must be a readable file") from None
    if not stat.S_ISREG(mode):
        kind = _kind(mode)
        raise UserError(f"{path}: {kind}, not a file; {what} is a file" if stat.S_ISDIR(mode) else
                        f"{path}: {kind}, not a regular file; {what} must be a regular file (neurocompile reads no "
                        f"pipes or devices, whose reads may never end)")
    return path


def read_user_file(path: Path, what: str) -> bytes:
    """A file the user named, read whole; every way it can fail is one clear UserError naming it and `what`.  Only a
    regular file is read: it is opened without blocking (a FIFO swapped in after the check would block on open) and
    checked again on the open descriptor."""
    path = regular_file(path, what)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise UserError(f"{path}: cannot read it ({exc.strerror}); {what} must be a readable file") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise UserError(f"{path}: {_kind(mode)}, not a regular file; {what} must be a regular file")
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb") as fh:
            fd = -1
            return fh.read()
    except IsADirectoryError:
        raise UserError(f"{path}: a folder, not a file; {what} is a file") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read it ({exc.strerror}); {what} must be a readable file") from None
    finally:
        if fd >= 0:
            os.close(fd)


# --------------------------------------------------------------------------------------------------
# What is ours
# --------------------------------------------------------------------------------------------------


def owned_file(path: Path) -> bool:
    """Whether `path` is a regular file that a neurocompile writer made (it carries that writer's mark)."""
    path = Path(path)
    if path.is_symlink() or not path.is_file():
        return False
    try:
        with path.open("rb") as fh:
            head = fh.read(_HEAD)
        suffix = path.suffix.lower()
        if suffix == ".npz":
            with zipfile.ZipFile(path) as z:
                return f"{NPZ_MARK}.npy" in z.namelist()
        if suffix == ".png":
            return head.startswith(b"\x89PNG") and _PNG_MARK in head
        if suffix == ".pdf":
            return head.startswith(b"%PDF") and path.stat().st_size < 1 << 26 and _PDF_MARK in path.read_bytes()
        text = head.decode("utf-8", errors="replace")
        return REPORT_MARK in text[:400] or text.startswith(CSV_MARK)
    except (OSError, zipfile.BadZipFile):
        return False


def foreign_entries(folder: Path, known: set[str] = frozenset()) -> list[str]:
    """Entries of `folder` (recursively) that neurocompile did not write; `known` names files vouched for."""
    foreign = []
    for entry in sorted(Path(folder).iterdir()):
        if entry.name in known:
            continue
        if entry.is_dir() and not entry.is_symlink():
            inner = foreign_entries(entry)
            foreign += [f"{entry.name}/{x}" for x in inner]
        elif not owned_file(entry):
            foreign.append(entry.name + ("/" if entry.is_dir() else ""))
    return foreign


def listing(names: list[str], shown: int = 6) -> str:
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


# --------------------------------------------------------------------------------------------------
# Leftovers of killed runs
# --------------------------------------------------------------------------------------------------


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep(path: Path) -> list[Path]:
    """Remove temporaries that a killed neurocompile left beside `path`: ours by name, their writer gone."""
    path = Path(path)
    # exactly the names _prefix + tempfile's 8 random characters make (files: + the output's suffix; folders: none)
    pattern = re.compile(rf"^\.{re.escape(path.name)}\.{TMP_TAG}-(\d+)-[a-z0-9_]{{8}}(?:{re.escape(path.suffix)})?$")
    removed = []
    try:
        entries = list(path.parent.iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = pattern.match(entry.name)
        if match is None or _alive(int(match.group(1))):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed


def _prefix(path: Path) -> str:
    return f".{path.name}.{TMP_TAG}-{os.getpid()}-"


# --------------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------------


def check_parent(path: Path, option: str) -> None:
    """Refuse early, creating nothing, an output whose folder cannot be made or written."""
    parent = Path(path).parent
    existing = next((p for p in (parent, *parent.parents) if p.exists() or p.is_symlink()), Path("."))
    if not existing.is_dir():
        raise UserError(f"{path}: {existing} is a file, not a folder; give {option} a path inside a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"{path}: the folder {existing} is not writable; give {option} another path")


def prepare_parent(path: Path, option: str) -> None:
    """Make the folder `path` goes into (with missing parents), or say clearly why that cannot be."""
    parent = Path(path).parent
    check_parent(path, option)
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{path}: cannot create the folder {parent} ({exc.strerror}); give {option} another path") from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"{path}: the folder {parent} is not writable; give {option} another path")


def check_file_target(path: Path, option: str) -> None:
    """An output file may replace only a file neurocompile wrote."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        raise UserError(f"{path}: is a folder; {option} takes a file name")
    if (path.exists() or path.is_symlink()) and not owned_file(path):
        raise UserError(f"{path}: exists and was not written by neurocompile; it is left as it is -- "
                        f"give {option} another name, or move the file away")


@contextmanager
def _no_interrupt() -> Iterator[None]:
    """Hold SIGINT for the few system calls that must happen together (a rename pair)."""
    blocked = hasattr(signal, "pthread_sigmask")
    if blocked:
        old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        if blocked:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)


def write_file(path: Path, write: Callable[[Path], None], option: str = "the output") -> Path:
    """Write a file atomically through `write(tmp_path)`, replacing only a file that neurocompile wrote."""
    path = Path(path)
    prepare_parent(path, option)
    sweep(path)
    check_file_target(path, option)
    try:
        fd, tmp = tempfile.mkstemp(prefix=_prefix(path), suffix=path.suffix, dir=path.parent)
    except OSError as exc:
        raise UserError(f"{path}: cannot write in {path.parent} ({exc.strerror}); give {option} another path") from None
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text(path: Path, text: str, option: str = "the output") -> Path:
    return write_file(path, lambda tmp: tmp.write_text(text, encoding="utf-8"), option)


def replace_dir(out: Path, fill: Callable[[Path], None], check: Callable[[Path], None], option: str = "-o") -> None:
    """Write a directory atomically: `fill(tmp)` makes it in a temporary sibling, which then takes `out`'s place.

    `check(out)` raises a UserError unless an existing `out` may be replaced (it is called here, before
    anything is written, and again just before the swap).
    """
    out = Path(out)
    prepare_parent(out, option)
    sweep(out)
    check(out)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=_prefix(out), dir=out.parent))
    except OSError as exc:
        raise UserError(f"{out}: cannot write in {out.parent} ({exc.strerror}); give {option} another path") from None
    try:
        fill(tmp)
        os.chmod(tmp, 0o777 & ~_umask)
        check(out)
        with _no_interrupt():
            if out.exists():
                old = Path(tempfile.mkdtemp(prefix=_prefix(out), dir=out.parent))
                os.replace(out, old / out.name)
                os.replace(tmp, out)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


class NpzStream:
    """An ``.npz`` written as it is made, for per-step records of long runs: rows of each array are appended to
    raw temporaries (beside the output, swept if the writer is killed) and packed into the archive at ``close``,
    so memory stays flat in the number of steps.  The archive carries ``NPZ_MARK``."""

    def __init__(self, path: Path, arrays: dict[str, tuple[tuple[int, ...], str]], mark: str, option: str):
        """`arrays`: name -> (shape of one row, dtype)."""
        self.path, self.mark, self.option = Path(path), mark, option
        self.arrays = {name: (tuple(shape), np.dtype(dtype)) for name, (shape, dtype) in arrays.items()}
        prepare_parent(self.path, option)
        sweep(self.path)
        check_file_target(self.path, option)
        self.dir = Path(tempfile.mkdtemp(prefix=_prefix(self.path), dir=self.path.parent))
        self.handles = {name: (self.dir / f"{i}.raw").open("wb") for i, name in enumerate(self.arrays)}
        self.rows = 0

    def append(self, rows: dict[str, np.ndarray]) -> None:
        for name, handle in self.handles.items():
            shape, dtype = self.arrays[name]
            handle.write(np.asarray(rows[name], dtype).reshape(shape).tobytes())
        self.rows += 1

    def close(self, extra: dict[str, np.ndarray]) -> Path:
        for handle in self.handles.values():
            handle.close()

        def pack(tmp: Path) -> None:
            with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as z:
                for i, (name, (shape, dtype)) in enumerate(self.arrays.items()):
                    with z.open(f"{name}.npy", "w", force_zip64=True) as member:
                        header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False,
                                  "shape": (self.rows, *shape)}
                        np.lib.format.write_array_header_1_0(member, header)
                        with (self.dir / f"{i}.raw").open("rb") as raw:
                            shutil.copyfileobj(raw, member, 1 << 20)
                for name, value in {NPZ_MARK: np.array(self.mark), **extra}.items():
                    with z.open(f"{name}.npy", "w", force_zip64=True) as member:
                        np.lib.format.write_array(member, np.asarray(value), allow_pickle=False)

        try:
            return write_file(self.path, pack, self.option)
        finally:
            self.discard()

    def discard(self) -> None:
        for handle in self.handles.values():
            handle.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def write_figure(fig, stem: Path, mark: str, option: str) -> list[Path]:
    """A matplotlib figure as PNG and PDF, each written atomically and marked as ours with `mark` (so a later run may
    replace it, and only it)."""
    marks = {".png": {"Software": mark}, ".pdf": {"Creator": mark, "CreationDate": None}}
    paths = [Path(stem).with_suffix(".png"), Path(stem).with_suffix(".pdf")]
    for p in paths:
        write_file(p, lambda tmp, p=p: fig.savefig(tmp, format=p.suffix[1:], dpi=150, metadata=marks[p.suffix]), option)
    return paths
