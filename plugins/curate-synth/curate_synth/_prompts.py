"""What the prompt-mix generators share (open and closed Q&A, writing, math and code, two-turn).

* ``limit``: a branch's count in the prompt mix. Only the requests needed to reach it are sent
  (a seeded choice of the inputs), and the output is cut to it.
* Row expansion: a stage that makes several prompts from one input row (a topic, a document)
  gives each the id ``<parent id>/<task>/<k>`` and keeps the parent's other columns.
* The revision pass of open Q&A and writing: each first version rewritten to be more detailed
  and specific, both versions kept (``prompt`` and ``prompt_original``) unless ``keep`` says.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Annotated, Any, Literal

import polars as pl
from pydantic import BaseModel, Field, StringConstraints, create_model

import curate
from curate_synth._base import SynthGenerator, SynthParams

REASON = "reason"

#: A piece of generated text: surrounding whitespace stripped, never empty.
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class TextItems(BaseModel):
    """A list of generated texts (questions, tasks, keywords, problems)."""

    items: list[Text] = Field(min_length=1)


@lru_cache(maxsize=None)
def items_model(n: int, max_chars: int) -> type[BaseModel]:
    """``{"items": [text, ...]}``: at least one text. The JSON schema also says at most ``n``
    items of at most ``max_chars`` characters, so that constrained decoding stops there (a random
    or rambling model would otherwise run to ``max_tokens``); validation does not enforce those
    two bounds: a free-text answer with one item too many is cut by the stage, not re-asked."""
    item = Annotated[Text, Field(json_schema_extra={"maxLength": max_chars})]
    return create_model("TextItems", items=(list[item], Field(min_length=1, json_schema_extra={"maxItems": n})))


@lru_cache(maxsize=None)
def text_model(name: str, field: str, max_chars: int) -> type[BaseModel]:
    """``{field: text}``: one generated text, at most ``max_chars`` characters in the JSON schema."""
    return create_model(name, **{field: (Annotated[Text, Field(json_schema_extra={"maxLength": max_chars})], ...)})


class BoundsParams(SynthParams):
    max_item_chars: int = Field(2000, ge=1, description="Longest generated text (question, task, keyword, problem) in "
                                                        "characters, sent in the JSON schema (`maxLength`, with "
                                                        "`maxItems` = the number asked for) so that constrained "
                                                        "decoding stops there; other engines' answers are not cut.")


class MixParams(SynthParams):
    limit: int | None = Field(None, ge=1, description="At most this many rows from the stage: the branch's count in the "
                                                      "prompt mix. Only the requests needed to reach it are sent (a "
                                                      "seeded choice of the inputs), so a small limit is cheap. Applies "
                                                      "per batch; the local executor hands a stage all its rows at once.")


class RevisedParams(MixParams):
    keep: Literal["both", "revised", "original"] = Field(
        "both", description="`both`: `prompt` is the revised version and `prompt_original` the first one; `revised`: "
                            "only the revised version (no `prompt_original`); `original`: no revision pass at all "
                            "(`prompt` is the first version).")


def needed(total: int, per_item: int, limit: int | None) -> int:
    """How many inputs giving ``per_item`` rows each reach ``limit`` (all of them without one)."""
    if limit is None:
        return total
    return min(total, math.ceil(limit / max(per_item, 1)))


def text_column(df: pl.DataFrame, column: str, where: str, *, numbers: bool = False) -> list[str | None]:
    """A column of strings (or, with ``numbers``, ids that may be numbers) as a list, or a
    :class:`curate.DataError` naming the column."""
    if column not in df.columns:
        raise curate.DataError(f"no column {column!r} in the input", where=where,
                               hint=f"the input has: {', '.join(df.columns) or 'no columns'}; set the stage's "
                                    "column param to the one holding the text")
    return curate.text_of(df, column, where=where, numbers=numbers).to_list()


class PromptMix(SynthGenerator):
    """Base of the prompt-mix generators that read rows (not registered itself)."""

    Params = MixParams

    def choose(self, total: int, per_item: int) -> list[int]:
        """Indices of the inputs to use, in input order: all of them, or a seeded sample of just
        enough to reach ``limit`` (spread over the inputs, not the first few)."""
        k = needed(total, per_item, self.params.limit)
        if k >= total:
            return list(range(total))
        return sorted(self.rng("limit", total).sample(range(total), k))

    def unusable(self, answer: curate.StructuredResult, what: str) -> str:
        """Why an answer gave nothing: its error, or items that its text does not contain."""
        if not answer.ok:
            return self.failure(answer, what)
        return f"{what} failed: no item of the answer appears in its text; raw answer: {(answer.raw or '')[:500]!r}"

    def count_unused(self, n: int) -> None:
        """Inputs left out because ``limit`` was reached without them: counted, not removed
        (nothing is wrong with them)."""
        if n > 0:
            self.ctx.count("inputs_unused_by_limit", n)

    def cut(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return rows if self.params.limit is None else rows[:self.params.limit]

    def expand(self, parents: pl.DataFrame, rows: list[dict[str, Any]], schema: dict[str, Any],
               drop: tuple[str, ...] = ()) -> pl.DataFrame:
        """New rows (each naming its parent row in ``__row``) with the parent's other columns:
        the new columns first, then the parent's (those the new rows replace, and ``drop``, left out)."""
        new = pl.DataFrame(rows, schema={"__row": pl.Int64, **schema})
        base = parents.drop([c for c in parents.columns if c in schema or c in drop]).with_row_index("__row")
        out = new.join(base.with_columns(pl.col("__row").cast(pl.Int64)), on="__row", how="left",
                       maintain_order="left")
        return out.drop("__row")

    @staticmethod
    def removed(parents: pl.DataFrame, reasons: dict[int, str]) -> pl.DataFrame | None:
        """Input rows removed, with the reason (``{row index: reason}``)."""
        if not reasons:
            return None
        index = sorted(reasons)
        return parents[index].with_columns(pl.Series(REASON, [reasons[i] for i in index], dtype=pl.Utf8))

    @staticmethod
    def output(kept: pl.DataFrame, *removed: pl.DataFrame | None) -> curate.StageOutput:
        """The stage's output: the kept rows, and every frame of removed rows appended."""
        frames = [r for r in removed if r is not None and r.height]
        return curate.StageOutput(kept, pl.concat(frames, how="diagonal_relaxed") if frames else None)

    def revise(self, firsts: list[dict[str, Any]], template: str, model: type[BaseModel], field: str,
               variables: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The revision pass over rows holding their first version in ``prompt``: returns
        (revised rows, rows whose revision failed, with the reason). ``variables(row)`` gives the
        template's values; the answer's ``field`` is the revised text."""
        keep = self.params.keep
        if keep == "original" or not firsts:
            return firsts, []
        render = self.template(template).render
        answers = self.ask([(f"{row['id']}/revision", render(**variables(row))) for row in firsts], model)
        kept, failed = [], []
        for row, answer in zip(firsts, answers):
            if not answer.ok:
                failed.append({**row, REASON: self.failure(answer, "revision")})
                continue
            revised = dict(row, prompt=getattr(answer.value, field))
            if keep == "both":
                revised["prompt_original"] = row["prompt"]
            kept.append(revised)
        return kept, failed
