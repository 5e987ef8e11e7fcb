"""Build directories: what ``export`` writes and ``simulate`` / ``evaluate`` read.

A build directory is complete and reproducible: the traced float graph (``graph.nir``, loadable by plain
``nir.read``), the integer program (``program.h5``), the tokenizer, and ``manifest.json`` (versions, input
hash, options, calibration, the hash of every file).  It holds no timestamps or absolute paths, so identical
inputs give byte-identical directories.  It is written to a temporary sibling and renamed into place, so a
failed export leaves nothing half-written.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import h5py
import nir
import numpy as np
import torch

from . import __version__
from .errors import UserError
from .graph import Graph, read_nir, write_nir
from .quantize import Program, load_program, save_program
from .tokenizers import ByteTokenizer, CharTokenizer, HFTokenizer, Tokenizer, load_tokenizer

BUILD_FORMAT = "neurocompile.build/1"
MANIFEST = "manifest.json"
GRAPH_FILE = "graph.nir"
PROGRAM_FILE = "program.h5"
TOKENIZER_FILE = "tokenizer.json"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def versions() -> dict[str, str]:
    return {"neurocompile": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "numpy": np.__version__, "nir": getattr(nir, "version", "?"), "h5py": h5py.__version__}


@dataclass(frozen=True)
class Build:
    path: Path
    manifest: dict
    graph: Graph
    program: Program
    tokenizer: Tokenizer


def check_output(out: Path) -> None:
    """An export may replace an earlier build, never anything else."""
    if out.exists() and not (out / MANIFEST).is_file():
        raise UserError(f"{out}: exists and is not a neurocompile build directory; choose another -o or remove it")


def write_build(out: Path, graph: Graph, program: Program, tokenizer: Tokenizer, manifest: dict,
                extra_files: dict[str, Callable[[Path], None]] | None = None) -> None:
    """`extra_files`: target-specific files, name -> a function that writes it at the given path."""
    out = Path(out)
    check_output(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        write_nir(graph, tmp / GRAPH_FILE)
        save_program(program, tmp / PROGRAM_FILE)
        tokenizer_entry = _save_tokenizer(tokenizer, tmp)
        for name, write in (extra_files or {}).items():
            write(tmp / name)
        files = {name: _sha256(tmp / name) for name in sorted(os.listdir(tmp))}
        full = {"format": BUILD_FORMAT, **manifest, "tokenizer": tokenizer_entry, "versions": versions(), "files": files}
        (tmp / MANIFEST).write_text(json.dumps(full, indent=2, sort_keys=True) + "\n")
        os.chmod(tmp, 0o755)
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
            os.replace(out, old / "build")
            os.replace(tmp, out)
            shutil.rmtree(old)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _save_tokenizer(tokenizer: Tokenizer, directory: Path) -> dict:
    if isinstance(tokenizer, CharTokenizer):
        tokenizer.save(directory / TOKENIZER_FILE)
        return {"kind": "chars", "file": TOKENIZER_FILE, "vocab_size": tokenizer.vocab_size}
    if isinstance(tokenizer, HFTokenizer):
        tokenizer.save(directory / TOKENIZER_FILE)
        return {"kind": "huggingface", "file": TOKENIZER_FILE, "vocab_size": tokenizer.vocab_size}
    return {"kind": "bytes", "vocab_size": 256}


def read_build(path: Path, target: str | None = None) -> Build:
    path = Path(path)
    if not (path / MANIFEST).is_file():
        raise UserError(f"{path}: not a build directory (no {MANIFEST}); make one with `neurocompile export`")
    try:
        manifest = json.loads((path / MANIFEST).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path / MANIFEST}: unreadable ({exc}); export again") from None
    if manifest.get("format") != BUILD_FORMAT:
        raise UserError(f"{path}: build format {manifest.get('format')!r}, this neurocompile reads {BUILD_FORMAT!r}; export again")
    made_by = manifest.get("versions", {}).get("neurocompile")
    if made_by != __version__:
        raise UserError(f"{path}: made by neurocompile {made_by}, this is {__version__}; export again with this version")
    if target is not None and manifest.get("target") != target:
        raise UserError(f"{path}: built for target {manifest.get('target')!r}, not {target!r}; export with --target {target}")
    for name, digest in manifest.get("files", {}).items():
        file = path / name
        if not file.is_file():
            raise UserError(f"{path}: {name} is missing; the build is incomplete, export again")
        if _sha256(file) != digest:
            raise UserError(f"{path}: {name} does not match its hash in {MANIFEST} (changed or damaged); export again")
    entry = manifest["tokenizer"]
    tokenizer = ByteTokenizer() if entry["kind"] == "bytes" else load_tokenizer(path / entry["file"])
    return Build(path, manifest, read_nir(path / GRAPH_FILE), load_program(path / PROGRAM_FILE), tokenizer)

