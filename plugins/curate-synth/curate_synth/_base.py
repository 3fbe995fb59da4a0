"""What every synthetic-data generator shares.

* **Templates**: package data (``curate_synth/templates/<name>.j2``), replaceable per name from a
  recipe (``templates: {questions: "file:my.j2"}``); checked at validation against the variables
  the stage supplies; their hashes go into the fingerprint and into each row's provenance.
* **Asking**: JSON-schema constrained output when the engine supports it, else lenient parsing
  with bounded re-asks (``curate.generate_structured``); list items that do not appear in the raw
  answer are discarded; failures become removed rows with the raw text, never empty prompts.
* **Determinism**: every random choice comes from :meth:`SynthGenerator.rng`, seeded by the
  stage's ``seed`` and the row, so the same recipe gives the same requests (and the request cache
  makes reruns free) whatever the batching.
* **Provenance**: ``prompt_generation`` (JSON) on every row: stage, task, templates (name, hash),
  engine, model, sampling and the seed inputs (topic, keyword, document, persona, constraints).
* **Diversity**: ``distinct_2`` (distinct word bigrams / bigrams of the generated texts) and
  counters for parse failures, re-asks and near-duplicates removed, in the stage stats.
"""

from __future__ import annotations

import json
import random
import re
from typing import Any, ClassVar, Iterable, TypeVar

import polars as pl
from pydantic import BaseModel, Field, ValidationError

import curate

T = TypeVar("T", bound=BaseModel)

_ALNUM = re.compile(r"[^0-9a-z]+")


class SynthParams(curate.Params, curate.SamplingParams):
    engine: curate.EngineRef = Field(curate.EngineRef("default"), description="Engine that writes the text.")
    seed: int = Field(0, description="Seed of every random choice and of sampling: the same seed gives the same "
                                     "requests.")
    temperature: float = Field(0.8, ge=0, description="Sampling temperature; 0 is greedy.")
    max_tokens: int = Field(1024, ge=1, description="Maximum tokens per answer.")
    max_reasks: int = Field(2, ge=0, description="Re-asks after an answer that cannot be parsed.")
    templates: dict[str, str] = Field(default_factory=dict,
                                      description="Replace templates by name: inline Jinja or `file:<path>` "
                                                  "(see `curate describe` for each stage's template names and variables).")


class SynthGenerator(curate.Generator):
    """Base of the prompt generators (not registered itself)."""

    Params = SynthParams
    #: template name -> the variables the stage supplies to it
    templates: ClassVar[dict[str, tuple[str, ...]]] = {}
    #: the ``task`` column of the rows it makes (the branch of the prompt mix)
    task: ClassVar[str] = ""
    reports_progress = True

    # --- templates ------------------------------------------------------------------------------
    def cache_key(self) -> dict[str, Any]:
        unknown = sorted(set(self.params.templates) - set(self.templates))
        if unknown:
            raise curate.RecipeError(f"{self.name} has no template {', '.join(repr(u) for u in unknown)}",
                                     where=self.where, hint=f"its templates are: {', '.join(sorted(self.templates))}")
        return {"templates": {name: self.template(name).sha for name in sorted(self.templates)}}

    def template(self, name: str) -> curate.Template:
        cache = self.__dict__.setdefault("_templates", {})
        if name not in cache:
            default = curate.package_template("curate_synth", f"{name}.j2")
            loaded = curate.load_template(self.params.templates.get(name), default, base_dir=self.ctx.recipe_dir,
                                          param=f"templates.{name}", where=self.where)
            cache[name] = loaded.check(set(self.templates[name]), where=self.where)
        return cache[name]

    # --- randomness -----------------------------------------------------------------------------
    def rng(self, *parts: Any) -> random.Random:
        """A random generator seeded by the stage seed and ``parts`` (a row id, a topic ...)."""
        return random.Random(":".join([str(self.params.seed), self.name, *map(str, parts)]))

    # --- asking ---------------------------------------------------------------------------------
    def sampling(self, **overrides: Any) -> curate.SamplingParams:
        return curate.SamplingParams.from_params(self.params, **overrides)

    def _on_result(self, result: curate.ChatResult) -> None:
        self.ctx.count("requests_cached" if result.cached else "requests_sent")
        if not result.ok:
            self.ctx.count("requests_failed")

    def ask(self, prompts: list[tuple[str, str]], model: type[T], *,
            system: str | None = None, engine: str | None = None) -> list[curate.StructuredResult[T]]:
        """Ask ``(request id, user message)`` pairs for answers shaped like ``model`` (one each),
        of ``engine`` (a recipe engine name from the params; default: the ``engine`` param)."""
        if not prompts:
            return []
        engine = self.ctx.engine(engine or self.params.engine)
        head = [{"role": "system", "content": system}] if system else []
        requests = [curate.ChatRequest(rid, head + [{"role": "user", "content": text}], self.sampling(n=1))
                    for rid, text in prompts]
        results = [r[0] for r in curate.generate_structured(engine, requests, model, max_reasks=self.params.max_reasks,
                                                            on_result=self._on_result)]
        for r in results:
            _prefer_whole_json(r, model)
            self.ctx.advance(1)
            if r.attempts > 1:
                self.ctx.count("reasks", r.attempts - 1)
            if not r.ok:
                self.ctx.count("parse_failures")
        return results

    def chat(self, conversations: list[tuple[str, list[dict[str, str]]]], *, engine: str | None = None,
             **sampling: Any) -> list[curate.ChatResult]:
        """Free-text completions of ``(request id, messages)``."""
        if not conversations:
            return []
        target = self.ctx.engine(engine or self.params.engine)
        params = self.sampling(n=1, **sampling)
        requests = [curate.ChatRequest(rid, messages, params) for rid, messages in conversations]
        return target.generate(requests, self._on_result)

    @staticmethod
    def in_answer(items: Iterable[str], raw: str | None) -> list[str]:
        """Items that really appear in the raw answer (letters and digits compared, case-insensitive):
        a parser that invents text out of formatting must not invent prompts."""
        haystack = _ALNUM.sub("", (raw or "").lower())
        out = []
        for item in items:
            item = (item or "").strip()
            needle = _ALNUM.sub("", item.lower())
            if item and needle and needle in haystack:
                out.append(item)
        return out

    # --- provenance and stats -------------------------------------------------------------------
    def provenance(self, templates: Iterable[str], **inputs: Any) -> str:
        # A stage that sent no request for the row (``engine`` param None) records no engine.
        engine = self.ctx.engine(self.params.engine) if self.params.engine else None
        return json.dumps({
            "stage": self.ctx.stage_id, "task": self.task,
            "templates": {name: self.template(name).provenance() for name in templates},
            "engine": str(self.params.engine) if engine else None,
            "model": engine.identity().get("model") if engine else None,
            "sampling": self.sampling(n=1).model_dump(exclude_none=True) if engine else None, "inputs": inputs,
        }, sort_keys=True, ensure_ascii=False, default=str)

    def report_diversity(self, texts: list[str]) -> None:
        self.ctx.metric("distinct_2", distinct_n(texts, 2))

    def failure(self, result: curate.StructuredResult | curate.ChatResult, what: str) -> str:
        raw = getattr(result, "raw", None)
        error = result.error or "empty answer"
        return f"{what} failed: {error}" + (f"; raw answer: {raw[:500]!r}" if raw else "")


def _prefer_whole_json(result: curate.StructuredResult, model: type[BaseModel]) -> None:
    """When the whole answer is JSON that fits ``model``, that is the answer. (The lenient parser
    looks inside code fences first, so a JSON string holding a fenced block, such as generated
    code, would otherwise be read from the fence, escapes and all.)"""
    if not result.raw:
        return
    try:
        value = model.model_validate(json.loads(result.raw.strip(), strict=False))
    except (ValueError, ValidationError):
        return
    result.value, result.error = value, None


def distinct_n(texts: Iterable[str], n: int = 2) -> float:
    """Distinct word n-grams / all word n-grams (0 when there are none)."""
    seen, total = set(), 0
    for text in texts:
        words = (text or "").lower().split()
        grams = list(zip(*(words[i:] for i in range(n))))
        total += len(grams)
        seen.update(grams)
    return len(seen) / total if total else 0.0


def near_duplicates(texts: list[str], threshold: float) -> dict[int, int]:
    """Index -> the earlier index it nearly duplicates (normalized equality, or word-set Jaccard at
    least ``threshold``). Quadratic: meant for topic lists and keyword lists, not for datasets
    (use ``dedup.minhash`` on those)."""
    norm = [" ".join(_ALNUM.sub(" ", t.lower()).split()) for t in texts]
    words = [set(t.split()) for t in norm]
    dupes: dict[int, int] = {}
    for i in range(len(texts)):
        for j in range(i):
            if j in dupes:
                continue
            union = words[i] | words[j]
            if norm[i] == norm[j] or (union and len(words[i] & words[j]) / len(union) >= threshold):
                dupes[i] = j
                break
    return dupes


def rows_frame(rows: list[dict[str, Any]], schema: dict[str, Any] | None = None) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=schema, infer_schema_length=None) if rows or schema else pl.DataFrame()
