"""Writers for JSONL, Parquet and HF ``datasets`` (``save_to_disk``), each with a dataset card
(built by :mod:`curate.card`), to local paths or fsspec URIs (:mod:`curate.storage`), whole or in
parts (one per worker batch on a distributed executor, concatenated by ``commit``)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import IO, Any

import polars as pl
from pydantic import Field, model_validator

from curate import storage
from curate.component import Params, StageContext, Writer
from curate.errors import DataError
from curate.formats import Format, to_format
from curate.card import build_card
from curate.rundir import RunDir


class WriterParams(Params):
    path: str = Field(description="Output file, relative to the run directory, or a URI of any fsspec filesystem "
                                  "(`s3://bucket/out/sft.jsonl`; credentials come from the environment). A path "
                                  "ending in `/` is a folder of part files (`part-00000.jsonl`, ...), one per "
                                  "worker batch on a distributed executor.")
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


#: Rows of the parts a card's length and score distributions are computed from when the output
#: was written in parts (the row count and the funnel are always exact).
CARD_SAMPLE_ROWS = 200_000


class FileWriter(Writer):
    """A writer of one file (or, with a path ending in ``/``, a folder of part files), local or a
    URI; writes whole, or in parts that :meth:`commit` concatenates (a distributed executor)."""

    Params = WriterParams
    suffix = ""

    # --- where ---------------------------------------------------------------------------------
    @property
    def folder(self) -> bool:
        """A path ending in ``/``: the output is a folder of ``part-00000<suffix>`` files."""
        return self.params.path.endswith(("/", os.sep))

    def target(self, ctx: StageContext | None = None) -> storage.Location:
        ctx = ctx or self.ctx
        assert ctx is not None
        return storage.resolve(ctx.run_dir, self.params.path)

    def output_paths(self, ctx: StageContext) -> list[Path | str]:
        return [self.target(ctx)]

    def _parts_location(self) -> storage.Location:
        if self.folder:
            return self.target()
        # beside the target: the same filesystem, so the commit stays on it
        return storage.with_name(self.target(), f".{storage.name(self.target())}.parts")

    def _part(self, n: int) -> storage.Location:
        return storage.join(self._parts_location(), f"part-{n:05d}{self.suffix}")

    # --- the card --------------------------------------------------------------------------------
    def _card_path(self, ctx: StageContext) -> storage.Location | None:
        # One card per output file by default: two writers often share a folder (sft.jsonl and
        # preference.jsonl in the run directory), and one README.md would be overwritten.
        card = getattr(self.params, "card", False)
        if card is False:
            return None
        if card is True:
            out = self.target(ctx)
            if self.folder:
                return storage.join(out, "README.md")
            return storage.with_name(out, f"{storage.name(out)}.README.md")
        return storage.resolve(ctx.run_dir, card)

    def write_card(self, rows: pl.DataFrame, total: int | None = None) -> None:
        assert self.ctx is not None
        card = self._card_path(self.ctx)
        if card is not None:
            text = build_card(RunDir(self.ctx.run_dir), self.ctx.stage_id, rows, self.params.format, total=total)
            storage.write_text(card, text)

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

    # --- writing -----------------------------------------------------------------------------------
    def encode(self, rows: pl.DataFrame, f: IO[bytes]) -> None:
        """Write ``rows`` to an open binary file, in this writer's format."""
        raise NotImplementedError

    def concatenate(self, parts: list[storage.Location], out: IO[bytes]) -> None:
        """Write the part files, in order, as one file (streamed: one part in memory at a time)."""
        raise NotImplementedError

    def read_part(self, loc: storage.Location, limit: int | None = None) -> pl.DataFrame:
        raise NotImplementedError

    def write(self, rows: pl.DataFrame) -> None:
        if self.folder:
            self._clear_parts(keep=1)
            storage.write(self._part(0), lambda f: self.encode(rows, f))
        else:
            storage.write(self.target(), lambda f: self.encode(rows, f))
        self.write_card(rows)

    def encode_part(self, rows: pl.DataFrame, f: IO[bytes]) -> None:
        """Write a part: as :meth:`encode` does, unless the part is only a step to one file."""
        self.encode(rows, f)

    def write_part(self, rows: pl.DataFrame, part: int) -> dict[str, Any]:
        loc = self._part(part)
        storage.write(loc, lambda f: self.encode_part(rows, f))
        return {"location": loc, "rows": rows.height}  # a Path or a URI: both pickle

    def commit(self, parts: list[Any]) -> None:
        locations = [p["location"] for p in parts]
        sample = self._sample(parts)
        if self.folder:
            self._clear_parts(keep=len(parts))  # parts of an earlier, longer write
        else:
            storage.write(self.target(), lambda out: self.concatenate(locations, out))
            storage.remove(self._parts_location())
        self.write_card(sample, total=sum(int(p["rows"]) for p in parts))

    def _sample(self, parts: list[Any]) -> pl.DataFrame:
        """The first rows of the parts, for the card's distributions (at most CARD_SAMPLE_ROWS)."""
        frames, rows = [], 0
        for part in parts:
            if not part["rows"]:
                continue
            frames.append(self.read_part(part["location"], CARD_SAMPLE_ROWS - rows))
            rows += frames[-1].height
            if rows >= CARD_SAMPLE_ROWS:
                break
        return pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()

    def _clear_parts(self, keep: int) -> None:
        """Remove ``part-NNNNN`` files numbered ``keep`` and up from the output folder."""
        folder = self._parts_location()
        if not storage.exists(folder):
            return
        for loc in storage.expand(folder if isinstance(folder, Path) else storage.join(folder, "")):
            n = storage.name(loc)
            if n.startswith("part-") and n.endswith(self.suffix) and n[5:10].isdigit() and int(n[5:10]) >= keep:
                storage.remove(loc)


class JsonlWriter(FileWriter):
    """Write JSON Lines."""

    name = "write.jsonl"
    Params = CardWriterParams
    suffix = ".jsonl"

    def encode(self, rows: pl.DataFrame, f: IO[bytes]) -> None:
        rows.write_ndjson(f)

    def concatenate(self, parts: list[storage.Location], out: IO[bytes]) -> None:
        for loc in parts:  # JSON Lines concatenate as bytes
            with storage.open_read(loc) as f:
                shutil.copyfileobj(f, out, 8 * 1024 * 1024)

    def read_part(self, loc: storage.Location, limit: int | None = None) -> pl.DataFrame:
        with storage.open_read(loc) as f:
            return pl.read_ndjson(f, n_rows=limit, infer_schema_length=None)


class ParquetWriter(FileWriter):
    """Write Parquet."""

    name = "write.parquet"
    Params = CardWriterParams
    suffix = ".parquet"

    def encode(self, rows: pl.DataFrame, f: IO[bytes]) -> None:
        rows.write_parquet(f)

    def encode_part(self, rows: pl.DataFrame, f: IO[bytes]) -> None:
        if self.folder:  # the parts are the output
            return self.encode(rows, f)
        # read once more by `concatenate`, then deleted: compressing them (zstd) cost 2.6x the time
        # of writing them plain, and decoding 2x the time of reading them (300k documents here)
        rows.write_parquet(f, compression="uncompressed")

    def concatenate(self, parts: list[storage.Location], out: IO[bytes]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        schemas = []
        for loc in parts:
            with storage.open_read(loc) as f:
                schemas.append(pq.read_schema(f))
        # parts may disagree where one saw only nulls: one schema for all (Arrow's permissive unify)
        schema = pa.unify_schemas(schemas, promote_options="permissive")
        with pq.ParquetWriter(out, schema) as writer:
            for loc in parts:
                with storage.open_read(loc) as f:
                    pfile = pq.ParquetFile(f)
                    for group in range(pfile.num_row_groups):
                        writer.write_table(_conform(pfile.read_row_group(group), schema))

    def read_part(self, loc: storage.Location, limit: int | None = None) -> pl.DataFrame:
        with storage.open_read(loc) as f:
            return pl.read_parquet(f, n_rows=limit)


def _conform(table: Any, schema: Any) -> Any:
    """``table`` with ``schema``'s columns and types (missing columns null)."""
    import pyarrow as pa

    cols = [table.column(f.name).cast(f.type) if f.name in table.column_names else pa.nulls(table.num_rows, f.type)
            for f in schema]
    return pa.Table.from_arrays(cols, schema=schema)


class HFWriterParams(WriterParams):
    push_to_hub: str | None = Field(None, description="Also push to this Hub repo id (needs HF_TOKEN in the "
                                                      "environment). Only attempted when set.")
    private: bool = Field(True, description="Create the Hub repo as private when pushing.")


class HFDiskWriter(FileWriter):
    """Save as a Hugging Face ``datasets`` dataset (``save_to_disk``) with a dataset card README."""

    name = "write.hf"
    Params = HFWriterParams
    suffix = ".arrow"

    @property
    def folder(self) -> bool:
        return False  # the dataset is a folder already; parts go beside it

    def _datasets(self) -> Any:
        try:
            import datasets
        except ImportError:
            raise DataError("write.hf needs the `datasets` package", hint="pip install 'curate-llm[hf]'") from None
        datasets.disable_progress_bars()
        return datasets

    def write(self, rows: pl.DataFrame) -> None:
        datasets = self._datasets()
        self._save(datasets.Dataset(rows.to_arrow()), rows)

    def _save(self, ds: Any, sample: pl.DataFrame, total: int | None = None) -> None:
        assert self.ctx is not None
        target = self.target()
        card = build_card(RunDir(self.ctx.run_dir), self.ctx.stage_id, sample, self.params.format, total=total)
        if isinstance(target, Path):
            tmp = target.with_name(f".{target.name}.tmp")
            storage.remove(tmp)
            ds.save_to_disk(str(tmp))
            (tmp / "README.md").write_text(card)
            storage.remove(target)
            os.replace(tmp, target)
        else:  # an object store has no rename: write in place
            storage.remove(target)
            ds.save_to_disk(target)
            storage.write_text(storage.join(target, "README.md"), card)
        if self.params.push_to_hub:
            ds.push_to_hub(self.params.push_to_hub, private=self.params.private, token=os.environ.get("HF_TOKEN"))

    def encode(self, rows: pl.DataFrame, f: IO[bytes]) -> None:
        import pyarrow as pa

        table = rows.to_arrow()
        with pa.ipc.new_stream(f, table.schema) as stream:  # the Arrow stream format datasets maps
            stream.write_table(table)

    def read_part(self, loc: storage.Location, limit: int | None = None) -> pl.DataFrame:
        import pyarrow as pa

        with storage.open_read(loc) as f:
            table = pa.ipc.open_stream(f).read_all()
        df = pl.from_arrow(table)
        assert isinstance(df, pl.DataFrame)
        return df.head(limit) if limit else df

    def commit(self, parts: list[Any]) -> None:
        import tempfile

        import pyarrow as pa

        datasets = self._datasets()
        locations = [p["location"] for p in parts]
        schemas = []
        for loc in locations:
            with storage.open_read(loc) as f:
                schemas.append(pa.ipc.open_stream(f).schema)
        schema = pa.unify_schemas(schemas, promote_options="permissive")
        # One Arrow stream on local disk, written part by part and memory-mapped by datasets: the
        # rows are never all in memory.
        with tempfile.TemporaryDirectory(prefix="curate-hf-") as tmp:
            combined = Path(tmp) / "data.arrow"
            with pa.OSFile(str(combined), "wb") as sink, pa.ipc.new_stream(sink, schema) as stream:
                for loc in locations:
                    with storage.open_read(loc) as f:
                        for batch in pa.ipc.open_stream(f):
                            stream.write_table(_conform(pa.Table.from_batches([batch]), schema))
            ds = datasets.Dataset.from_file(str(combined))
            self._save(ds, self._sample(parts), total=sum(int(p["rows"]) for p in parts))
        storage.remove(self._parts_location())

