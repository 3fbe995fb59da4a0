"""Writers for JSONL, Parquet and HF ``datasets`` (``save_to_disk``), each with a dataset card
(built by :mod:`curate.card`)."""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl
from pydantic import Field, model_validator

from curate.component import Params, StageContext, Writer
from curate.errors import DataError
from curate.formats import Format, to_format
from curate.card import build_card
from curate.rundir import RunDir
from curate.files import atomic_write


class WriterParams(Params):
    path: str = Field(description="Output path, relative to the run directory.")
    format: Format = Field("raw", description="`sft` (messages), `preference` (prompt/chosen/rejected) or "
                                              "`raw` (working columns as they are). See docs/formats.md.")


class CardWriterParams(WriterParams):
    card: bool | str = Field(True, description="Write a dataset card (recipe, stage funnel with removal reasons, "
                                               "columns, models, length and score distributions) next to the "
                                               "output: `true` writes `<output file>.README.md`, a path writes it "
                                               "there (relative to the run directory, e.g. `README.md`), `false` "
                                               "writes none. See docs/inspect.md.")

    @model_validator(mode="after")
    def _card_is_not_the_data(self) -> "CardWriterParams":
        if isinstance(self.card, str) and Path(self.card) == Path(self.path):
            raise ValueError(f"`card: {self.card}` is the output file itself; name the card another file "
                             "(e.g. README.md)")
        return self


class FileWriter(Writer):
    Params = WriterParams

    def output_paths(self, ctx: StageContext) -> list[Path]:
        return [ctx.output_path(self.params.path)]

    def _card_path(self, ctx: StageContext) -> Path | None:
        # One card per output file by default: two writers often share a folder (sft.jsonl and
        # preference.jsonl in the run directory), and one README.md would be overwritten.
        card = getattr(self.params, "card", False)
        if card is False:
            return None
        if card is True:
            out = ctx.output_path(self.params.path)
            return out.with_name(f"{out.name}.README.md")
        return ctx.output_path(card)

    def write_card(self, rows: pl.DataFrame) -> None:
        assert self.ctx is not None
        card = self._card_path(self.ctx)
        if card is not None:
            text = build_card(RunDir(self.ctx.run_dir), self.ctx.stage_id, rows, self.params.format)
            atomic_write(card, lambda tmp: tmp.write_text(text))

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
    Params = CardWriterParams

    def write(self, rows: pl.DataFrame) -> None:
        atomic_write(self.output_paths(self.ctx)[0], lambda tmp: rows.write_ndjson(tmp))
        self.write_card(rows)


class ParquetWriter(FileWriter):
    """Write Parquet."""

    name = "write.parquet"
    Params = CardWriterParams

    def write(self, rows: pl.DataFrame) -> None:
        atomic_write(self.output_paths(self.ctx)[0], lambda tmp: rows.write_parquet(tmp))
        self.write_card(rows)


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
        (tmp / "README.md").write_text(build_card(RunDir(self.ctx.run_dir), self.ctx.stage_id, out, self.params.format))
        if target.exists():
            import shutil

            shutil.rmtree(target)
        os.replace(tmp, target)
        if self.params.push_to_hub:
            ds.push_to_hub(self.params.push_to_hub, private=self.params.private, token=os.environ.get("HF_TOKEN"))

