"""``generate.math`` and ``generate.code``: Nemotron-4's math and Python problems (source stages).

Three passes: keywords per school level (math) or difficulty (code); a yes/no classification
that screens each keyword ("is this about mathematics?", "is this about Python programming?");
then problems per kept keyword at each difficulty (beginner ... advanced). Near-duplicate
keywords are removed before screening; screened-out keywords are counted. Like
``generate.topics`` they make rows from their params alone, so each can start a branch.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import polars as pl
from pydantic import BaseModel, Field, field_validator

import curate
from curate_synth._base import SynthGenerator, near_duplicates
from curate_synth._prompts import BoundsParams, MixParams, items_model, needed

MATH_LEVELS = ["elementary school", "middle school", "high school", "university"]
CODE_LEVELS = ["beginner", "intermediate", "advanced"]
DIFFICULTIES = ["beginner", "intermediate", "advanced"]


class Verdict(BaseModel):
    """The screening answer."""

    answer: Literal["yes", "no"]

    @field_validator("answer", mode="before")
    @classmethod
    def _word(cls, value: Any) -> Any:
        # YAML reads a bare yes/no as a boolean; "Yes." and "no, because ..." mean yes and no.
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, str):
            words = value.strip().lower().replace(",", " ").replace(".", " ").split()
            return words[0] if words else value
        return value


def _no_blank(cls: Any, value: list[str]) -> list[str]:
    if any(not v.strip() for v in value):
        raise ValueError("an entry is empty")
    return value


class ProblemParams(MixParams, BoundsParams):
    keywords_per_level: int = Field(20, ge=1, description="Keywords asked for per level.")
    screen: bool = Field(True, description="Ask, per keyword, whether it really belongs to the subject (yes/no) "
                                           "and drop those that do not.")
    difficulties: list[str] = Field(default_factory=lambda: list(DIFFICULTIES), min_length=1,
                                    description="Difficulties of the problems asked for per kept keyword.")
    problems_per_keyword: int = Field(1, ge=1, description="Problems asked for per (keyword, difficulty).")
    dedup_threshold: float = Field(0.8, gt=0, le=1, description="Word-set Jaccard at or above which two keywords "
                                                                "count as near-duplicates (the later one is removed).")
    limit: int | None = Field(None, ge=1, description="At most this many problems: the branch's count in the prompt "
                                                      "mix. Only the problem requests needed are sent (a seeded "
                                                      "choice of (keyword, difficulty) pairs).")

    _blank_difficulties = field_validator("difficulties")(_no_blank)


class MathParams(ProblemParams):
    levels: list[str] = Field(default_factory=lambda: list(MATH_LEVELS), min_length=1,
                              description="School levels to collect keywords for.")
    subject: str = Field("mathematics", min_length=1, description="What the keywords and problems are about (the "
                                                                  "screening question names it).")

    _blank_levels = field_validator("levels")(_no_blank)


class CodeParams(ProblemParams):
    levels: list[str] = Field(default_factory=lambda: list(CODE_LEVELS), min_length=1,
                              description="Difficulty levels to collect keywords for.")
    language: str = Field("Python", min_length=1, description="Programming language of the keywords and problems.")

    _blank_levels = field_validator("levels")(_no_blank)


class _Problems(curate.Source, SynthGenerator):
    """Keywords per level, screened, then problems per keyword and difficulty (not registered)."""

    writes = ("prompt", "keyword", "level", "difficulty", "task", "prompt_generation")
    #: the template names of the three passes
    passes: ClassVar[tuple[str, str, str]] = ("", "", "")

    def values(self) -> dict[str, str]:
        """Template values every pass gets (the subject)."""
        raise NotImplementedError

    def preview_columns(self, ctx: curate.StageContext) -> list[str]:
        return list(self.writes)

    def progress_total(self, rows_in: int) -> int | None:
        p = self.params
        keywords = len(p.levels) * p.keywords_per_level
        problems = needed(keywords * len(p.difficulties), p.problems_per_keyword, p.limit)
        return len(p.levels) + (keywords if p.screen else 0) + problems

    def read(self) -> pl.DataFrame:
        p = self.params
        keywords = self._screen(self._dedup(self._keywords()))
        if not keywords:
            raise curate.DataError(f"{self.where}: no keyword survived (the model gave none, or screening removed "
                                   "them all)", hint="check the engine and the templates; failures are in the log")
        pairs = [(level, kw, d) for level, kw in keywords for d in p.difficulties]
        k = needed(len(pairs), p.problems_per_keyword, p.limit)
        if k < len(pairs):
            pairs = [pairs[j] for j in sorted(self.rng("limit").sample(range(len(pairs)), k))]
        keywords_pass, screen_pass, problems_pass = self.passes
        render = self.template(problems_pass).render
        answers = self.ask([(f"{self.task}/{level}/{kw}/{d}", render(keyword=kw, level=level, difficulty=d,
                                                                      n=p.problems_per_keyword, **self.values()))
                            for level, kw, d in pairs], items_model(p.problems_per_keyword, p.max_item_chars))
        used = [keywords_pass] + ([screen_pass] if p.screen else []) + [problems_pass]
        rows = []
        for (level, kw, d), answer in zip(pairs, answers):
            problems = self.in_answer(answer.value.items, answer.raw)[:p.problems_per_keyword] if answer.ok else []
            if not problems:
                self.ctx.count("problem_requests_unusable")
                self.ctx.log.warning("%s: %s", self.where, self.failure(answer, f"problems for {kw!r} ({d})")
                                     if not answer.ok else f"no usable problem for {kw!r} ({d})")
            for k, problem in enumerate(problems):
                rows.append({"id": f"{self.task}/{level}/{kw}/{d}/{k}", "prompt": problem, "keyword": kw,
                             "level": level, "difficulty": d, "task": self.task,
                             "prompt_generation": self.provenance(used, keyword=kw, level=level, difficulty=d)})
        rows = rows[:p.limit] if p.limit else rows
        self.report_diversity([row["prompt"] for row in rows])
        if not rows:
            raise curate.DataError(f"{self.where}: the model gave no usable problems",
                                   hint="check the engine and the templates; parse failures are in the log")
        return pl.DataFrame(rows, schema={c: pl.Utf8 for c in ("id", *self.writes)})

    def _keywords(self) -> list[tuple[str, str]]:
        p = self.params
        render = self.template(self.passes[0]).render
        answers = self.ask([(f"{self.task}/keywords/{level}", render(level=level, n=p.keywords_per_level,
                                                                     **self.values())) for level in p.levels],
                           items_model(p.keywords_per_level, p.max_item_chars))
        found = []
        for level, answer in zip(p.levels, answers):
            if answer.ok:
                found += [(level, kw) for kw in self.in_answer(answer.value.items, answer.raw)][:p.keywords_per_level]
            else:
                self.ctx.log.warning("%s: %s", self.where, self.failure(answer, f"keywords for {level!r}"))
        return found

    def _dedup(self, found: list[tuple[str, str]]) -> list[tuple[str, str]]:
        dupes = near_duplicates([kw for _, kw in found], self.params.dedup_threshold)
        self.ctx.count("near_duplicates_removed", len(dupes))
        return [pair for i, pair in enumerate(found) if i not in dupes]

    def _screen(self, found: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """The yes/no pass: keywords the model says belong to the subject. A keyword whose
        answer cannot be read is dropped too (counted apart)."""
        if not self.params.screen or not found:
            return found
        render = self.template(self.passes[1]).render
        answers = self.ask([(f"{self.task}/screen/{kw}", render(keyword=kw, **self.values())) for _, kw in found],
                           Verdict)
        kept = []
        for pair, answer in zip(found, answers):
            if not answer.ok:
                self.ctx.count("keywords_unscreened")
            elif answer.value.answer == "yes":
                kept.append(pair)
            else:
                self.ctx.count("keywords_screened_out")
        self.ctx.metric("keywords_kept", len(kept))
        return kept


class MathProblems(_Problems):
    """Generate math problems: keywords per school level, a yes/no screen, then problems per difficulty (a source)."""

    name = "generate.math"
    Params = MathParams
    task = "math"
    passes = ("math_keywords", "math_screen", "math_problems")
    templates = {"math_keywords": ("subject", "level", "n"), "math_screen": ("subject", "keyword"),
                 "math_problems": ("subject", "keyword", "level", "difficulty", "n")}

    def values(self) -> dict[str, str]:
        return {"subject": self.params.subject}


class CodeProblems(_Problems):
    """Generate programming problems: keywords per difficulty, a yes/no screen, then problems per difficulty (a source)."""

    name = "generate.code"
    Params = CodeParams
    task = "code"
    passes = ("code_keywords", "code_screen", "code_problems")
    templates = {"code_keywords": ("language", "level", "n"), "code_screen": ("language", "keyword"),
                 "code_problems": ("language", "keyword", "level", "difficulty", "n")}

    def values(self) -> dict[str, str]:
        return {"language": self.params.language}
