"""`pairs.from_judge`: preference pairs from ``judge.pairwise`` verdicts.

Each consistent win becomes a row with the winner as ``chosen`` and the loser as ``rejected``
(plus the prompt or messages, ``score_chosen`` / ``score_rejected`` and the ``judge``
provenance), which ``write.* format: preference`` exports as TRL's DPO format. Ties carry no
preference and are removed with the reason ``tie``. With ``keep: strongest`` a prompt gives at
most one pair: the one whose chosen response won the most judged pairs of that prompt and whose
rejected response won the fewest (largest difference in wins), a seeded draw breaking ties.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Literal

import polars as pl
from pydantic import Field

import curate

REASON = "reason"
#: judge.pairwise's per-pair columns, which a preference row replaces with chosen/rejected.
VERDICT_COLUMNS = ("response_a", "response_b", "response_a_index", "response_b_index", "winner", "verdict_ab",
                   "verdict_ba", "judgment_ab", "judgment_ba")


class FromJudgeParams(curate.Params):
    keep: Literal["all", "strongest"] = Field(
        "all", description="`all`: one preference row per consistent win; `strongest`: at most one per prompt, "
                           "the win with the largest difference in wins between its two responses.")
    seed: int = Field(0, description="`keep: strongest`: seed of the draw between equally strong pairs (per "
                                     "prompt, so batches and reruns give the same choice).")
    scores: Literal["none", "binary"] = Field(
        "none", description="`score_chosen` / `score_rejected`: `none` leaves them null (a verdict is not a "
                            "score); `binary` writes 1.0 and 0.0.")


class FromJudge(curate.Judge):
    """Turn pairwise judge verdicts into preference pairs: winner chosen, loser rejected, ties dropped."""

    name = "pairs.from_judge"
    Params = FromJudgeParams
    batch_size = 100_000
    group_by = ("prompt_id",)
    reads = (("prompt", "messages"), "prompt_id", "response_a", "response_b", "winner")
    writes = ("chosen", "rejected", "score_chosen", "score_rejected", "judge")

    def dropped_columns(self) -> list[str]:
        return list(VERDICT_COLUMNS)

    def process_batch(self, df: pl.DataFrame) -> curate.StageOutput:
        ctx = self.ctx
        assert ctx is not None
        for column in ("response_a", "response_b", "winner"):
            if column in df.columns and df.schema[column] not in (pl.Utf8, pl.Null):
                raise curate.DataError(f"column {column!r} has type {df.schema[column]}, not text", where=self.where,
                                       hint="feed this stage the output of `judge.pairwise`")
        if "judge" not in df.columns:
            df = df.with_columns(pl.lit(None).alias("judge"))
        winner = pl.col("winner").cast(pl.Utf8).str.strip_chars().str.to_lowercase()
        a_wins = winner == "a"
        marked = df.with_row_index("__row").with_columns(
            pl.when(winner == "tie").then(pl.lit("tie"))
            .when(winner.is_null() | ~winner.is_in(["a", "b"]))
            .then(pl.format("winner '{}' is not a, b or tie", pl.col("winner").cast(pl.Utf8).fill_null("null")))
            .when(pl.col("response_a").is_null() | pl.col("response_b").is_null())
            .then(pl.lit("a response of the pair is missing"))
            .otherwise(pl.lit(None, pl.Utf8)).alias(REASON),
            pl.when(a_wins).then(pl.col("response_a")).otherwise(pl.col("response_b")).alias("chosen"),
            pl.when(a_wins).then(pl.col("response_b")).otherwise(pl.col("response_a")).alias("rejected"),
        )
        if self.params.keep == "strongest":
            marked = self._strongest(marked)
        binary = self.params.scores == "binary"
        marked = marked.with_columns(pl.lit(1.0 if binary else None, pl.Float64).alias("score_chosen"),
                                     pl.lit(0.0 if binary else None, pl.Float64).alias("score_rejected"))
        kept = marked.filter(pl.col(REASON).is_null()).drop(REASON, "__row", *VERDICT_COLUMNS, strict=False)
        removed = marked.filter(pl.col(REASON).is_not_null()).drop(
            "__row", "chosen", "rejected", "score_chosen", "score_rejected")
        ctx.count("pairs", kept.height)
        ctx.count("ties", marked.filter(pl.col(REASON) == "tie").height)
        return curate.StageOutput(kept, removed if removed.height else None)

    def _strongest(self, marked: pl.DataFrame) -> pl.DataFrame:
        """Mark every win but the strongest of each prompt as removed."""
        drop: dict[int, str] = {}
        wins_rows = marked.filter(pl.col(REASON).is_null())
        for (prompt_id,), rows in wins_rows.group_by("prompt_id", maintain_order=True):
            pairs = rows.select("__row", "id", "chosen", "rejected").rows(named=True)
            wins = Counter(pair["chosen"] for pair in pairs)
            strength = {pair["__row"]: wins[pair["chosen"]] - wins[pair["rejected"]] for pair in pairs}
            best = max(strength.values())
            tied = sorted((pair for pair in pairs if strength[pair["__row"]] == best),
                          key=lambda pair: (str(pair["id"]), pair["__row"]))
            keep = random.Random(f"{self.params.seed}:{prompt_id}").choice(tied)["__row"]
            for pair in pairs:
                if pair["__row"] != keep:
                    why = (f"wins difference {strength[pair['__row']]} < {best}" if strength[pair["__row"]] < best
                           else "lost the seeded draw between equally strong pairs")
                    drop[pair["__row"]] = f"not the strongest pair of prompt {prompt_id!r} (keep: strongest; {why})"
        if not drop:
            return marked
        return marked.with_columns(
            pl.col("__row").replace_strict(drop, default=None, return_dtype=pl.Utf8).fill_null(pl.col(REASON))
            .alias(REASON))
