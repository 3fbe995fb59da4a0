"""``generate.topics``: the first step of Nemotron-4's prompt pipeline, and a source stage.

Macro topics per domain, then subtopics per macro topic, near-duplicates removed. It makes rows
from its params alone, so it can start a recipe or a branch (``inputs: []``).
"""

from __future__ import annotations

import polars as pl
from pydantic import BaseModel, Field, field_validator

import curate
from curate_synth._base import SynthGenerator, SynthParams, near_duplicates

#: Nemotron-4's macro domains for open Q&A and writing; a recipe sets its own.
DEFAULT_DOMAINS = ["machine learning", "history", "health and medicine", "physics", "economics and finance",
                   "literature and writing", "everyday life", "computer programming", "law", "arts and culture"]


class Items(BaseModel):
    items: list[str] = Field(min_length=1)


class TopicsParams(SynthParams):
    domains: list[str] = Field(default_factory=lambda: list(DEFAULT_DOMAINS), min_length=1,
                               description="Domains to draw macro topics from.")
    topics_per_domain: int = Field(10, ge=1, description="Macro topics asked for per domain.")
    subtopics_per_topic: int = Field(5, ge=0, description="Subtopics asked for per macro topic (0: macro topics only).")
    dedup_threshold: float = Field(0.8, gt=0, le=1, description="Word-set Jaccard at or above which two topics "
                                                                "count as near-duplicates (the later one is removed).")

    @field_validator("domains")
    @classmethod
    def _no_blank(cls, value: list[str]) -> list[str]:
        if any(not d.strip() for d in value):
            raise ValueError("a domain is empty")
        return value


class Topics(curate.Source, SynthGenerator):
    """Generate macro topics per domain, then subtopics per topic; near-duplicates removed (a source)."""

    name = "generate.topics"
    Params = TopicsParams
    task = "topics"
    templates = {"topics": ("domain", "n"), "subtopics": ("domain", "topic", "n")}
    writes = ("topic", "parent_topic", "domain", "task", "prompt_generation")

    def preview_columns(self, ctx: curate.StageContext) -> list[str]:
        return list(self.writes)

    def progress_total(self, rows_in: int) -> int | None:
        p = self.params
        return len(p.domains) * (1 + (p.topics_per_domain if p.subtopics_per_topic else 0))

    def read(self) -> pl.DataFrame:
        p = self.params
        macro = self.ask([(f"topics/{d}", self.template("topics").render(domain=d, n=p.topics_per_domain))
                          for d in p.domains], Items)
        found: list[tuple[str, str]] = []  # (domain, topic)
        for domain, result in zip(p.domains, macro):
            if result.ok:
                found += [(domain, t) for t in self.in_answer(result.value.items, result.raw)][:p.topics_per_domain]
            else:
                self.ctx.log.warning("%s: %s", self.where, self.failure(result, f"topics for {domain!r}"))
        found = self._dedup(found)
        rows: list[dict] = []
        if p.subtopics_per_topic == 0:
            rows = [self._row(d, t, None) for d, t in found]
        else:
            asks = [(f"subtopics/{d}/{t}", self.template("subtopics").render(domain=d, topic=t, n=p.subtopics_per_topic))
                    for d, t in found]
            subs: list[tuple[str, str, str]] = []
            for (domain, topic), result in zip(found, self.ask(asks, Items)):
                if result.ok:
                    subs += [(domain, s, topic) for s in self.in_answer(result.value.items, result.raw)
                             ][:p.subtopics_per_topic]
            kept = self._dedup([(d, s) for d, s, _ in subs])
            parents = {(d, s): t for d, s, t in subs}
            rows = [self._row(d, s, parents[(d, s)]) for d, s in kept]
        self.ctx.metric("distinct_topics", len({r["topic"].lower() for r in rows}))
        if not rows:
            raise curate.DataError(f"{self.where}: the model gave no usable topics",
                                   hint="check the engine and the templates; parse failures are in the log")
        return pl.DataFrame(rows)

    def _dedup(self, pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
        dupes = near_duplicates([t for _, t in pairs], self.params.dedup_threshold)
        self.ctx.count("near_duplicates_removed", len(dupes))
        return [pair for i, pair in enumerate(pairs) if i not in dupes]

    def _row(self, domain: str, topic: str, parent: str | None) -> dict:
        used = ["topics"] + (["subtopics"] if parent else [])
        return {"id": f"topic/{domain}/{parent + '/' if parent else ''}{topic}", "topic": topic,
                "parent_topic": parent, "domain": domain, "task": self.task,
                "prompt_generation": self.provenance(used, domain=domain, parent_topic=parent)}
