"""Build directories: what ``export`` writes and ``simulate`` / ``evaluate`` read.

A build directory is complete and reproducible: the traced float graph (``graph.nir``, loadable by plain
``nir.read``), the integer program (``program.h5``), the tokenizer, and ``manifest.json`` (versions, input
hash, options, calibration, the hash of every file).  It holds no timestamps or absolute paths, so identical
inputs give byte-identical directories.  It is written to a temporary sibling and renamed into place, so a
failed export leaves nothing half-written.
"""
from __future__ import annotations

import json
import os
import platform
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from functools import cached_property
from pathlib import Path

import h5py
import nir
import numpy as np
import torch

from . import __version__, files
from .errors import UserError
from .graph import Graph, read_nir, write_nir
from .quantize import Program, load_program, save_program
from .runs import RUN_FILE, Run, load_run, save_run  # noqa: F401  (RUN_FILE: a build's run file)
from .target import get_target
from .task import get_task

BUILD_FORMAT = "neurocompile.build/2"
MANIFEST = "manifest.json"
GRAPH_FILE = "graph.nir"
PROGRAM_FILE = "program.h5"
PARTITION_FILE = "partition.json"  # partitioned targets (loihi2)


def versions() -> dict[str, str]:
    return {"neurocompile": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "numpy": np.__version__, "nir": getattr(nir, "version", "?"), "h5py": h5py.__version__}


@dataclass(frozen=True)
class Build:
    """A build directory, read and checked (``read_build``): a record -- what the verbs run on is the task's
    (``neurocompile.task``), what a run costs the report's."""

    path: Path
    manifest: dict
    program: Program
    tokenizer: Any  # what the task keeps beside the program (the language task's tokenizer); None for others
    loaded_graph: Graph | None = field(default=None, repr=False)  # given when the graph is at hand already

    @cached_property
    def task(self):
        return get_task(self.manifest["task"])

    @cached_property
    def graph(self) -> Graph:
        """The traced float graph, read (and checked against the program) on first use."""
        return self.loaded_graph or _read_graph(self.path / GRAPH_FILE, self.program, self.target)

    @cached_property
    def lowered(self) -> Graph:
        """The float graph lowered as the program was (its token-shift mode): node for node the program's."""
        from .lower import lower_like

        return lower_like(self.graph, self.program)

    @cached_property
    def target(self):
        return get_target(self.manifest["target"])

    @cached_property
    def partition(self):
        """The target's Placement of a partitioned build (``partition.json``), checked; None for other builds."""
        if PARTITION_FILE not in self.manifest.get("files", {}) or self.target.read_placement is None:
            return None
        return self.target.read_placement(self.path / PARTITION_FILE, self.program)

    @property
    def program_sha256(self) -> str:
        return str(self.manifest["files"][PROGRAM_FILE])

    def run(self) -> Run:
        """The last simulation's counters stored in the build (``run.npz``), checked to be this build's."""
        return load_run(self.path, self.program, self.program_sha256,
                        None if self.tokenizer is None else self.tokenizer.vocab_size)

    def save_run(self, sim, tokens_head: list[int], seed: int, complete: bool = True, generated: int = 0) -> Path:
        return save_run(self.path, self.program, self.program_sha256, sim, tokens_head, seed, complete, generated)


def _manifest_or_none(out: Path) -> dict | None:
    try:
        manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return manifest if isinstance(manifest, dict) and manifest.get("format") == BUILD_FORMAT else None


def check_replaceable(out: Path) -> None:
    """An export may replace an earlier build, provably ours, and nothing else.

    Ours: a ``manifest.json`` with our format mark, every file it lists present and unchanged (hash), and every
    other entry a file neurocompile writes into builds (a run, a report, plots -- each carries our mark).
    """
    out = Path(out)
    if not out.exists() and not out.is_symlink():
        return
    if out.is_symlink() or not out.is_dir():
        raise UserError(f"{out}: exists and is not a build directory; it is left as it is -- choose another -o")
    manifest = _manifest_or_none(out)
    if manifest is None:
        entries = sorted(p.name for p in out.iterdir())
        if not entries:
            return  # an empty folder: nothing to lose
        raise UserError(f"{out}: not replaced: no manifest.json written by neurocompile, and it holds "
                        f"{files.listing(entries)}; choose another -o, or empty the folder")
    listed = manifest.get("files") if isinstance(manifest.get("files"), dict) else {}
    changed = sorted(name for name, digest in listed.items()
                     if not isinstance(name, str) or "/" in name or not (out / name).is_file()
                     or (out / name).is_symlink() or files.sha256(out / name) != digest)
    foreign = files.foreign_entries(out, {MANIFEST, *listed})
    if changed or foreign:
        parts = ([f"files changed since export: {files.listing(changed)}"] if changed else []) + \
                ([f"files neurocompile did not write: {files.listing(foreign)}"] if foreign else [])
        raise UserError(f"{out}: not replaced: {'; '.join(parts)}; nothing was changed -- choose another -o, "
                        f"or move those files out")


def write_build(out: Path, graph: Graph, program: Program, tokenizer: Any, manifest: dict,
                extra_files: dict[str, Callable[[Path], None]] | None = None,
                after_each: Callable[[], object] = lambda: None) -> None:
    """`extra_files`: target-specific files, name -> a function that writes it at the given path; `after_each`: run
    after each float array of the graph is written (``write_nir``)."""

    def fill(tmp: Path) -> None:
        write_nir(graph, tmp / GRAPH_FILE, after_each)
        save_program(program, tmp / PROGRAM_FILE)
        tokenizer_entry = {} if tokenizer is None else {"tokenizer": _save_tokenizer(tokenizer, tmp)}
        for name, write in (extra_files or {}).items():
            write(tmp / name)
        listed = {name: files.sha256(tmp / name) for name in sorted(os.listdir(tmp))}
        full = {"format": BUILD_FORMAT, **manifest, **tokenizer_entry, "versions": versions(), "files": listed}
        (tmp / MANIFEST).write_text(json.dumps(full, indent=2, sort_keys=True) + "\n")

    files.replace_dir(Path(out), fill, check_replaceable)


def _save_tokenizer(tokenizer, directory: Path) -> dict:
    return tokenizer.save_into(directory)


def read_build(path: Path, target: str | None = None) -> Build:
    """Read and check a build: manifest, format, version, every file's hash, then each file's content."""
    path = Path(path)
    again = "export it again"
    if not path.is_dir():
        raise UserError(f"{path}: {'no such folder' if not path.exists() else 'not a folder'}; give the build directory "
                        f"made by `neurocompile export`")
    if not (path / MANIFEST).is_file():
        raise UserError(f"{path}: not a build directory (no {MANIFEST}); make one with `neurocompile export`")
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except OSError as exc:
        raise UserError(f"{path / MANIFEST}: cannot read it ({exc.strerror})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path / MANIFEST}: unreadable ({exc}); {again}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != BUILD_FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise UserError(f"{path / MANIFEST}: build format {found!r}, this neurocompile reads {BUILD_FORMAT!r}; {again}")
    made_by = (manifest.get("versions") or {}).get("neurocompile") if isinstance(manifest.get("versions"), dict) else None
    if made_by != __version__:
        raise UserError(f"{path}: made by neurocompile {made_by}, this is {__version__}; {again} with this version")
    listed = manifest.get("files")
    if not isinstance(listed, dict) or not {GRAPH_FILE, PROGRAM_FILE} <= set(listed):
        raise UserError(f"{path / MANIFEST}: its file list is damaged (it must name {GRAPH_FILE} and {PROGRAM_FILE}); {again}")
    try:
        built_for = get_target(str(manifest.get("target")))
    except UserError:
        raise UserError(f"{path / MANIFEST}: unknown target {manifest.get('target')!r}; {again}") from None
    for name in built_for.build_files:
        if name not in listed:
            raise UserError(f"{path}: the manifest says target {built_for.name}, but {name} (which every {built_for.name} "
                            f"build has) is not in it; the manifest was edited or the build is damaged -- {again}")
    if target is not None and built_for.name != target:
        raise UserError(f"{path}: built for target {built_for.name!r}, not {target!r}; export with --target {target}")
    for name, digest in listed.items():
        file = path / name
        if not isinstance(name, str) or "/" in name or not file.is_file():
            raise UserError(f"{path}: {name} is missing; the build is incomplete, {again}")
        if files.sha256(file) != digest:
            raise UserError(f"{path}: {name} does not match its hash in {MANIFEST} (changed or damaged); {again}")
    try:
        task = get_task(str(manifest.get("task")))
    except UserError:
        raise UserError(f"{path / MANIFEST}: unknown task {manifest.get('task')!r}; {again}") from None
    program = _read_program(path / PROGRAM_FILE, task)
    if program.spec.name != built_for.numeric.name:  # its arithmetic: how its ops are computed (ops.integer_form)
        raise UserError(f"{path}: {PROGRAM_FILE} is in the arithmetic {program.spec.name!r}, not {built_for.name}'s "
                        f"({built_for.numeric.name!r}); {again}")
    if program.metadata.get("target") != built_for.name:
        raise UserError(f"{path}: {PROGRAM_FILE} was quantized for target {program.metadata.get('target')!r} but the "
                        f"manifest says {built_for.name!r}; {again}")
    tokenizer = task.read_extra(path, manifest, program)
    return Build(path, manifest, program, tokenizer)


def _read_program(path: Path, task) -> Program:
    from .targets.cpu.simulator import check_program

    try:
        program = load_program(path)
    except UserError:
        raise
    except Exception as exc:  # h5py and a damaged file fail in many ways; each means "not a valid program"
        raise UserError(f"{path}: not a readable neurocompile program ({type(exc).__name__}: {exc}); export again") from None
    check_program(program, path, task.probe)
    return program


def _read_graph(path: Path, program: Program, target) -> Graph:
    """The float graph, checked to be the one the program was quantized from (the nodes the target makes of it, and
    their widths)."""
    from .lower import lower_like

    try:
        graph = read_nir(path)
        lowered = lower_like(graph, program)
    except UserError:
        raise
    except Exception as exc:  # nir.read and our reader fail in many ways on a foreign or damaged file
        raise UserError(f"{path}: not a readable neurocompile graph ({type(exc).__name__}: {exc}); export again") from None
    mine = target.structure(lowered) if target.structure is not None else [(name, node.op.kind) for name, node
                                                                             in lowered.nodes.items()]
    theirs = [(name, node.kind) for name, node in program.nodes.items()]
    if mine != theirs:
        first = next((a, b) for a, b in zip(mine + [None] * len(theirs), theirs + [None] * len(mine)) if a != b)
        raise UserError(f"{path}: this graph is not the one {PROGRAM_FILE} was made from (first difference: graph "
                        f"{first[0]}, program {first[1]}); export again")
    for name, node in lowered.nodes.items():
        if node.inputs and name in program.nodes and node.op.size != program.width(name):
            raise UserError(f"{path}: node {name} is {node.op.size} wide in the graph and {program.width(name)} in "
                            f"{PROGRAM_FILE}; export again")
    return graph
