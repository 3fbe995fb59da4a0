"""`judge.rating`: an LLM judge rates one response on a rubric (1-10, or a Likert 1-5 scale).

When the engine constrains decoding to a JSON schema (``supports_json_schema``, e.g. the
``openai`` engine against vLLM or OpenAI), the judge is asked for ``{"reasoning", "rating"}``
through :func:`curate.generate_structured` (answers that do not fit are re-asked up to
``max_reasks`` times). Otherwise the judge writes its reasoning and ends with ``Rating: [[N]]``,
found with a lenient pattern. A rating that cannot be read, or lies outside the scale, removes
the row with the judge's raw text in the reason.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

import polars as pl
from pydantic import BaseModel, Field, create_model, field_validator

import curate
from curate_judges import _llm

REASON = "reason"
DEFAULT_SYSTEM_PROMPT = "You are a strict, fair grader of AI assistant answers."
SCALES = {"1-10": (1, 10), "1-5": (1, 5)}
#: Looked for in the judge's answer, in order, when no JSON is asked for; the last match counts
#: (the verdict ends the answer, earlier numbers may be quotes of the scale).
DEFAULT_RATING_PATTERNS = (
    r"(?i)(?:\brating\s*[:=]?\s*)?\[\[\s*(?P<rating>[+-]?\d+(?:\.\d+)?)\s*\]\]",  # Rating: [[7]], [[7]]
    r"(?i)\brating\s*[:=]\s*\**\s*(?P<rating>[+-]?\d+(?:\.\d+)?)(?:\s*/\s*\d+)?",  # Rating: 7, Rating: 7/10
)
TEMPLATE_VARIABLES = {"prompt", "messages", "response", "reference", "rubric", "scale_min", "scale_max",
                      "answer_format"}


class RatingParams(curate.Params):
    engine: curate.EngineRef = Field(curate.EngineRef("judge"), description="Recipe engine (chat) that rates.")
    column: str = Field("response", description="The response to rate: a column (text), or `response`.")
    scale: Literal["1-10", "1-5"] = Field("1-10", description="`1-10` (MT-Bench style single-answer grading) or "
                                                             "`1-5` (a Likert scale).")
    rubric: str | None = Field(None, description="Rubric text given to the judge (the template's `rubric`); "
                                                 "`null`: the built-in anchors of the scale.")
    reference_column: str | None = Field(None, description="Column with a reference answer the judge checks the "
                                                           "response against (math, facts); `null`: none.")
    template: curate.TemplateParam = Field(
        None, description="Judge prompt (Jinja): inline text, or `file:<path>` relative to the recipe. Variables: "
                          "prompt, messages, response, reference, rubric, scale_min, scale_max, answer_format. "
                          "`null`: the built-in templates/rating.j2.")
    system_prompt: str | None = Field(DEFAULT_SYSTEM_PROMPT,
                                      description="System message of every judge request; `null` sends none.")
    answer_format: Literal["auto", "json", "pattern"] = Field(
        "auto", description="`json`: ask for `{reasoning, rating}` with curate.generate_structured (decoding "
                            "constrained to the schema when the engine can); `pattern`: free text ending with "
                            "`Rating: [[N]]`; `auto`: `json` when the engine supports JSON schemas, else `pattern`.")
    rating_pattern: str | None = Field(
        None, description="`pattern` answers: a regex with a named group `rating` (else its first group), the "
                          "last match counts; `null`: `[[N]]`, then `Rating: N` (optionally `/10`).")
    max_reasks: int = Field(1, ge=0, le=5, description="`json` answers: times an answer that does not fit the "
                                                       "schema is asked again, with the error.")
    temperature: float = Field(0.0, ge=0, description="Sampling temperature of the judge; 0 is greedy.")
    max_tokens: int = Field(1024, ge=1, description="Longest judge answer, in tokens.")

    @field_validator("rating_pattern")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            regex = re.compile(value)
        except re.error as exc:
            raise ValueError(f"rating_pattern is not a valid regular expression: {exc}") from None
        if "rating" not in regex.groupindex and regex.groups < 1:
            raise ValueError("rating_pattern needs a group holding the number: `(?P<rating>...)` or `(...)`")
        return value


def parse_rating(text: str, patterns: list[re.Pattern[str]]) -> tuple[float, str] | None:
    """``(rating, reasoning)`` from a free-text answer: the last match of the first pattern that
    matches; the reasoning is the text without it. A JSON object with ``rating`` also counts."""
    for regex in patterns:
        matches = list(regex.finditer(text))
        if matches:
            last = matches[-1]
            group = "rating" if "rating" in regex.groupindex else 1
            try:
                value = float(last.group(group))
            except (TypeError, ValueError):
                continue
            reasoning = (text[:last.start()] + text[last.end():]).strip()
            return value, reasoning
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        try:
            data = json.loads(text[start:end + 1], strict=False)
            if isinstance(data, dict) and isinstance(data.get("rating"), (int, float)):
                return float(data["rating"]), str(data.get("reasoning") or "")
        except ValueError:
            pass
    return None


class RatingJudge(curate.Judge):
    """Rate each response on a rubric (1-10 or Likert 1-5) with an LLM judge, with its reasoning.

    Writes ``rating`` (float), ``rating_reasoning`` and ``rating_judge`` (provenance: stage,
    engine, model, template name and sha). Every request of a batch goes to the engine in one call.
    """

    name = "judge.rating"
    Params = RatingParams
    reports_progress = True

    def input_columns(self) -> list[str | tuple[str, ...]]:
        columns: list[str | tuple[str, ...]] = [("prompt", "messages"), *curate.text_columns(self.params.column)]
        if self.params.reference_column:
            columns.append(self.params.reference_column)
        return columns

    def output_columns(self) -> list[str]:
        return ["rating", "rating_reasoning", "rating_judge"]

    @property
    def bounds(self) -> tuple[int, int]:
        return SCALES[self.params.scale]

    # --- template --------------------------------------------------------------------------
    def template(self) -> curate.Template:
        """The judge template this stage uses, checked against the variables it supplies."""
        return _llm.stage_template(self, "rating.j2", TEMPLATE_VARIABLES)

    def cache_key(self) -> dict[str, Any]:
        return {"template_sha": self.template().sha}

    def setup(self, ctx: curate.StageContext) -> None:
        super().setup(ctx)
        self._template = self.template()
        custom = self.params.rating_pattern
        self._patterns = [re.compile(p) for p in ((custom,) if custom else DEFAULT_RATING_PATTERNS)]

    def answer_format(self, engine: curate.ChatEngine) -> str:
        if self.params.answer_format == "auto":
            return "json" if engine.supports_json_schema else "pattern"
        return self.params.answer_format

    def answer_model(self) -> type[BaseModel]:
        """The JSON answer asked for: reasoning first (the judge explains, then rates)."""
        low, high = self.bounds
        return create_model("Rating", reasoning=(str, Field(description="Why the answer gets this rating.")),
                            rating=(float, Field(ge=low, le=high, description=f"The rating, {low} to {high}.")))

    # --- running ---------------------------------------------------------------------------
    def process_batch(self, df: pl.DataFrame) -> curate.StageOutput:
        ctx = self.ctx
        assert ctx is not None
        p = self.params
        _llm.start_counters(ctx, "rated", "parse_failures")
        engine = ctx.engine(p.engine)
        fmt = self.answer_format(engine)
        low, high = self.bounds
        conversations = _llm.conversations(df, where=self.where)
        responses = curate.text_of(df, p.column, where=self.where).to_list()
        references = (curate.text_of(df, p.reference_column, where=self.where).to_list()
                      if p.reference_column else [None] * df.height)

        ratings: list[float | None] = [None] * df.height
        reasonings: list[str | None] = [None] * df.height
        reasons: list[str | None] = [None] * df.height
        requests: list[curate.ChatRequest] = []
        sampling = curate.SamplingParams(n=1, temperature=p.temperature, max_tokens=p.max_tokens)
        for row, (messages, response) in enumerate(zip(conversations, responses)):
            if response is None:
                reasons[row] = f"no response to rate in {p.column!r}"
                continue
            if p.reference_column and references[row] is None:
                reasons[row] = f"no reference answer in {p.reference_column!r}"
                continue
            text = self._template.render(prompt=_llm.prompt_text(messages), messages=messages, response=response,
                                         reference=references[row], rubric=p.rubric, scale_min=low,
                                         scale_max=high, answer_format=fmt)
            requests.append(curate.ChatRequest(str(row), _llm.judge_messages(p.system_prompt, text), sampling))

        if requests:
            on_result = _llm.counting(ctx)  # re-asks are counted too
            if fmt == "json":
                answers = curate.generate_structured(engine, requests, self.answer_model(), max_reasks=p.max_reasks,
                                                     on_result=on_result)
                for req, samples in zip(requests, answers):
                    self._take_structured(int(req.id), samples[0], ratings, reasonings, reasons)
            else:
                for req, result in zip(requests, engine.generate(requests, on_result)):
                    self._take_text(int(req.id), result, ratings, reasonings, reasons)
        provenance = _llm.provenance(ctx, p.engine, self._template)
        ctx.count("rated", sum(r is None for r in reasons))
        out = df.with_columns(pl.Series("rating", ratings, pl.Float64),
                              pl.Series("rating_reasoning", reasonings, pl.Utf8),
                              pl.Series("rating_judge", [provenance] * df.height, _llm.PROVENANCE),
                              pl.Series(REASON, reasons, pl.Utf8))
        kept = out.filter(pl.col(REASON).is_null()).drop(REASON)
        removed = out.filter(pl.col(REASON).is_not_null())
        return curate.StageOutput(kept, removed if removed.height else None)

    def _take_structured(self, row: int, answer: curate.StructuredResult, ratings: list, reasonings: list,
                         reasons: list) -> None:
        if answer.ok:
            ratings[row] = float(answer.value.rating)  # type: ignore[union-attr]
            reasonings[row] = answer.value.reasoning  # type: ignore[union-attr]
        elif answer.raw is None:
            reasons[row] = f"judge request failed: {answer.error}"
        else:
            self.ctx.count("parse_failures")  # type: ignore[union-attr]
            reasons[row] = f"unreadable rating ({answer.error}): {_llm.quoted(answer.raw)}"

    def _take_text(self, row: int, result: curate.ChatResult, ratings: list, reasonings: list,
                   reasons: list) -> None:
        if not result.ok:
            reasons[row] = f"judge request failed: {result.error}"
            return
        text = result.completions[0].text if result.completions else ""
        found = parse_rating(text, self._patterns)
        low, high = self.bounds
        if found is None or not low <= found[0] <= high:
            self.ctx.count("parse_failures")  # type: ignore[union-attr]
            why = "no rating found" if found is None else f"rating {found[0]:g} is outside {low}-{high}"
            reasons[row] = f"unreadable rating ({why}): {_llm.quoted(text)}"
            return
        ratings[row], reasonings[row] = found
