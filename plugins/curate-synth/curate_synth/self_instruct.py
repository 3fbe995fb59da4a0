"""``generate.self_instruct``: new coding problems from seed problems (Self-Instruct, as Llama 3
makes code SFT prompts).

For each seed row the model sees a few seed problems (the row's own plus others drawn, seeded,
from the batch) and writes ``new_per_seed`` new problems of the same kind: different tasks, not
rewordings. A new problem that nearly repeats one of the examples it was shown, or another new
problem of the same request, is removed with the reason (run ``dedup.minhash`` afterwards to
compare across requests).
"""

from __future__ import annotations

import polars as pl
from pydantic import Field

import curate
from curate_synth._base import near_duplicates
from curate_synth._prompts import REASON, BoundsParams, MixParams, PromptMix, items_model, text_column

#: Columns describing a seed's answer, which a new problem does not have.
STALE = ("response", "finish_reason", "prompt_id", "response_index", "generation", "messages", "code")


class SelfInstructParams(MixParams, BoundsParams):
    column: str = Field("prompt", description="Column holding each seed problem.")
    new_per_seed: int = Field(3, ge=1, description="New problems asked for per seed row.")
    examples: int = Field(3, ge=1, description="Seed problems shown per request: the row's own plus others drawn "
                                               "(seeded) from the batch.")
    language: str = Field("Python", min_length=1, description="Programming language the problems are for.")
    dedup_threshold: float = Field(0.7, gt=0, le=1, description="Word-set Jaccard at or above which a new problem "
                                                                "counts as repeating an example or a sibling (removed).")


class SelfInstruct(PromptMix):
    """Write new coding problems from a few seed problems shown as examples (Self-Instruct)."""

    name = "generate.self_instruct"
    Params = SelfInstructParams
    task = "code"
    templates = {"self_instruct": ("examples", "n", "language")}
    writes = ("prompt", "task", "prompt_generation")

    def input_columns(self) -> list[str | tuple[str, ...]]:
        return [self.params.column]

    def dropped_columns(self) -> list[str]:
        return list(STALE)

    def progress_total(self, rows_in: int) -> int | None:
        p = self.params
        return (min(rows_in, -(-p.limit // p.new_per_seed)) if p.limit else rows_in) or None

    def process_batch(self, df: pl.DataFrame) -> curate.StageOutput:
        p = self.params
        seeds = [(s or "").strip() for s in text_column(df, p.column, self.where)]
        ids = df["id"].to_list()
        failed = {i: f"empty {p.column!r}" for i in range(df.height) if not seeds[i]}
        usable = [i for i in range(df.height) if i not in failed]
        chosen = [usable[j] for j in self.choose(len(usable), p.new_per_seed)]
        self.count_unused(len(usable) - len(chosen))
        shown = {i: [seeds[i]] + [seeds[j] for j in self.rng(ids[i], "examples").sample(
            [u for u in usable if u != i], min(p.examples - 1, len(usable) - 1))] for i in chosen}
        render = self.template("self_instruct").render
        answers = self.ask([(f"{ids[i]}/{self.task}", render(examples=shown[i], n=p.new_per_seed, language=p.language))
                            for i in chosen], items_model(p.new_per_seed, p.max_item_chars))
        rows, rejected = [], []
        for i, answer in zip(chosen, answers):
            items = self.in_answer(answer.value.items, answer.raw)[:p.new_per_seed] if answer.ok else []
            if not items:
                failed[i] = self.unusable(answer, "new problems")
                continue
            dupes = near_duplicates(shown[i] + items, p.dedup_threshold)
            for k, item in enumerate(items):
                row = {"__row": i, "id": f"{ids[i]}/{self.task}/{k}", "prompt": item}
                j = dupes.get(len(shown[i]) + k)
                if j is None:
                    rows.append(row)
                elif j < len(shown[i]):
                    example = shown[i][j][:200]
                    rejected.append({**row, REASON: f"near-duplicate of an example it was shown: {example!r}"})
                else:
                    rejected.append({**row, REASON: f"near-duplicate of {ids[i]}/{self.task}/{j - len(shown[i])}"})
        self.ctx.count("near_duplicates_removed", len(rejected))
        rows = self.cut(rows)
        for row in rows:
            i = row["__row"]
            row.update(task=self.task, prompt_generation=self.provenance(
                ["self_instruct"], parent_id=ids[i], examples=shown[i], language=p.language))
        self.report_diversity([r["prompt"] for r in rows])
        schema = {"id": pl.Utf8, "prompt": pl.Utf8, "task": pl.Utf8, "prompt_generation": pl.Utf8}
        kept = self.expand(df, rows, schema, drop=STALE)
        removed = [r for r in (self.removed(df, failed),) if r is not None]
        if rejected:
            removed.append(self.expand(df, rejected, {"id": pl.Utf8, "prompt": pl.Utf8, REASON: pl.Utf8}, drop=STALE))
        return curate.StageOutput(kept, pl.concat(removed, how="diagonal_relaxed") if removed else None)
