"""``generate.writing``: Nemotron-4's writing prompts.

Requests for a kind of text (essay, poem, email, ...) about each topic — every topic with every
text type, or ``types_per_topic`` types drawn per topic — then a revision pass that adds
requirements (length, structure, tone, audience), keeping both versions.
"""

from __future__ import annotations

import polars as pl
from pydantic import Field, field_validator

import curate
from curate_synth._prompts import BoundsParams, REASON, PromptMix, RevisedParams, items_model, text_column, text_model

#: Text types of the default mix; a recipe sets its own.
DEFAULT_TEXT_TYPES = ["essay", "poem", "email", "short story", "speech", "product description", "blog post",
                      "cover letter", "song lyrics", "news article", "social media post", "dialogue scene"]


class WritingParams(RevisedParams, BoundsParams):
    topic_column: str = Field("topic", description="Column holding each row's topic.")
    text_types: list[str] = Field(default_factory=lambda: list(DEFAULT_TEXT_TYPES), min_length=1,
                                  description="Kinds of text to ask for.")
    types_per_topic: int | None = Field(None, ge=1, description="Text types drawn per topic (seeded); null: every "
                                                                "topic with every text type.")
    tasks_per_type: int = Field(1, ge=1, description="Writing requests asked for per (topic, text type).")

    @field_validator("text_types")
    @classmethod
    def _no_blank(cls, value: list[str]) -> list[str]:
        if any(not t.strip() for t in value):
            raise ValueError("a text type is empty")
        return value


class Writing(PromptMix):
    """Write writing tasks per topic and text type, then revise each to add requirements (both kept)."""

    name = "generate.writing"
    Params = WritingParams
    task = "writing"
    templates = {"writing_tasks": ("topic", "domain", "text_type", "n"),
                 "writing_revision": ("task", "topic", "domain", "text_type")}

    def input_columns(self) -> list[str | tuple[str, ...]]:
        return [self.params.topic_column]

    def output_columns(self) -> list[str]:
        both = ["prompt_original"] if self.params.keep == "both" else []
        return ["prompt", *both, "text_type", "task", "prompt_generation"]

    def _types_per_topic(self) -> int:
        p = self.params
        return min(p.types_per_topic or len(p.text_types), len(p.text_types))

    def progress_total(self, rows_in: int) -> int | None:
        p = self.params
        pairs = rows_in * self._types_per_topic()
        if p.limit:
            pairs = min(pairs, -(-p.limit // p.tasks_per_type))
        tasks = min(pairs * p.tasks_per_type, p.limit or pairs * p.tasks_per_type)
        return pairs + (0 if p.keep == "original" else tasks) or None

    def process_batch(self, df: pl.DataFrame) -> curate.StageOutput:
        p = self.params
        topics = text_column(df, p.topic_column, self.where)
        domains = df["domain"].cast(pl.Utf8).to_list() if "domain" in df.columns else [None] * df.height
        ids = df["id"].to_list()
        failed = {i: f"empty {p.topic_column!r}" for i in range(df.height) if not (topics[i] or "").strip()}
        pairs = [(i, t) for i in range(df.height) if i not in failed for t in self._text_types(ids[i])]
        pairs = [pairs[j] for j in self.choose(len(pairs), p.tasks_per_type)]
        render = self.template("writing_tasks").render
        answers = self.ask([(f"{ids[i]}/{self.task}/{t}", render(topic=topics[i], domain=domains[i], text_type=t,
                                                                  n=p.tasks_per_type)) for i, t in pairs],
                           items_model(p.tasks_per_type, p.max_item_chars))
        firsts, problems, made = [], {}, {}
        for (i, text_type), answer in zip(pairs, answers):
            tasks = self.in_answer(answer.value.items, answer.raw)[:p.tasks_per_type] if answer.ok else []
            if not tasks:
                problems.setdefault(i, []).append(self.unusable(answer, f"{text_type} tasks"))
            for task in tasks:
                k = made[i] = made.get(i, -1) + 1
                firsts.append({"__row": i, "id": f"{ids[i]}/{self.task}/{k}", "prompt": task, "text_type": text_type})
        # A topic is removed only when none of its text types gave a task.
        failed.update({i: "; ".join(why) for i, why in problems.items() if i not in made})
        used_rows = {i for i, _ in pairs}
        self.count_unused(sum(1 for i in range(df.height) if i not in used_rows and (topics[i] or "").strip()))
        firsts = self.cut(firsts)
        revised, rejected = self.revise(
            firsts, "writing_revision", text_model("RevisedTask", "task", p.max_item_chars), "task",
            lambda row: {"task": row["prompt"], "topic": topics[row["__row"]], "domain": domains[row["__row"]],
                         "text_type": row["text_type"]})
        used = ["writing_tasks"] + ([] if p.keep == "original" else ["writing_revision"])
        for row in revised:
            i = row["__row"]
            row.update(task=self.task, prompt_generation=self.provenance(
                used, topic=topics[i], domain=domains[i], text_type=row["text_type"], parent_id=ids[i]))
        self.report_diversity([row["prompt"] for row in revised])
        schema = {"id": pl.Utf8, "prompt": pl.Utf8, **({"prompt_original": pl.Utf8} if p.keep == "both" else {}),
                  "text_type": pl.Utf8, "task": pl.Utf8, "prompt_generation": pl.Utf8}
        rejected_schema = {"id": pl.Utf8, "prompt": pl.Utf8, "text_type": pl.Utf8, REASON: pl.Utf8}
        return self.output(self.expand(df, revised, schema), self.removed(df, failed),
                           self.expand(df, rejected, rejected_schema))

    def _text_types(self, row_id: str) -> list[str]:
        types = self.params.text_types
        k = self._types_per_topic()
        if k >= len(types):
            return list(types)
        return self.rng("text_types", row_id).sample(types, k)
