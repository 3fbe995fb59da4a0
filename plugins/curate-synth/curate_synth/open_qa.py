"""``generate.open_qa``: Nemotron-4's open Q&A prompts.

Questions about each topic, then a revision pass that makes each more detailed and specific
(context, a format or length requirement), keeping both versions. Reads topic rows, e.g. from
``generate.topics``.
"""

from __future__ import annotations

import polars as pl
from pydantic import Field

import curate
from curate_synth._prompts import BoundsParams, REASON, PromptMix, RevisedParams, items_model, text_column, text_model


class OpenQAParams(RevisedParams, BoundsParams):
    topic_column: str = Field("topic", description="Column holding each row's topic.")
    questions_per_topic: int = Field(3, ge=1, description="Questions asked for per topic.")


class OpenQA(PromptMix):
    """Write open questions per topic, then revise each to be more detailed and specific (both kept)."""

    name = "generate.open_qa"
    Params = OpenQAParams
    task = "open_qa"
    templates = {"open_qa_questions": ("topic", "domain", "n"),
                 "open_qa_revision": ("question", "topic", "domain")}

    def input_columns(self) -> list[str | tuple[str, ...]]:
        return [self.params.topic_column]

    def output_columns(self) -> list[str]:
        both = ["prompt_original"] if self.params.keep == "both" else []
        return ["prompt", *both, "task", "prompt_generation"]

    def progress_total(self, rows_in: int) -> int | None:
        p = self.params
        topics = min(rows_in, -(-p.limit // p.questions_per_topic)) if p.limit else rows_in
        questions = topics * p.questions_per_topic
        return topics + (0 if p.keep == "original" else min(questions, p.limit or questions)) or None

    def process_batch(self, df: pl.DataFrame) -> curate.StageOutput:
        p = self.params
        topics = text_column(df, p.topic_column, self.where)
        domains = df["domain"].cast(pl.Utf8).to_list() if "domain" in df.columns else [None] * df.height
        ids = df["id"].to_list()
        failed = {i: f"empty {p.topic_column!r}" for i in range(df.height) if not (topics[i] or "").strip()}
        usable = [i for i in range(df.height) if i not in failed]
        chosen = [usable[j] for j in self.choose(len(usable), p.questions_per_topic)]
        self.count_unused(len(usable) - len(chosen))
        render = self.template("open_qa_questions").render
        answers = self.ask([(f"{ids[i]}/{self.task}", render(topic=topics[i], domain=domains[i],
                                                             n=p.questions_per_topic)) for i in chosen],
                           items_model(p.questions_per_topic, p.max_item_chars))
        firsts = []
        for i, answer in zip(chosen, answers):
            questions = self.in_answer(answer.value.items, answer.raw)[:p.questions_per_topic] if answer.ok else []
            if not questions:
                failed[i] = self.unusable(answer, "questions")
            firsts += [{"__row": i, "id": f"{ids[i]}/{self.task}/{k}", "prompt": q} for k, q in enumerate(questions)]
        firsts = self.cut(firsts)
        revised, rejected = self.revise(
            firsts, "open_qa_revision", text_model("RevisedQuestion", "question", p.max_item_chars), "question",
            lambda row: {"question": row["prompt"], "topic": topics[row["__row"]], "domain": domains[row["__row"]]})
        used = ["open_qa_questions"] + ([] if p.keep == "original" else ["open_qa_revision"])
        for row in revised:
            row.update(task=self.task, prompt_generation=self.provenance(
                used, topic=topics[row["__row"]], domain=domains[row["__row"]], parent_id=ids[row["__row"]]))
        self.report_diversity([row["prompt"] for row in revised])
        schema = {"id": pl.Utf8, "prompt": pl.Utf8, **({"prompt_original": pl.Utf8} if p.keep == "both" else {}),
                  "task": pl.Utf8, "prompt_generation": pl.Utf8}
        return self.output(self.expand(df, revised, schema), self.removed(df, failed),
                           self.expand(df, rejected, {"id": pl.Utf8, "prompt": pl.Utf8, REASON: pl.Utf8}))
