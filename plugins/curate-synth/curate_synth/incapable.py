"""``generate.incapable``: requests a text-only model cannot fulfil, each with a refusal.

Nemotron-4 teaches its model to decline what it cannot do (browse the web, know today's news,
act in the physical world, ...). For each category (configurable: a name, what the model lacks,
and example requests shown to the model as few-shot examples) the model writes new requests of
that kind; near-duplicates are removed; then the model writes, for each request, a refusal
that says briefly why it cannot do it and offers what it can do instead. A source stage: it
makes rows from its params alone.
"""

from __future__ import annotations

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, field_validator

import curate
from curate_synth._base import SynthGenerator, near_duplicates
from curate_synth._prompts import BoundsParams, items_model, text_model


class Category(BaseModel):
    """A kind of request a text model cannot fulfil."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, description="Short name, e.g. `internet access` (kept in the `category` column).")
    description: str = Field(min_length=1, description="What the model lacks, in a sentence (shown to the model).")
    examples: list[str] = Field(default_factory=list, description="Example requests of this kind (few-shot).")

    @field_validator("name", "description")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()


#: Categories written for this project; a recipe sets its own.
DEFAULT_CATEGORIES = [
    Category(name="internet access", description="It cannot open links, browse websites or search the web.",
             examples=["Go to this link and summarize the article for me: https://example.com/news/42",
                       "Search online for the cheapest flight from Lisbon to Oslo next Friday."]),
    Category(name="real-time information", description="It has no live data: no current news, prices, weather, "
                                                       "scores or the time right now.",
             examples=["What is the EUR to USD exchange rate at this moment?",
                       "Who is winning the football match that is on right now?"]),
    Category(name="physical actions", description="It has no body and cannot act in the physical world.",
             examples=["Can you water the plants on my balcony while I'm away?",
                       "Please go and check whether I locked the front door."]),
    Category(name="personal devices and accounts", description="It cannot reach the user's devices, files, email, "
                                                               "calendar or accounts, nor send messages or pay.",
             examples=["Read my last three emails and tell me which one is urgent.",
                       "Transfer 50 dollars from my savings account to my sister."]),
    Category(name="senses and media", description="It reads text only: it cannot hear, see, smell or play audio "
                                                  "and video.",
             examples=["Listen to the song playing in my kitchen and tell me its name.",
                       "Does the soup I just made smell burnt to you?"]),
    Category(name="memory of past conversations", description="It does not remember earlier, separate "
                                                              "conversations with the user.",
             examples=["What was the name of the restaurant I told you about last week?",
                       "Continue the story we started writing together yesterday."]),
]


class IncapableParams(BoundsParams):
    categories: list[Category] = Field(default_factory=lambda: list(DEFAULT_CATEGORIES), min_length=1,
                                       description="Kinds of requests to write: each `{name, description, examples}` "
                                                   "(examples are shown to the model as few-shot examples).")
    requests_per_category: int = Field(10, ge=1, description="Requests asked for per category.")
    dedup_threshold: float = Field(0.8, gt=0, le=1, description="Word-set Jaccard at or above which two requests count "
                                                                "as near-duplicates (the later one is removed).")

    @field_validator("categories")
    @classmethod
    def _unique_names(cls, value: list[Category]) -> list[Category]:
        names = [c.name for c in value]
        if len(set(names)) != len(names):
            raise ValueError(f"category names repeat: {names}")
        return value


class Incapable(curate.Source, SynthGenerator):
    """Write requests a text-only model cannot fulfil (few-shot, per category), each with a refusal (a source)."""

    name = "generate.incapable"
    Params = IncapableParams
    task = "incapable"
    templates = {"incapable_requests": ("category", "description", "examples", "n"),
                 "incapable_refusal": ("request", "category", "description")}
    writes = ("prompt", "response", "category", "task", "prompt_generation")

    def preview_columns(self, ctx: curate.StageContext) -> list[str]:
        return list(self.writes)

    def progress_total(self, rows_in: int) -> int | None:
        p = self.params
        return len(p.categories) * (1 + p.requests_per_category)

    def read(self) -> pl.DataFrame:
        p = self.params
        render = self.template("incapable_requests").render
        asks = [(f"incapable/{c.name}", render(category=c.name, description=c.description, examples=c.examples,
                                               n=p.requests_per_category)) for c in p.categories]
        found: list[tuple[Category, str]] = []
        for category, answer in zip(p.categories, self.ask(asks, items_model(p.requests_per_category, p.max_item_chars))):
            items = self.in_answer(answer.value.items, answer.raw)[:p.requests_per_category] if answer.ok else []
            if not items:
                self.ctx.count("categories_failed")
                self.ctx.log.warning("%s: %s", self.where, self.failure(answer, f"requests for {category.name!r}")
                                     if not answer.ok else f"requests for {category.name!r}: no item of the answer "
                                                           f"appears in its text; raw answer: {(answer.raw or '')[:500]!r}")
            found += [(category, item) for item in items]
        dupes = near_duplicates([request for _, request in found], p.dedup_threshold)
        self.ctx.count("near_duplicates_removed", len(dupes))
        found = [pair for i, pair in enumerate(found) if i not in dupes]
        render = self.template("incapable_refusal").render
        asks = [(f"incapable/{c.name}/{k}/refusal", render(request=r, category=c.name, description=c.description))
                for k, (c, r) in enumerate(found)]
        rows, seen = [], {}
        refusals = self.ask(asks, text_model("Refusal", "response", p.max_item_chars))
        for (category, request), answer in zip(found, refusals):
            if not answer.ok:
                # A source has no removed rows: the failure is counted and logged with the raw text.
                self.ctx.count("refusals_failed")
                self.ctx.log.warning("%s: %s", self.where, self.failure(answer, f"refusal to {request[:80]!r}"))
                continue
            k = seen[category.name] = seen.get(category.name, -1) + 1
            rows.append({"id": f"incapable/{category.name}/{k}", "prompt": request, "response": answer.value.response,
                         "category": category.name, "task": self.task,
                         "prompt_generation": self.provenance(["incapable_requests", "incapable_refusal"],
                                                              category=category.name)})
        self.report_diversity([r["prompt"] for r in rows])
        if not rows:
            raise curate.DataError(f"{self.where}: the model gave no usable request with a refusal",
                                   hint="check the engine and the templates; parse failures are in the log")
        return pl.DataFrame(rows)
