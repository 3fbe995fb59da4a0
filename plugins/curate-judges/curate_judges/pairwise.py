"""`judge.pairwise`: an LLM judge compares two responses to the same prompt, asked in both orders.

LLM judges prefer answers by their position (Zheng et al. 2023, "Judging LLM-as-a-Judge with
MT-Bench and Chatbot Arena"), so by default every pair is asked twice, with the answers swapped,
and a verdict is kept only when both orders name the same winner. Verdicts follow MT-Bench's
convention: the judge ends with ``[[A]]``, ``[[B]]`` or ``[[C]]`` (a tie), looked for in that order.

Stats: ``pairs_judged`` (pairs with a verdict from every order asked), ``consistent`` (both
orders agree, ties included), ``inconsistent`` (they disagree: removed), ``ties`` (agreed ties:
kept, ``winner: tie``), ``parse_failures`` (a pair with an answer holding no verdict: removed)
and ``requests_sent`` / ``requests_cached`` / ``requests_failed``. The judge's position
consistency is ``consistent / pairs_judged``, reported as the metric ``consistency_rate``.
"""

from __future__ import annotations

import random
import re
from itertools import combinations
from typing import Any, Literal

import polars as pl
from pydantic import Field, field_validator, model_validator

import curate
from curate_judges import _llm

REASON = "reason"
VERDICTS = ("A", "B", "C")
DEFAULT_VERDICT_PATTERN = {"A": r"\[\[A\]\]", "B": r"\[\[B\]\]", "C": r"\[\[C\]\]"}
DEFAULT_SYSTEM_PROMPT = "You are an impartial and careful judge of AI assistant answers."
#: The variables the judge template may use.
TEMPLATE_VARIABLES = {"prompt", "messages", "response_a", "response_b"}
#: What a verdict letter means for the pair (a, b), in each order the pair was shown.
WINNER = {"ab": {"A": "a", "B": "b", "C": "tie"}, "ba": {"A": "b", "B": "a", "C": "tie"}}
ORDER_NAME = {"ab": "(a, b)", "ba": "(b, a)"}

VerdictPatternSpec = str | dict[Literal["A", "B", "C"], str]


class VerdictPattern:
    """Finds the verdict in a judge's answer. ``spec`` is a mapping ``{A: regex, B: regex, C:
    regex}`` or one regex whose named groups ``A``, ``B``, ``C`` are the alternatives; either
    way the verdicts are looked for in the order A, B, C and the first found wins."""

    def __init__(self, spec: VerdictPatternSpec):
        if isinstance(spec, str):
            self.regex: re.Pattern[str] | None = re.compile(spec)
            self.mapping: dict[str, re.Pattern[str]] = {}
            names = set(self.regex.groupindex)
            if not {"A", "B"} <= names or not names <= set(VERDICTS):
                raise ValueError(f"a verdict_pattern regex needs named groups A and B (C for a tie, optional) and no "
                                 f"other named groups; {spec!r} has {sorted(names) or 'none'}")
        else:
            self.regex = None
            self.mapping = {letter: re.compile(spec[letter]) for letter in VERDICTS if letter in spec}
            if not {"A", "B"} <= set(self.mapping):
                raise ValueError("a verdict_pattern mapping needs keys A and B (C for a tie, optional)")

    def parse(self, text: str) -> tuple[str, str] | None:
        """``(letter, the text matched)`` of the verdict in ``text``, or ``None``."""
        if self.regex is None:
            for letter, regex in self.mapping.items():  # in the order A, B, C
                found = regex.search(text)
                if found:
                    return letter, found.group(0)
            return None
        matches = list(self.regex.finditer(text))
        for letter in VERDICTS:
            if letter in self.regex.groupindex:
                for found in matches:
                    if found.group(letter) is not None:
                        return letter, found.group(0)
        return None


def _outcome(winner: str) -> str:
    return "a tie" if winner == "tie" else f"{winner} wins"


class PairwiseParams(curate.Params):
    engine: curate.EngineRef = Field(curate.EngineRef("judge"), description="Recipe engine (chat) that judges.")
    pairing: Literal["all", "reference", "random"] = Field(
        "all", description="Which pairs are judged: `all` (every unordered pair of a prompt's responses: "
                           "N*(N-1)/2), `reference` (each response against the `reference_column` response), "
                           "`random` (`k` pairs per prompt, drawn with `seed`).")
    k: int = Field(1, ge=1, description="`pairing: random`: pairs per prompt (all of them when there are fewer).")
    seed: int = Field(0, description="`pairing: random`: seed of the draw; the pairs of a prompt depend only on "
                                     "the seed and the prompt's id, so reruns and batch sizes do not change them.")
    reference_column: str = Field("reference", description="`pairing: reference`: the column holding the "
                                                           "reference response each response is compared to.")
    swap: bool = Field(True, description="Ask every pair twice, the second time with the answers swapped, and "
                                         "keep a verdict only when both orders agree (inconsistent pairs are "
                                         "removed). `false` asks once, in the order (a, b).")
    template: curate.TemplateParam = Field(
        None, description="Judge prompt (Jinja): inline text, or `file:<path>` relative to the recipe. Variables: "
                          "prompt, messages, response_a, response_b. `null`: the built-in templates/pairwise.j2.")
    system_prompt: str | None = Field(DEFAULT_SYSTEM_PROMPT,
                                      description="System message of every judge request; `null` sends none.")
    verdict_pattern: VerdictPatternSpec = Field(
        default_factory=lambda: dict(DEFAULT_VERDICT_PATTERN),
        description="How a verdict is found in the judge's answer: a mapping `{A: regex, B: regex, C: regex}` "
                    "(C, the tie, optional) or one regex with named groups `A`, `B` (and `C`). Looked for in "
                    "the order A, B, C; the default is MT-Bench's `[[A]]`, `[[B]]`, `[[C]]`.")
    temperature: float = Field(0.0, ge=0, description="Sampling temperature of the judge; 0 is greedy.")
    max_tokens: int = Field(1024, ge=1, description="Longest judge answer, in tokens.")

    @field_validator("verdict_pattern")
    @classmethod
    def _compiles(cls, value: VerdictPatternSpec) -> VerdictPatternSpec:
        try:
            VerdictPattern(value)
        except re.error as exc:
            raise ValueError(f"verdict_pattern is not a valid regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _pairing_params(self) -> "PairwiseParams":
        # Checked against the defaults, not the fields set: the executor rebuilds params from a full dump.
        if self.k != 1 and self.pairing != "random":
            raise ValueError("`k` applies to `pairing: random` only")
        if self.reference_column != "reference" and self.pairing != "reference":
            raise ValueError("`reference_column` applies to `pairing: reference` only")
        return self


class PairwiseJudge(curate.Judge):
    """Compare two responses to the same prompt with an LLM judge, in both orders; keep the verdicts both agree on.

    Reads one row per prompt with a `responses` list (``generate.responses`` with ``output:
    list``) and writes one row per judged pair. Every request of the batch (both orders of every
    pair) goes to the engine in one call, so a served engine keeps its requests in flight.
    """

    name = "judge.pairwise"
    Params = PairwiseParams
    reports_progress = True

    def input_columns(self) -> list[str | tuple[str, ...]]:
        columns: list[str | tuple[str, ...]] = [("prompt", "messages"), "responses"]
        if self.params.pairing == "reference":
            columns.append(self.params.reference_column)
        return columns

    def output_columns(self) -> list[str]:
        return ["id", "prompt_id", "response_a", "response_b", "response_a_index", "response_b_index", "winner",
                "verdict_ab", "verdict_ba", "judgment_ab", "judgment_ba", "judge"]

    def dropped_columns(self) -> list[str]:
        return ["responses", "response_engines"]

    def progress_total(self, rows_in: int) -> int | None:
        # Units are requests; only random pairing knows their number before it sees the data.
        if self.params.pairing == "random":
            return rows_in * self.params.k * (2 if self.params.swap else 1) or None
        return None

    # --- template --------------------------------------------------------------------------
    def template(self) -> curate.Template:
        """The judge template this stage uses, checked against the variables it supplies."""
        return _llm.stage_template(self, "pairwise.j2", TEMPLATE_VARIABLES)

    def cache_key(self) -> dict[str, Any]:
        return {"template_sha": self.template().sha}

    def setup(self, ctx: curate.StageContext) -> None:
        super().setup(ctx)
        self._template = self.template()
        self._verdicts = VerdictPattern(self.params.verdict_pattern)
        self._outcomes = {"pairs_judged": 0, "consistent": 0}  # over every batch, for consistency_rate

    # --- running ---------------------------------------------------------------------------
    def process_batch(self, df: pl.DataFrame) -> curate.StageOutput:
        ctx = self.ctx
        assert ctx is not None
        p = self.params
        _llm.start_counters(ctx, "pairs_judged", "consistent", "inconsistent", "ties", "parse_failures")
        pairs, problems = self._pairs(df)
        conversations = _llm.conversations(df, where=self.where)
        prompt_texts = [_llm.prompt_text(messages) for messages in conversations]

        requests: list[curate.ChatRequest] = []
        sampling = curate.SamplingParams(n=1, temperature=p.temperature, max_tokens=p.max_tokens)
        orders = ("ab", "ba") if p.swap else ("ab",)
        for q, pair in enumerate(pairs):
            row = pair["__row"]
            shown = {"ab": (pair["response_a"], pair["response_b"]), "ba": (pair["response_b"], pair["response_a"])}
            for order in orders:
                first, second = shown[order]
                text = self._template.render(prompt=prompt_texts[row], messages=conversations[row],
                                             response_a=first, response_b=second)
                requests.append(curate.ChatRequest(f"{q}#{order}", _llm.judge_messages(p.system_prompt, text),
                                                   sampling))
        results: dict[str, curate.ChatResult] = {}
        provenance = None
        if requests:  # one call for the whole batch: the engine keeps them all in flight
            engine = ctx.engine(p.engine)
            results = {r.id: r for r in engine.generate(requests, _llm.counting(ctx))}
            provenance = _llm.provenance(ctx, p.engine, self._template)
        before = dict(self._outcomes)
        for q, pair in enumerate(pairs):
            pair["judge"] = provenance
            self._decide(pair, [(order, results[f"{q}#{order}"]) for order in orders])
        judged = self._outcomes["pairs_judged"] - before["pairs_judged"]
        if judged:  # a mean over this call's pairs: the stage's figure is exact on any executor
            ctx.metric("consistency_rate", (self._outcomes["consistent"] - before["consistent"]) / judged, weight=judged)
        return self._frames(df, pairs + problems)

    def _pairs(self, df: pl.DataFrame) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The pairs to judge, and the prompts that give none (with the reason)."""
        p = self.params
        if "responses" not in df.columns:
            raise curate.DataError("the data has no `responses` column", where=self.where,
                                   hint="sample a list of responses per prompt with `generate.responses` and "
                                        "`output: list`")
        dtype = df.schema["responses"]
        if not (isinstance(dtype, pl.List) and dtype.inner in (pl.Utf8, pl.Null)) and dtype != pl.Null:
            raise curate.DataError(f"column 'responses' has type {dtype}; a list of strings per prompt is needed",
                                   where=self.where,
                                   hint="sample them with `generate.responses` and `output: list`")
        prompt_ids = (df["prompt_id"] if "prompt_id" in df.columns else df["id"]).cast(pl.Utf8).to_list()
        references = (curate.text_of(df, p.reference_column, where=self.where).to_list()
                      if p.pairing == "reference" else None)
        pairs: list[dict[str, Any]] = []
        problems: list[dict[str, Any]] = []
        for row, (pid, responses) in enumerate(zip(prompt_ids, df["responses"].to_list())):
            candidates = [(i, text) for i, text in enumerate(responses or []) if text is not None]
            if references is not None:
                if references[row] is None:
                    problems.append({"__row": row, "id": pid, "prompt_id": pid,
                                     REASON: f"no reference response in column {p.reference_column!r}"})
                    continue
                chosen = [((i, text), (None, references[row])) for i, text in candidates]
            else:
                chosen = list(combinations(candidates, 2))
                if p.pairing == "random" and len(chosen) > p.k:
                    rng = random.Random(f"{p.seed}/{pid}")
                    chosen = [chosen[i] for i in sorted(rng.sample(range(len(chosen)), p.k))]
            if not chosen:
                need = "a response" if references is not None else "2 responses"
                problems.append({"__row": row, "id": pid, "prompt_id": pid,
                                 REASON: f"nothing to compare: {need} needed, {len(candidates)} given"})
                continue
            for (i, a), (j, b) in chosen:
                pairs.append({"__row": row, "id": f"{pid}/{i}-{'ref' if j is None else j}", "prompt_id": pid,
                              "response_a": a, "response_b": b, "response_a_index": i, "response_b_index": j})
        return pairs, problems

    def _decide(self, pair: dict[str, Any], answers: list[tuple[str, curate.ChatResult]]) -> None:
        """Fill in the pair's verdicts and winner, or its removal reason; count the outcome."""
        ctx = self.ctx
        assert ctx is not None
        for order, result in answers:  # every answer is kept, also on a removed pair
            if result.ok:
                pair[f"judgment_{order}"] = result.completions[0].text if result.completions else ""
        for order, result in answers:
            if not result.ok:
                pair[REASON] = f"judge request failed (order {ORDER_NAME[order]}): {result.error}"
                return
        winners: dict[str, str] = {}
        for order, _ in answers:
            text = pair[f"judgment_{order}"]
            found = self._verdicts.parse(text)
            if found is None:
                ctx.count("parse_failures")
                pair[REASON] = (f"no verdict found in the judge's answer (order {ORDER_NAME[order]}): "
                                f"{_llm.quoted(text)}")
                return
            letter, raw = found
            pair[f"verdict_{order}"] = raw
            winners[order] = WINNER[order][letter]
        ctx.count("pairs_judged")
        self._outcomes["pairs_judged"] += 1
        if len(set(winners.values())) > 1:
            ctx.count("inconsistent")
            said = [f"order {ORDER_NAME[o]} said {pair[f'verdict_{o}']!r} ({_outcome(w)})" for o, w in winners.items()]
            pair[REASON] = "inconsistent verdicts: " + ", ".join(said)
            return
        ctx.count("consistent")
        self._outcomes["consistent"] += 1
        pair["winner"] = winners["ab"]
        if pair["winner"] == "tie":
            ctx.count("ties")

    def _frames(self, df: pl.DataFrame, rows: list[dict[str, Any]]) -> curate.StageOutput:
        schema = {"__row": pl.Int64, "id": pl.Utf8, "prompt_id": pl.Utf8, "response_a": pl.Utf8,
                  "response_b": pl.Utf8, "response_a_index": pl.Int64, "response_b_index": pl.Int64,
                  "winner": pl.Utf8, "verdict_ab": pl.Utf8, "verdict_ba": pl.Utf8, "judgment_ab": pl.Utf8,
                  "judgment_ba": pl.Utf8, "judge": _llm.PROVENANCE, REASON: pl.Utf8}
        judged = pl.DataFrame([{k: r.get(k) for k in schema} for r in rows], schema=schema)
        judged = judged.with_row_index("__seq")
        # Columns this stage writes replace any of the same name upstream (an earlier judge's `winner`).
        base = df.drop(*schema, *self.dropped_columns(), strict=False).with_row_index("__row")
        base = base.with_columns(pl.col("__row").cast(pl.Int64))
        out = judged.join(base, on="__row", how="left").sort("__row", "__seq").drop("__row", "__seq")
        first = ["id", "prompt_id", *[c for c in ("prompt", "messages") if c in out.columns]]
        out = out.select(*first, pl.exclude(*first))
        kept = out.filter(pl.col(REASON).is_null()).drop(REASON)
        removed = out.filter(pl.col(REASON).is_not_null())
        return curate.StageOutput(kept, removed if removed.height else None)
