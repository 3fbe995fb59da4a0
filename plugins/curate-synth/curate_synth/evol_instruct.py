"""``generate.evol_instruct``: coding problems evolved over rounds (Evol-Instruct, for code SFT seeds).

Each round rewrites every row's problem with one operation, drawn (seeded) per row and round:
deepening (``add_constraints``, ``deepen``, ``concretize``, ``increase_reasoning``: the same task
made harder) or widening (``breadth``: a new problem in the same domain). Round *r* rewrites
round *r-1*'s problem. An evolution that fails — no usable answer, the problem unchanged, the
instructions' own words copied into it, a deepening that lost most of the problem — is removed
with the reason and ends that row's chain. ``keep: all`` keeps every successful round as a row,
``keep: last`` only each chain's last successful one.
"""

from __future__ import annotations

import re
from typing import Literal

import polars as pl
from pydantic import Field

import curate
from curate_synth._prompts import REASON, BoundsParams, MixParams, PromptMix, text_column, text_model
from curate_synth.self_instruct import STALE

Operation = Literal["add_constraints", "deepen", "concretize", "increase_reasoning", "breadth"]
OPERATIONS: tuple[str, ...] = Operation.__args__  # type: ignore[attr-defined]

#: Words of our templates that an evolved problem should never contain (the model copied the task).
_LEAKS = re.compile(r"rewritten problem|given problem|original problem|#\s*problem\s*#|the rewrite", re.IGNORECASE)
_WORDS = re.compile(r"[0-9a-z]+")


class EvolInstructParams(MixParams, BoundsParams):
    column: str = Field("prompt", description="Column holding each seed problem.")
    rounds: int = Field(3, ge=1, description="Rounds of evolution: each rewrites the previous round's problem.")
    operations: list[Operation] = Field(list(OPERATIONS), min_length=1,
                                        description="Operations drawn from (seeded, per row and round): `add_constraints`, "
                                                    "`deepen`, `concretize`, `increase_reasoning` (deepening) and "
                                                    "`breadth` (a new problem in the same domain).")
    keep: Literal["all", "last"] = Field("all", description="`all`: a row per successful round; `last`: only each "
                                                            "chain's last successful round.")
    language: str = Field("Python", min_length=1, description="Programming language the problems are for.")


class EvolInstruct(PromptMix):
    """Evolve coding problems over rounds with Evol-Instruct's deepening and widening operations."""

    name = "generate.evol_instruct"
    Params = EvolInstructParams
    task = "code"
    templates = {f"evol_{op}": ("problem", "language") for op in OPERATIONS}
    writes = ("prompt", "evol_operation", "evol_round", "task", "prompt_generation")

    def input_columns(self) -> list[str | tuple[str, ...]]:
        return [self.params.column]

    def dropped_columns(self) -> list[str]:
        return list(STALE)

    def progress_total(self, rows_in: int) -> int | None:
        p = self.params
        per_seed = p.rounds if p.keep == "all" else 1
        seeds = min(rows_in, -(-p.limit // per_seed)) if p.limit else rows_in
        return seeds * p.rounds or None

    def process_batch(self, df: pl.DataFrame) -> curate.StageOutput:
        p = self.params
        seeds = [(s or "").strip() for s in text_column(df, p.column, self.where)]
        ids = df["id"].to_list()
        failed = {i: f"empty {p.column!r}" for i in range(df.height) if not seeds[i]}
        usable = [i for i in range(df.height) if i not in failed]
        chosen = [usable[j] for j in self.choose(len(usable), p.rounds if p.keep == "all" else 1)]
        self.count_unused(len(usable) - len(chosen))
        current = {i: seeds[i] for i in chosen}
        chains: dict[int, list[str]] = {i: [] for i in chosen}
        rows: dict[int, list[dict]] = {i: [] for i in chosen}
        rejected = []
        active = list(chosen)
        for round_ in range(1, p.rounds + 1):
            ops = {i: self.rng(ids[i], "round", round_).choice(p.operations) for i in active}
            asks = [(f"{ids[i]}/{self.task}/{round_ - 1}",
                     self.template(f"evol_{ops[i]}").render(problem=current[i], language=p.language)) for i in active]
            going = []
            for i, answer in zip(active, self.ask(asks, text_model("Evolved", "problem", p.max_item_chars))):
                row = {"__row": i, "id": f"{ids[i]}/{self.task}/{round_ - 1}", "evol_operation": ops[i],
                       "evol_round": round_}
                why = self.unusable(answer, f"evolution ({ops[i]})") if not answer.ok else \
                    _failed_evolution(current[i], answer.value.problem, ops[i])
                if why:
                    self.ctx.count("evolutions_failed")
                    rejected.append({**row, "prompt": answer.value.problem if answer.ok else None,
                                     REASON: f"round {round_}: {why}"})
                    continue
                chains[i].append(ops[i])
                current[i] = answer.value.problem
                rows[i].append({**row, "prompt": current[i], "task": self.task,
                                "prompt_generation": self.provenance([f"evol_{op}" for op in dict.fromkeys(chains[i])],
                                                                     parent_id=ids[i], operations=list(chains[i]),
                                                                     language=p.language)})
                going.append(i)
            active = going
        kept_rows = [r for i in chosen for r in (rows[i] if p.keep == "all" else rows[i][-1:])]
        kept_rows = self.cut(kept_rows)
        self.report_diversity([r["prompt"] for r in kept_rows])
        schema = {"id": pl.Utf8, "prompt": pl.Utf8, "evol_operation": pl.Utf8, "evol_round": pl.Int64,
                  "task": pl.Utf8, "prompt_generation": pl.Utf8}
        kept = self.expand(df, kept_rows, schema, drop=STALE)
        removed = [r for r in (self.removed(df, failed),) if r is not None]
        if rejected:
            removed.append(self.expand(df, rejected, {"id": pl.Utf8, "prompt": pl.Utf8, "evol_operation": pl.Utf8,
                                                      "evol_round": pl.Int64, REASON: pl.Utf8}, drop=STALE))
        return curate.StageOutput(kept, pl.concat(removed, how="diagonal_relaxed") if removed else None)


def _failed_evolution(before: str, after: str, operation: str) -> str | None:
    """Why an evolved problem is not a usable evolution of ``before`` (WizardLM's elimination
    checks, adapted), or ``None``."""
    old, new = _WORDS.findall(before.lower()), _WORDS.findall(after.lower())
    if old == new:
        return "the problem came back unchanged"
    if _LEAKS.search(after):
        return f"it copies the instructions' words ({_LEAKS.search(after).group(0)!r}) into the problem"
    if operation != "breadth" and len(new) < len(old) / 2:
        return f"{operation} made the problem much shorter ({len(new)} words from {len(old)})"
    return None
