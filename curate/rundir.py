"""The run directory: the one place that knows its layout, and reads it for others.

::

    runs/<recipe>/
      .curate-run              marker: this folder is a curate run directory (JSON: created, recipe)
      .curate-lock             present while a run writes here: pid, host, start time (``curate status``)
      run.json                 manifest: recipe, versions, the stage graph, stats, complete flag
      requests.sqlite          the request cache (every completed engine request)
      cache/                   stage caches that outlive a stage (embeddings, k-means)
      report.html              the run report, when one was written
      stages/NN-<id>/
        meta.json              fingerprint, component, params, inputs, stats
        output.parquet         rows that flow on (absent for a writer that passes its input on)
        removed.parquet        rows the stage removed, with `reason`
      <writer outputs>         paths given to writers resolve here

Everything that reads a run (the dataset card, the test kit's ``run_stage``, reports, plugins on
the observer hooks) goes through :class:`RunDir` instead of globbing paths.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from curate.errors import UserInputError
from curate.files import read_json, write_json

MARKER = ".curate-run"
LOCK = ".curate-lock"


@dataclass(frozen=True)
class StageRecord:
    """What the run directory holds about one stage."""

    id: str
    dir: Path
    meta: dict[str, Any]

    @property
    def stats(self) -> dict[str, Any]:
        return self.meta.get("stats") or {}

    @property
    def use(self) -> str:
        return self.meta.get("component", "")

    @property
    def inputs(self) -> list[str]:
        return list(self.meta.get("inputs") or [])


class RunDir:
    """A run directory at ``path`` (it need not exist yet)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    def __fspath__(self) -> str:
        return str(self.path)

    # --- layout ---------------------------------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        return self.path / "run.json"

    @property
    def requests_path(self) -> Path:
        return self.path / "requests.sqlite"

    @property
    def cache_dir(self) -> Path:
        return self.path / "cache"

    @property
    def report_path(self) -> Path:
        return self.path / "report.html"

    @property
    def engines_dir(self) -> Path:
        return self.path / "engines"

    def engine_dir(self, engine_name: str) -> Path:
        """Where the recipe engine ``engine_name`` keeps state that must survive the process
        (e.g. submitted batch jobs), and its ``status.json`` for ``curate status``."""
        return self.engines_dir / engine_name.replace("/", "_")

    @property
    def lock_path(self) -> Path:
        return self.path / LOCK

    @property
    def stages_dir(self) -> Path:
        return self.path / "stages"

    def stage_dir(self, index: int, stage_id: str) -> Path:
        return self.stages_dir / f"{index:02d}-{stage_id}".replace("/", "_")

    @staticmethod
    def output_file(stage_dir: Path) -> Path:
        return stage_dir / "output.parquet"

    @staticmethod
    def removed_file(stage_dir: Path) -> Path:
        return stage_dir / "removed.parquet"

    @staticmethod
    def meta_file(stage_dir: Path) -> Path:
        return stage_dir / "meta.json"

    # --- marking and removing -------------------------------------------------------------------
    def is_run_dir(self) -> bool:
        return (self.path / MARKER).is_file()

    def check_readable(self) -> None:
        """Raise a :class:`UserInputError` unless this is a run directory that can be read (for
        commands that inspect runs: ``curate show``, ``curate status``)."""
        hint = "point at a run directory: runs/<recipe name>, or the --run-dir of `curate run`"
        if not self.path.exists():
            raise UserInputError(f"{self.path}: no such directory", hint=hint)
        if not self.path.is_dir():
            raise UserInputError(f"{self.path} is a file, not a run directory", hint=hint)
        if not self.is_run_dir() and not self.manifest_path.is_file():
            raise UserInputError(f"{self.path} is not a curate run directory (no {MARKER} marker, no run.json)",
                                 hint=hint)

    # --- the liveness lock: who is writing here -------------------------------------------------
    def write_lock(self) -> None:
        """Record that this process is running a recipe here (pid, host, start time). Removed by
        :meth:`release_lock` at the end; a lock whose process is gone means the run crashed."""
        write_json({"pid": os.getpid(), "host": socket.gethostname(),
                    "started": dt.datetime.now(dt.timezone.utc).isoformat()}, self.lock_path)

    def release_lock(self) -> None:
        """Remove the lock if this process wrote it (a later run in the same folder owns its own)."""
        lock = self.lock()
        if lock is not None and lock.get("pid") == os.getpid() and lock.get("host") == socket.gethostname():
            self.lock_path.unlink(missing_ok=True)

    def lock(self) -> dict[str, Any] | None:
        """The lock's content (``pid``, ``host``, ``started``), or ``None`` when no run holds it."""
        lock = read_json(self.lock_path)
        return lock if isinstance(lock, dict) else None

    def create(self, recipe_name: str) -> None:
        """Create the folder (if needed) and mark it as a run directory. A folder that already
        holds other files is used but not marked, so ``--fresh`` will never delete it."""
        if self.path.exists() and not self.path.is_dir():
            raise UserInputError(f"run directory {self.path} is a file", hint="choose another --run-dir")
        fresh = not self.path.exists() or not any(self.path.iterdir())
        self.path.mkdir(parents=True, exist_ok=True)
        if not self.is_run_dir() and (fresh or _looks_like_old_run(self.path)):
            write_json({"recipe": recipe_name, "created": dt.datetime.now(dt.timezone.utc).isoformat()},
                       self.path / MARKER)

    def check_removable(self, protect: list[Path] = ()) -> None:
        """Raise unless :meth:`remove` may delete this folder: it must be a marked run directory,
        and neither the current folder nor a folder holding any of ``protect`` (the recipe and
        its data)."""
        if not self.path.exists():
            return
        target = self.path.resolve()
        cwd = Path.cwd().resolve()
        if target == cwd or target in cwd.parents:
            raise UserInputError(f"refusing to delete {self.path}: it is the current folder or one above it",
                                 hint="--fresh deletes the run directory; point --run-dir at a run's own folder")
        for path in protect:
            path = Path(path).resolve()
            if path == target or target in path.parents:
                raise UserInputError(f"refusing to delete {self.path}: it holds {path}",
                                     hint="--fresh deletes the run directory; keep recipes and data outside it")
        if not self.is_run_dir() and not _looks_like_old_run(self.path):
            raise UserInputError(f"refusing to delete {self.path}: it is not a curate run directory "
                                 f"(no {MARKER} marker)",
                                 hint="delete it yourself if you mean it, or choose another --run-dir")

    def remove(self, protect: list[Path] = ()) -> list[str]:
        """Delete the run directory (for ``--fresh``) after :meth:`check_removable`; returns what
        was removed (top-level names), for the caller to report."""
        self.check_removable(protect)
        if not self.path.exists():
            return []
        removed = sorted(p.name for p in self.path.iterdir() if p.name != MARKER)
        shutil.rmtree(self.path)
        return removed

    # --- reading --------------------------------------------------------------------------------
    def manifest(self) -> dict[str, Any] | None:
        """``run.json`` (written when a run starts and again when it ends), or ``None``."""
        return read_json(self.manifest_path)

    def write_manifest(self, data: dict[str, Any]) -> None:
        write_json(data, self.manifest_path)

    def stages(self) -> list[StageRecord]:
        """Every stage with a checkpoint, in recipe order (current run's stages first when a
        manifest lists them)."""
        records = []
        for meta_path in sorted(self.stages_dir.glob("*/meta.json")):
            meta = read_json(meta_path)
            if meta:
                records.append(StageRecord(meta.get("id") or meta_path.parent.name.split("-", 1)[1],
                                           meta_path.parent, meta))
        manifest = self.manifest()
        if manifest and manifest.get("stages"):
            order = {s["id"]: i for i, s in enumerate(manifest["stages"])}
            records = [r for r in records if r.id in order and
                       _same_dir(r.dir, self.path / manifest["stages"][order[r.id]]["dir"])]
            records.sort(key=lambda r: order[r.id])
        return records

    def stage(self, stage_id: str) -> StageRecord:
        for record in self.stages():
            if record.id == stage_id:
                return record
        known = ", ".join(r.id for r in self.stages()) or "none"
        raise KeyError(f"no checkpointed stage {stage_id!r} in {self.path} (stages: {known})")

    def output(self, stage_id: str) -> pl.DataFrame:
        """The rows a stage passed on (a writer's: the rows it received)."""
        return self.scan_output(stage_id).collect()

    def scan_output(self, stage_id: str) -> pl.LazyFrame:
        record = self.stage(stage_id)
        data_from = record.meta.get("data_from")
        if data_from and data_from != stage_id:
            return self.scan_output(data_from)
        return pl.scan_parquet(parquet_source(self.output_file(record.dir)))

    def removed(self, stage_id: str) -> pl.DataFrame | None:
        """The rows a stage removed, with ``reason``; ``None`` when it removed none."""
        path = self.removed_file(self.stage(stage_id).dir)
        return pl.read_parquet(parquet_source(path)) if path.exists() else None

    def scan_removed(self, stage_id: str) -> pl.LazyFrame | None:
        """The rows a stage removed, lazily (read only what is asked); ``None`` when it removed none."""
        path = self.removed_file(self.stage(stage_id).dir)
        return pl.scan_parquet(parquet_source(path)) if path.exists() else None

    def removal_reasons(self, stage_id: str, top: int = 3) -> list[tuple[str, int]]:
        """The most common removal reasons of a stage, most frequent first."""
        removed = self.removed(stage_id)
        if removed is None or "reason" not in removed.columns:
            return []
        counts = removed.group_by("reason").len().sort(["len", "reason"], descending=[True, False]).head(top)
        return [(str(r), int(n)) for r, n in counts.iter_rows()]


def parquet_source(path: Path) -> str | Path:
    """What polars reads for a checkpoint: the file, or the parts of a folder of that name
    (a distributed executor writes ``output.parquet/`` as one part per worker task)."""
    return f"{path}/*.parquet" if path.is_dir() else path


def _same_dir(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def _looks_like_old_run(path: Path) -> bool:
    """A run directory written before the marker existed: ``run.json`` plus ``stages/``, nothing foreign."""
    return (path / "run.json").is_file() and (path / "stages").is_dir()


__all__ = ["RunDir", "StageRecord", "MARKER"]
