"""Writers for JSONL, Parquet and HF ``datasets`` (``save_to_disk`` with a dataset card)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import polars as pl
from pydantic import Field

from curate.component import Params, StageContext, Writer
from curate.errors import DataError
from curate.formats import Format, to_format
from curate.rundir import RunDir, StageRecord
from curate.files import atomic_write


class WriterParams(Params):
    path: str = Field(description="Output path, relative to the run directory.")
    format: Format = Field("raw", description="`sft` (messages), `preference` (prompt/chosen/rejected) or "
                                              "`raw` (working columns as they are). See docs/formats.md.")


class FileWriter(Writer):
    Params = WriterParams

    def output_paths(self, ctx: StageContext) -> list[Path]:
        return [ctx.output_path(self.params.path)]

    def input_columns(self) -> list[str | tuple[str, ...]]:
        if self.params.format == "sft":
            return [("response", "messages")]
        if self.params.format == "preference":
            return [("prompt", "messages"), "chosen", "rejected"]
        return []

    def format(self, df: pl.DataFrame) -> pl.DataFrame:
        assert self.ctx is not None
        try:
            return to_format(df, self.params.format, self.ctx.recipe_name)
        except KeyError as exc:
            raise DataError(f"stage {self.ctx.stage_id!r}: {exc.args[0]}",
                            hint="produce those columns upstream or choose `format: raw`") from None


class JsonlWriter(FileWriter):
    """Write JSON Lines."""

    name = "write.jsonl"

    def write(self, rows: pl.DataFrame) -> None:
        atomic_write(self.output_paths(self.ctx)[0], lambda tmp: rows.write_ndjson(tmp))


class ParquetWriter(FileWriter):
    """Write Parquet."""

    name = "write.parquet"

    def write(self, rows: pl.DataFrame) -> None:
        atomic_write(self.output_paths(self.ctx)[0], lambda tmp: rows.write_parquet(tmp))


class HFWriterParams(WriterParams):
    push_to_hub: str | None = Field(None, description="Also push to this Hub repo id (needs HF_TOKEN in the "
                                                      "environment). Only attempted when set.")
    private: bool = Field(True, description="Create the Hub repo as private when pushing.")


class HFDiskWriter(FileWriter):
    """Save as a Hugging Face ``datasets`` dataset (``save_to_disk``) with a dataset card README."""

    name = "write.hf"
    Params = HFWriterParams

    def write(self, rows: pl.DataFrame) -> None:
        out = rows
        try:
            import datasets
        except ImportError:
            raise DataError("write.hf needs the `datasets` package", hint="pip install 'curate-llm[hf]'") from None
        assert self.ctx is not None
        datasets.disable_progress_bars()
        target = self.output_paths(self.ctx)[0]
        ds = datasets.Dataset(out.to_arrow())
        tmp = target.with_name(f".{target.name}.tmp")
        if tmp.exists():
            import shutil

            shutil.rmtree(tmp)
        ds.save_to_disk(str(tmp))
        (tmp / "README.md").write_text(dataset_card(self.ctx, out, self.params.format))
        if target.exists():
            import shutil

            shutil.rmtree(target)
        os.replace(tmp, target)
        if self.params.push_to_hub:
            ds.push_to_hub(self.params.push_to_hub, private=self.params.private, token=os.environ.get("HF_TOKEN"))


def dataset_card(ctx: StageContext, df: pl.DataFrame, fmt: str) -> str:
    """A README that records the recipe, the stage funnel up to this writer and the column schema.

    The runner writes ``run.json`` (with this run's recipe and stage graph) before any stage
    runs, and each stage's stats as it finishes, so the card describes the run that writes it."""
    run_dir = RunDir(ctx.run_dir)
    manifest = run_dir.manifest() or {}
    lines = ["---", "tags: [curate, synthetic]", "---", "", f"# {ctx.recipe_name}", "",
             f"Made by [curate](https://pypi.org/project/curate-llm/) in the `{fmt}` format; {df.height} rows.", "",
             "## Stage funnel", "", "| stage | component | rows in | rows out | removed |", "|---|---|---|---|---|"]
    for record in _funnel(run_dir, manifest, ctx.stage_id):
        st = record.stats
        lines.append(f"| {record.id} | `{record.use}` | {st.get('rows_in', 0):,} | {st.get('rows_out', 0):,} | "
                     f"{st.get('rows_removed', 0):,} |")
    lines += ["", "## Columns", "", "| column | type |", "|---|---|"]
    lines += [f"| `{name}` | `{dtype}` |" for name, dtype in df.schema.items()]
    recipe = manifest.get("recipe")
    lines += ["", "## Recipe", "", "```json", json.dumps(recipe, indent=2) if recipe else "(not recorded)", "```", ""]
    return "\n".join(lines)


def _funnel(run_dir: RunDir, manifest: dict[str, Any], writer_id: str) -> list[StageRecord]:
    """The checkpointed stages upstream of the writer in this run, in execution order."""
    graph = {s["id"]: s.get("inputs") or [] for s in manifest.get("stages") or []}
    upstream: set[str] = set()
    frontier = list(graph.get(writer_id, []))
    while frontier:
        sid = frontier.pop()
        if sid not in upstream:
            upstream.add(sid)
            frontier.extend(graph.get(sid, []))
    return [r for r in run_dir.stages() if r.id in upstream]
