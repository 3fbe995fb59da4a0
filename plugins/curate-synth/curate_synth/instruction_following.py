"""``generate.instruction_following``: prompts with verifiable constraints, in IFEval's data format.

Each input prompt gets one or more constraints drawn (seeded by the row) from IFEval's catalog
(``curate_judges.ifeval``, the same one ``judge.instruction_following`` checks with): no two
that IFEval lists as conflicting, kwargs that one response can satisfy together, worded in
plain English and appended to the prompt. The row records them as IFEval does:
``instruction_id_list`` (``["length_constraints:number_words", ...]``) and ``kwargs`` (one dict
per id), so the verifier checks the responses ``generate.responses`` writes.

Multi-turn (``multi_turn: true``): the engine first answers the plain prompt, and the constraints
come in a second user turn (``messages``: user, assistant, user), as Nemotron-4 does.
"""

from __future__ import annotations

from typing import Any

import polars as pl
from curate_judges import ifeval
from pydantic import Field, field_validator, model_validator

import curate
from curate_synth import _constraints as constraints
from curate_synth._prompts import MixParams, PromptMix, text_column

#: Columns describing an answered prompt that no longer describe the row once constraints change it.
STALE = ("response", "finish_reason", "prompt_id", "response_index", "generation", "if_follow_strict",
         "if_follow_loose", "if_all_strict", "if_all_loose")


class InstructionFollowingParams(MixParams):
    engine: curate.EngineRef | None = Field(
        None, description="Engine that answers the first turn in multi-turn mode (default there: `default`). "
                          "Single-turn rows need no engine.")
    column: str = Field("prompt", description="Column holding each row's prompt.")
    instruction_ids: list[str] | None = Field(
        None, min_length=1,
        description="IFEval instruction ids to draw from (e.g. `length_constraints:number_words`); default: every "
                    "id of the catalog except `detectable_format:constrained_response` (yes/no questions only). An id "
                    "the catalog lacks is a validation error.")
    min_constraints: int = Field(1, ge=1, description="Fewest constraints per prompt.")
    max_constraints: int = Field(3, ge=1, description="Most constraints per prompt (the number is drawn per row).")
    multi_turn: bool = Field(False, description="Put the constraints in a second user turn after the engine's answer "
                                                "to the plain prompt (`messages`), instead of appending them to the "
                                                "prompt (`prompt`).")

    @model_validator(mode="before")
    @classmethod
    def _engine_for_multi_turn(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("multi_turn") and data.get("engine") is None:
            data = {**data, "engine": "default"}
        return data

    @field_validator("instruction_ids")
    @classmethod
    def _known_ids(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        for instruction_id in value:
            try:
                ifeval.instruction(instruction_id)
            except ifeval.UnknownInstruction as err:
                raise ValueError(f"{err}; IFEval's ids are listed in docs/plugins/synth.md") from None
        return list(dict.fromkeys(value))

    @model_validator(mode="after")
    def _drawable(self) -> "InstructionFollowingParams":
        if self.min_constraints > self.max_constraints:
            raise ValueError(f"min_constraints ({self.min_constraints}) is above max_constraints ({self.max_constraints})")
        if self.multi_turn:
            bad = [i for i in self.instruction_ids or () if i in constraints.SINGLE_TURN_ONLY]
            if bad:
                raise ValueError(f"{', '.join(bad)} cannot be asked in a second turn (`multi_turn`): drop it from "
                                 "instruction_ids")
        most = constraints.largest_compatible(self.pool())
        if most < self.min_constraints:
            raise ValueError(f"instruction_ids allow at most {most} constraint(s) per prompt without a conflict, "
                             f"fewer than min_constraints ({self.min_constraints})")
        return self

    def pool(self) -> list[str]:
        """The ids constraints are drawn from."""
        if self.instruction_ids is not None:
            return list(self.instruction_ids)
        left_out = set(constraints.DEFAULT_EXCLUDED) | (set(constraints.SINGLE_TURN_ONLY) if self.multi_turn else set())
        return [i for i in ifeval.INSTRUCTION_IDS if i not in left_out]


class InstructionFollowing(PromptMix):
    """Add verifiable IFEval constraints to prompts (in the prompt, or in a second user turn)."""

    name = "generate.instruction_following"
    Params = InstructionFollowingParams
    task = "instruction_following"
    templates = {"instruction_following": ("prompt", "constraints", "instruction_ids"),
                 "instruction_following_turn": ("prompt", "constraints", "instruction_ids")}

    def input_columns(self) -> list[str | tuple[str, ...]]:
        return [self.params.column]

    def output_columns(self) -> list[str]:
        return ["messages" if self.params.multi_turn else "prompt", "instruction_id_list", "kwargs", "task",
                "prompt_generation"]

    def dropped_columns(self) -> list[str]:
        return [*STALE, "prompt" if self.params.multi_turn else "messages"]

    def progress_total(self, rows_in: int) -> int | None:
        return min(rows_in, self.params.limit or rows_in) or None

    def process_batch(self, df: pl.DataFrame) -> curate.StageOutput:
        p = self.params
        prompts = text_column(df, p.column, self.where)
        ids = df["id"].to_list()
        failed = {i: f"empty {p.column!r}" for i in range(df.height) if not (prompts[i] or "").strip()}
        usable = [i for i in range(df.height) if i not in failed]
        chosen = [usable[j] for j in self.choose(len(usable), 1)]
        self.count_unused(len(usable) - len(chosen))
        pool = p.pool()
        drawn: dict[int, tuple[list[str], list[dict[str, Any]], list[str]]] = {}
        for i in chosen:
            rng = self.rng(ids[i])
            picked = constraints.draw_ids(rng, pool, rng.randint(p.min_constraints, p.max_constraints),
                                          p.min_constraints, prompts[i].strip())
            if picked is None:
                failed[i] = (f"could not draw {p.min_constraints} constraints without a conflict from "
                             f"{len(pool)} instruction ids")
                continue
            kwargs = constraints.draw_kwargs(rng, picked, prompts[i].strip())
            drawn[i] = picked, kwargs, [constraints.describe(a, kw, rng) for a, kw in zip(picked, kwargs)]
        answers = self._first_answers(prompts, ids, list(drawn), failed) if p.multi_turn else {}
        rows = []
        for i, (picked, kwargs, texts) in drawn.items():
            if p.multi_turn and i not in answers:
                continue
            values = {"prompt": prompts[i].strip(), "constraints": texts, "instruction_ids": picked}
            row: dict[str, Any] = {"__row": i, "id": f"{ids[i]}/{self.task}/0", "instruction_id_list": picked,
                                   "kwargs": kwargs, "task": self.task}
            if p.multi_turn:
                turn = self.template("instruction_following_turn").render(**values)
                row["messages"] = [{"role": "user", "content": values["prompt"]},
                                   {"role": "assistant", "content": answers[i]}, {"role": "user", "content": turn}]
                used = ["instruction_following_turn"]
            else:
                row["prompt"] = self.template("instruction_following").render(**values)
                used = ["instruction_following"]
            row["prompt_generation"] = self.provenance(used, parent_id=ids[i], instruction_ids=picked)
            rows.append(row)
            for instruction_id in picked:
                self.ctx.count(f"constraint {instruction_id}")
        rows = self.cut(rows)
        if not p.multi_turn:
            self.ctx.advance(len(drawn))
        self.report_diversity([r["messages"][-1]["content"] if p.multi_turn else r["prompt"] for r in rows])
        if rows:
            self.ctx.metric("constraints_per_prompt", sum(len(r["instruction_id_list"]) for r in rows) / len(rows),
                            weight=len(rows))
        text = {"messages": curate.MESSAGES} if p.multi_turn else {"prompt": pl.Utf8}
        schema = {"id": pl.Utf8, **text, "instruction_id_list": pl.List(pl.Utf8),
                  "kwargs": constraints.kwargs_dtype(), "task": pl.Utf8, "prompt_generation": pl.Utf8}
        kept = self.expand(df, rows, schema, drop=tuple(self.dropped_columns()))
        return curate.StageOutput(kept, self.removed(df, failed))

    def _first_answers(self, prompts: list[str], ids: list[str], rows: list[int], failed: dict[int, str]) -> dict[int, str]:
        """The engine's answers to the plain prompts (multi-turn); failures go to ``failed``."""
        results = self.chat([(f"{ids[i]}/{self.task}/answer", [{"role": "user", "content": prompts[i].strip()}])
                             for i in rows])
        self.ctx.advance(len(results))
        answers = {}
        for i, result in zip(rows, results):
            text = result.completions[0].text.strip() if result.ok and result.completions else ""
            if text:
                answers[i] = text
            else:
                failed[i] = self.failure(result, "first answer") if not result.ok else "first answer failed: empty answer"
        return answers
