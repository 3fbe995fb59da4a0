"""Preference pairs from scored responses: ``pairs.from_scores`` and ``pairs.from_ground_truth``.

Both read one row per response (as ``generate.responses`` writes them, grouped by ``prompt_id``)
and write one row per pair: the prompt columns, ``chosen`` / ``rejected`` (the response texts),
``chosen_id`` / ``rejected_id``, and for scores ``score_chosen``, ``score_rejected`` and
``score_gap`` — what ``write.* format: preference`` exports (TRL's DPO format). Prompts that give
no pair are removed rows that say why.
"""

from __future__ import annotations

import random
from typing import Literal

import polars as pl
from pydantic import Field, model_validator

import curate
from curate_judges import _groups

#: Llama 2's four preference strengths, as score-gap thresholds (largest first). Recipes override them.
DEFAULT_MARGIN_LEVELS = {"significantly_better": 1.0, "better": 0.5, "slightly_better": 0.2, "negligibly_better": 0.0}


class FromScoresParams(curate.Params):
    score: str = Field("reward", description="Column to rank responses by (higher is better).")
    group: str = Field("prompt_id", description="Column naming each response's prompt.")
    mode: Literal["best_worst", "all_above_margin"] = Field(
        "best_worst", description="`best_worst`: one pair per prompt, the best vs the worst response; "
                                  "`all_above_margin`: every pair whose score gap is at least `min_gap`.")
    min_gap: float = Field(0.0, ge=0, description="Smallest score gap a pair may have (equal scores never pair).")
    margin_levels: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_MARGIN_LEVELS),
        description="Label -> smallest gap, for the `margin_level` column (Llama 2's preference strengths); "
                    "the largest threshold a gap reaches names it.")


class FromScores(curate.Judge):
    """Pair each prompt's best-scored response (chosen) with its worst (rejected), with the score gap."""

    name = "pairs.from_scores"
    Params = FromScoresParams
    batch_size = 100_000
    writes = ("chosen", "rejected", "chosen_id", "rejected_id", "score_chosen", "score_rejected", "score_gap",
              "margin_level")

    def group_keys(self) -> list[str]:
        return [self.params.group]

    def input_columns(self) -> list[str | tuple[str, ...]]:
        return [self.params.group, self.params.score, "response"]

    def dropped_columns(self) -> list[str]:
        return ["response", "finish_reason", "response_index", self.params.score]

    def _level(self, gap: float | None) -> str | None:
        if gap is None:
            return None
        for label, threshold in sorted(self.params.margin_levels.items(), key=lambda kv: -kv[1]):
            if gap >= threshold:
                return label
        return None

    def process_batch(self, df: pl.DataFrame) -> curate.StageOutput:
        p = self.params
        _groups.check_group_columns(df, [p.group, p.score, "response"], self.where)
        _groups.numeric_scores(df, p.score, self.where)
        ranked = _groups.ranked(df.with_row_index("__row"), p.score, p.group)
        pairs, reasons = [], {}
        for (group,), rows in ranked.group_by(p.group, maintain_order=True):
            scored = [r for r in rows.iter_rows(named=True) if r["__score"] is not None]
            for r in rows.iter_rows(named=True):
                if r["__score"] is None:
                    reasons[r["__row"]] = f"no {p.score} score"
            made = self._pairs(scored, group, _groups.prompt_part(rows))
            if not made:
                why = ("fewer than two scored responses" if len(scored) < 2 else
                       f"no two responses differ in {p.score} by at least {max(p.min_gap, 0):g}")
                for r in scored:
                    reasons[r["__row"]] = f"no pair for prompt {group}: {why}"
            pairs.extend(made)
        self.ctx.count("pairs", len(pairs))
        out = _groups.frame(pairs, df, {**_groups.SCORE_SCHEMA, "margin_level": pl.Utf8})
        out = out.drop([c for c in (p.score,) if c in out.columns and not pairs])
        return curate.StageOutput(out, _groups.removed(ranked, reasons))

    def _pairs(self, scored: list[dict], group: str, prompt: dict) -> list[dict]:
        p = self.params
        candidates = [(scored[0], scored[-1])] if p.mode == "best_worst" and len(scored) >= 2 else \
            [(a, b) for i, a in enumerate(scored) for b in scored[i + 1:]] if p.mode == "all_above_margin" else []
        out = []
        for chosen, rejected in candidates:
            gap = chosen["__score"] - rejected["__score"]
            if gap <= 0 or gap < p.min_gap:
                continue
            row = _groups.pair_row(prompt, chosen, rejected, score=p.score, k=len(out), group=p.group)
            row["margin_level"] = self._level(gap)
            out.append(row)
        return out


class FromGroundTruthParams(curate.Params):
    correct: str = Field(description="Boolean column saying whether a response is right, e.g. `math_correct`, "
                                     "`code_passed` or `if_all_strict`.")
    group: str = Field("prompt_id", description="Column naming each response's prompt.")
    pairs_per_prompt: int = Field(1, ge=1, description="Most pairs per prompt (each a correct vs an incorrect "
                                                       "response, drawn without repeating a pairing).")
    seed: int = Field(0, description="Seed of the choice of pairs, so that reruns give the same pairs.")

    @model_validator(mode="after")
    def _named(self) -> "FromGroundTruthParams":
        if not self.correct:
            raise ValueError("`correct` must name a column")
        return self


class FromGroundTruth(curate.Judge):
    """Pair a correct response (chosen) with an incorrect one (rejected) per prompt, by ground truth."""

    name = "pairs.from_ground_truth"
    Params = FromGroundTruthParams
    batch_size = 100_000
    writes = ("chosen", "rejected", "chosen_id", "rejected_id")

    def group_keys(self) -> list[str]:
        return [self.params.group]

    def input_columns(self) -> list[str | tuple[str, ...]]:
        return [self.params.group, self.params.correct, "response"]

    def dropped_columns(self) -> list[str]:
        return ["response", "finish_reason", "response_index", self.params.correct]

    def process_batch(self, df: pl.DataFrame) -> curate.StageOutput:
        p = self.params
        _groups.check_group_columns(df, [p.group, p.correct, "response"], self.where)
        dtype = df.schema[p.correct]
        if dtype not in (pl.Boolean, pl.Null):
            raise curate.DataError(f"column {p.correct!r} holds {dtype}, not true/false", where=self.where,
                                   hint="point `correct` at a boolean column such as math_correct or code_passed")
        indexed = df.with_row_index("__row")
        pairs, reasons = [], {}
        for (group,), rows in indexed.group_by(p.group, maintain_order=True):
            rows = rows.sort([c for c in ("response_index", "id") if c in rows.columns] or "__row", maintain_order=True)
            right = [r for r in rows.iter_rows(named=True) if r[p.correct] is True]
            wrong = [r for r in rows.iter_rows(named=True) if r[p.correct] is False]
            for r in rows.iter_rows(named=True):
                if r[p.correct] is None:
                    reasons[r["__row"]] = f"{p.correct} is unknown (null)"
            if not right or not wrong:
                why = "every response is correct" if right else \
                    ("every response is wrong" if wrong else "no response could be checked")
                for r in right + wrong:
                    reasons[r["__row"]] = f"no pair for prompt {group}: {why}"
                continue
            combos = [(a, b) for a in right for b in wrong]
            # Seeded per prompt, so a prompt's pairs do not depend on which batch it landed in.
            rng = random.Random(f"{p.seed}:{group}")
            picked = combos if len(combos) <= p.pairs_per_prompt else rng.sample(combos, p.pairs_per_prompt)
            prompt = _groups.prompt_part(rows)
            for k, (chosen, rejected) in enumerate(picked):
                pairs.append(_groups.pair_row(prompt, chosen, rejected, score=None, k=k, group=p.group))
        self.ctx.count("pairs", len(pairs))
        return curate.StageOutput(_groups.frame(pairs, df), _groups.removed(indexed, reasons))
