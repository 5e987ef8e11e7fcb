"""Reading a checkpoint file, safely: what every checkpoint frontend starts from.

The file is identified first (torch's zip format, its legacy pickle, or neither), then read with
``torch.load(..., weights_only=True)``: a file that needs anything beyond tensors and plain containers is
refused, never executed.  No tensor shape is trusted before it is checked against the bytes the file stores.
"""
from __future__ import annotations

from collections.abc import Iterable

import hashlib
import pickle
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch

from .errors import UserError
from .files import regular_file

_SHOWN = 8  # how many offending keys an error lists


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    sha256: str
    state: dict[str, torch.Tensor]
    stored_dtypes: tuple[str, ...]

    def release(self) -> int:
        """Drop the pages of the checkpoint file this process holds resident (its tensors are mapped from the file,
        ``torch.load(mmap=True)``): touched again, they are read back from the page cache.  Nothing writes a
        checkpoint's tensors, so only the resident set changes; an export calls this between stages so that the
        float weights are not all resident at once.  Bytes released (0 where nothing is mapped)."""
        return release_mapped(self.path)

    def non_finite(self, keys: Iterable[str] | None = None) -> list[str]:
        """The tensors (of `keys`; default all) holding NaN or Inf, sorted; each one's pages released once read, so
        that checking every weight does not hold them all resident."""
        bad = []
        for key in self.state if keys is None else keys:
            if not bool(torch.isfinite(self.state[key]).all()):
                bad.append(key)
            self.release()
        return sorted(bad)


MADV_DONTNEED = 4  # Linux


def release_mapped(path: Path) -> int:
    """madvise(MADV_DONTNEED) on every private, read-only-in-practice mapping of `path` in this process (Linux; 0
    elsewhere).  Only file-backed mappings of that file are touched, never anonymous memory."""
    import ctypes
    import os

    try:
        target = os.stat(path)
        maps = Path("/proc/self/maps").read_text()
        madvise = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError):
        return 0
    released = 0
    for line in maps.splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) < 6 or not fields[1].endswith("p"):
            continue
        major, minor = (int(v, 16) for v in fields[3].split(":"))
        if int(fields[4]) != target.st_ino or os.makedev(major, minor) != target.st_dev:
            continue
        start, end = (int(v, 16) for v in fields[0].split("-"))
        if madvise(ctypes.c_void_p(start), ctypes.c_size_t(end - start), MADV_DONTNEED) == 0:
            released += end - start
    return released


def listing(keys: list[str]) -> str:
    more = f" … and {len(keys) - _SHOWN} more" if len(keys) > _SHOWN else ""
    return ", ".join(keys[:_SHOWN]) + more


def _sniff(path: Path, head: bytes) -> None:
    """Say what a file is when it cannot be a PyTorch checkpoint (before any unpickling)."""
    if head.startswith(b"PK\x03\x04"):
        if not zipfile.is_zipfile(path):
            raise UserError(f"{path}: a zip archive cut short or damaged (truncated download?); not a readable checkpoint")
        try:
            with zipfile.ZipFile(path) as z:
                names = z.namelist()
        except (zipfile.BadZipFile, OSError) as exc:
            raise UserError(f"{path}: a damaged zip archive ({exc}); not a readable checkpoint") from None
        if not any(n.endswith("data.pkl") for n in names):
            raise UserError(f"{path}: a zip archive, but not a PyTorch checkpoint (no data.pkl inside; it holds "
                            f"{listing(names)})")
        return
    if not head:
        raise UserError(f"{path}: the file is empty; not a PyTorch checkpoint")
    if head[:1] != b"\x80":  # torch.save's legacy format is a pickle, protocol 2 or later
        kind = "text" if all(32 <= c < 127 or c in b"\t\r\n" for c in head[:256]) else "binary data"
        raise UserError(f"{path}: not a PyTorch checkpoint: {kind} that is neither a zip archive (torch.save's format) "
                        f"nor a pickle (its legacy format); first bytes {head[:8]!r}")


def read_checkpoint(path: str | Path) -> Checkpoint:
    path = regular_file(Path(path), "the checkpoint (e.g. model.pt)")
    digest = hashlib.sha256()
    try:
        with path.open("rb") as fh:
            head = fh.read(1 << 12)
            digest.update(head)
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise UserError(f"{path}: cannot read it ({exc.strerror})") from None
    _sniff(path, head)
    try:
        with warnings.catch_warnings():  # torch warns about the format before refusing it: the user sees our message only
            warnings.simplefilter("ignore")
            obj = torch.load(path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))
    except pickle.UnpicklingError as exc:
        if "Weights only load failed" in str(exc) and ("Unsupported global" in str(exc) or "GLOBAL" in str(exc)):
            raise UserError(
                f"{path}: refused — the file holds Python objects beyond tensors, which loading would execute "
                f"(torch.load weights_only=True). Save a plain state_dict instead: "
                f"torch.save(model.state_dict(), path)."
            ) from None
        raise UserError(f"{path}: not a readable PyTorch checkpoint (truncated or corrupt?): {_first_line(exc)}") from None
    except Exception as exc:  # garbage makes the unpickler fail in many ways; all mean "not a checkpoint"
        raise UserError(f"{path}: not a readable PyTorch checkpoint (truncated or corrupt?): {_first_line(exc)}") from None
    state = _unwrap(obj, path)
    _check_sizes(state, path)
    return Checkpoint(path, digest.hexdigest(), state, tuple(sorted({str(t.dtype) for t in state.values()})))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def _check_sizes(state: dict[str, torch.Tensor], path: Path) -> None:
    """Every tensor must be stored whole in the file: a shape that claims more than the file holds (a broadcast
    view, a forged header) is refused here, before anything allocates memory for it."""
    size = path.stat().st_size
    storages: dict[int, int] = {}  # tied weights share one storage: count it once
    for key, t in state.items():
        need = t.numel() * t.element_size()
        if not t.is_contiguous() or t.untyped_storage().nbytes() < need + t.storage_offset() * t.element_size():
            raise UserError(f"{path}: tensor {key} declares shape {tuple(t.shape)} but its stored data holds fewer values "
                            f"(a view or a damaged file); save the model with torch.save(model.state_dict(), path)")
        storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
    total = sum(storages.values())
    if total > size * 1.01 + 4096:
        raise UserError(f"{path}: its tensors declare {total:,} bytes but the file has {size:,}; the file is damaged")


def _unwrap(obj: object, path: Path) -> dict[str, torch.Tensor]:
    """A plain state_dict, or one under 'state_dict' / 'model' (common training wrappers)."""
    if isinstance(obj, dict):
        for wrapper in ("state_dict", "model"):
            if isinstance(obj.get(wrapper), dict):
                obj = obj[wrapper]
                break
    if not isinstance(obj, dict):
        raise UserError(f"{path}: expected a state_dict (a dict of parameter name -> tensor), got {type(obj).__name__}")
    if not obj:
        raise UserError(f"{path}: the state_dict is empty (no tensors at all); save the trained model's "
                        f"model.state_dict()")
    not_tensors = [str(k) for k, v in obj.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if not_tensors:
        raise UserError(f"{path}: entries that are not named tensors: {listing(not_tensors)}")
    if all(k.startswith("module.") for k in obj):  # saved from DataParallel / DeepSpeed
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return obj
