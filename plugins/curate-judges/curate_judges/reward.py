"""``judge.reward_model``: score responses with a reward model (a score engine).

Each row's conversation (``prompt`` or ``messages``) and ``response`` go to the engine as one
pair; a row with a ``responses`` list (``generate.responses`` with ``output: list``) has each item
scored. A multi-attribute model (Nemotron-4-340B-Reward's HelpSteer2 five) gets one
``reward_<attribute>`` column per weighted attribute and a combined ``reward``: the weighted sum,
with the recipe's ``weights`` or a named preset. A single-attribute model's ``reward`` is its score.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import polars as pl
from pydantic import Field, field_validator, model_validator

import curate

#: Nemotron-4-340B-Reward's model card: reward = the weighted sum of its five HelpSteer2 attributes.
PRESETS: dict[str, dict[str, float]] = {
    "helpsteer2": {"helpfulness": 0.3, "correctness": 0.74, "coherence": 0.46, "complexity": 0.47,
                   "verbosity": -0.33},
}

REWARD = "reward"
REASON = "reason"


class RewardModelParams(curate.Params):
    engine: curate.ScoreEngineRef = Field(
        curate.ScoreEngineRef("reward"), description="Recipe engine (a score engine) that scores each pair.")
    weights: dict[str, float] | None = Field(
        None, description="Weight per attribute; `reward` is the weighted sum and each weighted attribute gets a "
                          "`reward_<attribute>` column. Default: the model must return one score, which is `reward`.")
    weights_preset: Literal["helpsteer2"] | None = Field(
        None, description="Named weights instead of `weights`: `helpsteer2` = helpfulness 0.3, correctness 0.74, "
                          "coherence 0.46, complexity 0.47, verbosity -0.33 (Nemotron-4-340B-Reward).")

    @field_validator("weights")
    @classmethod
    def _weights(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        if value is None:
            return value
        if not value:
            raise ValueError("`weights` is empty; name at least one attribute, or leave it out")
        for name, weight in value.items():
            if not name.strip():
                raise ValueError("`weights` has an empty attribute name")
            if not math.isfinite(weight):
                raise ValueError(f"the weight of {name!r} is {weight}, not a finite number")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> "RewardModelParams":
        if self.weights is not None and self.weights_preset is not None:
            raise ValueError("give `weights` or `weights_preset`, not both")
        return self

    def resolved_weights(self) -> dict[str, float] | None:
        """The weights in use (the preset's, or the recipe's), or ``None``: a single-score model."""
        return dict(PRESETS[self.weights_preset]) if self.weights_preset else self.weights


class RewardModelJudge(curate.Judge):
    """Score each response with a reward model: `reward_<attribute>` columns and a weighted `reward`."""

    name = "judge.reward_model"
    Params = RewardModelParams
    reads = (("prompt", "messages"), ("response", "responses"))
    reports_progress = True

    def output_columns(self) -> list[str]:
        return [REWARD, *(f"reward_{a}" for a in (self.params.resolved_weights() or {}))]

    def process_batch(self, df: pl.DataFrame) -> curate.StageOutput:
        ctx = self.ctx
        assert ctx is not None
        listed = "response" not in df.columns  # `responses`: a list per row
        column = "responses" if listed else "response"
        conversations = df.select(curate.prompt_messages(df).alias("m"))["m"].to_list()
        answers = self._responses(df) if listed else curate.text_of(df, "response", where=self.where).to_list()

        requests: list[curate.ScoreRequest] = []
        owner: dict[str, int] = {}  # request id -> row
        pending = [0] * df.height   # requests outstanding per row, for progress
        problems: dict[int, str] = {}
        for i, (conv, answer) in enumerate(zip(conversations, answers)):
            why = self._bad_input(conv, answer, column)
            if why:
                problems[i] = why
                continue
            messages = [{"role": m["role"], "content": m["content"]} for m in conv]
            for k, text in enumerate(answer if listed else [answer]):
                rid = f"{i}:{k}"  # unique within the call, whatever the row ids are
                requests.append(curate.ScoreRequest(rid, messages, text))
                owner[rid] = i
                pending[i] += 1
        ctx.advance(sum(1 for n in pending if n == 0))

        def on_result(result: curate.ScoreResult) -> None:
            ctx.count("requests_cached" if result.cached else "requests_sent")
            if not result.ok:
                ctx.count("requests_failed")
            row = owner[result.id]
            pending[row] -= 1
            if pending[row] == 0:
                ctx.advance(1)

        results = ctx.engine(self.params.engine).score(requests, on_result) if requests else []
        by_row: dict[int, list[curate.ScoreResult]] = {}
        for result in results:
            by_row.setdefault(owner[result.id], []).append(result)

        weights = self.params.resolved_weights()
        rewards: list[Any] = [None] * df.height
        attrs: dict[str, list[Any]] = {a: [None] * df.height for a in weights or {}}
        for i in range(df.height):
            if i in problems:
                continue
            combined, why = self._combine(by_row.get(i, []), weights, listed)
            if why:
                problems[i] = why
                continue
            rewards[i] = [c[0] for c in combined] if listed else combined[0][0]
            for a in attrs:
                attrs[a][i] = [c[1][a] for c in combined] if listed else combined[0][1][a]
        return self._split(df, rewards, attrs, problems, listed)

    def _responses(self, df: pl.DataFrame) -> list[Any]:
        dtype = df.schema["responses"]
        if not (isinstance(dtype, pl.List) and dtype.inner in (pl.String, pl.Null)):
            raise curate.DataError(f"column 'responses' has type {dtype}, not a list of strings", where=self.where,
                                   hint="give each row a `response` string, or `responses` as a list of strings "
                                        "(what `generate.responses` writes with `output: list`)")
        return df["responses"].to_list()

    def _bad_input(self, conv: Any, answer: Any, column: str) -> str | None:
        if not conv or any(m.get("content") is None for m in conv):
            return "no prompt to score the response against (`prompt`/`messages` is null or empty)"
        if answer is None:
            return f"`{column}` is null: nothing to score"
        if column == "responses" and any(a is None for a in answer):
            return "`responses` holds a null response"
        return None

    def _combine(self, results: list[curate.ScoreResult], weights: dict[str, float] | None,
                 listed: bool) -> tuple[list[tuple[float, dict[str, float]]], str | None]:
        """Per response of a row: (reward, the weighted attributes), or why the row is removed."""
        combined = []
        for k, result in enumerate(sorted(results, key=lambda r: int(r.id.split(":")[1]))):
            which = f"response {k}: " if listed else ""
            if not result.ok:
                return [], f"{which}reward model request failed: {result.error}"
            scores = result.scores
            if weights is None:
                if len(scores) != 1:
                    raise curate.RecipeError(
                        f"the reward model returned {len(scores)} attributes ({', '.join(sorted(scores))}) and the "
                        "stage has no weights to combine them", where=self.where,
                        hint="set `weights: {attribute: weight, ...}` or `weights_preset: helpsteer2`")
                combined.append((float(next(iter(scores.values()))), {}))
                continue
            missing = [a for a in weights if a not in scores]
            if missing:
                return [], (f"{which}the reward model returned no score for {', '.join(missing)} "
                            f"(it returned {', '.join(sorted(scores)) or 'nothing'})")
            combined.append((sum(w * float(scores[a]) for a, w in weights.items()),
                             {a: float(scores[a]) for a in weights}))
        return combined, None

    def _split(self, df: pl.DataFrame, rewards: list[Any], attrs: dict[str, list[Any]],
               problems: dict[int, str], listed: bool) -> curate.StageOutput:
        dtype = pl.List(pl.Float64) if listed else pl.Float64
        scored = df.with_columns(
            pl.Series(REWARD, rewards, dtype=dtype),
            *(pl.Series(f"reward_{a}", values, dtype=dtype) for a, values in attrs.items()),
        )
        bad = pl.Series("__bad", [i in problems for i in range(df.height)], dtype=pl.Boolean)
        kept = scored.filter(~bad)
        removed = df.filter(bad).with_columns(
            pl.Series(REASON, [problems[i] for i in sorted(problems)], dtype=pl.Utf8))
        return curate.StageOutput(kept, removed if removed.height else None)
