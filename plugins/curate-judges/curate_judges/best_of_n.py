"""``select.best_of_n``: rejection sampling, as Llama 2 and Llama 3 build their SFT sets.

N responses were sampled per prompt and scored (a reward model, a judge rating, ground truth);
per prompt, the best-scored response is kept as the SFT row and the others are removed rows that
say why. Ties are broken deterministically (lowest ``response_index``, then ``id``), so the same
data always gives the same set.
"""

from __future__ import annotations

import polars as pl
from pydantic import Field

import curate
from curate_judges import _groups


class BestOfNParams(curate.Params):
    score: str = Field("reward", description="Column whose highest value wins (e.g. `reward`, `rating`).")
    group: str = Field("prompt_id", description="Column naming each response's prompt (what `generate.responses` "
                                                "writes); one response is kept per value.")
    min_score: float | None = Field(None, description="Keep a prompt's best response only when its score is at "
                                                       "least this; otherwise every response of the prompt is removed.")


class BestOfN(curate.Judge):
    """Keep the best-scored response of each prompt (rejection sampling); the others are removed rows."""

    name = "select.best_of_n"
    Params = BestOfNParams
    batch_size = 100_000

    def group_keys(self) -> list[str]:
        return [self.params.group]

    def input_columns(self) -> list[str | tuple[str, ...]]:
        return [self.params.group, self.params.score, "response"]

    def process_batch(self, df: pl.DataFrame) -> curate.StageOutput:
        p = self.params
        _groups.check_group_columns(df, [p.group, p.score], self.where)
        _groups.numeric_scores(df, p.score, self.where)
        ranked = _groups.ranked(df.with_row_index("__row"), p.score, p.group)
        first = ranked.select("__row", pl.col("__row").first().over(p.group).alias("best"), "__score", p.group)
        best_score = ranked.select(pl.col("__score").first().over(p.group)).to_series()
        reasons: dict[int, str] = {}
        for (row, best_row, score, group), top in zip(first.iter_rows(), best_score):
            if top is None:
                reasons[row] = f"no {p.score} score for any response of {group}"
            elif p.min_score is not None and top < p.min_score:
                reasons[row] = f"best {p.score} of {group} is {top:g}, under min_score {p.min_score:g}"
            elif row != best_row:
                reasons[row] = (f"not the best of its prompt: {p.score} {score:g} < {top:g}" if score is not None
                                else f"no {p.score} score")
        indexed = df.with_row_index("__row")
        kept = indexed.filter(~pl.col("__row").is_in(list(reasons))).drop("__row")
        self.ctx.count("prompts", first[p.group].n_unique())
        self.ctx.count("kept", kept.height)
        return curate.StageOutput(kept, _groups.removed(indexed, reasons))
