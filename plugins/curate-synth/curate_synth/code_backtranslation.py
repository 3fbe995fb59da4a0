"""``generate.code_backtranslation``: Llama 3's code back-translation.

For each row's code, the model explains it in words; then, from the explanation alone, writes
the code again. When the two programs agree the explanation is faithful and complete, and the
pair is kept: ``pair: explain`` (default) turns the row into an explanation example (``prompt``:
a request to explain the code, ``response``: the explanation); ``pair: keep`` leaves ``prompt``
and ``response`` as they are (the stage then filters code answers by how well they can be
explained and rebuilt).

Agreement is a similarity score, recorded on every row (``backtranslation_similarity``): difflib's
ratio between the two programs' token sequences, comments and blank lines left out. Rows under
``threshold`` are removed with their score. With ``check_execution``, both programs are also
run in ``curate_sandbox`` (no input) and must both exit cleanly and print the same output.
"""

from __future__ import annotations

import difflib
import re
from typing import Any, Literal

import polars as pl
from curate_judges.code_extract import fenced_blocks
from pydantic import Field

import curate
from curate_synth._prompts import REASON, BoundsParams, MixParams, PromptMix, text_model

#: Columns describing the row's original answer, stale once the row becomes an explanation example.
STALE = ("finish_reason", "prompt_id", "response_index", "generation", "messages")

_TOKEN = re.compile(r"[A-Za-z_]\w*|\d+(?:\.\d+)?|\"[^\"\n]*\"|'[^'\n]*'|[^\s\w]")
_LINE_COMMENT = re.compile(r"(?m)(?:^|\s)(?:#|//).*$")


def extract_code(text: str | None) -> str:
    """The code of a text: its longest fenced block, else the whole text (stripped)."""
    blocks = [code for _, code in fenced_blocks(text or "") if code.strip()]
    return (max(blocks, key=len) if blocks else text or "").strip()


def code_tokens(code: str) -> list[str]:
    """The tokens of ``code`` compared for agreement: identifiers, numbers, string literals and
    symbols, with line comments (``#``, ``//``) and whitespace left out."""
    return _TOKEN.findall(_LINE_COMMENT.sub("", code))


def similarity(a: str, b: str) -> float:
    """difflib's ratio between the token sequences of two programs: 1.0 for the same tokens."""
    ta, tb = code_tokens(a), code_tokens(b)
    if not ta and not tb:
        return 1.0
    return difflib.SequenceMatcher(None, ta, tb, autojunk=False).ratio()


class BacktranslationParams(MixParams, BoundsParams):
    max_item_chars: int = Field(8000, ge=1, description="Longest explanation or regenerated program in characters, sent "
                                                        "in the JSON schema (`maxLength`) so that constrained decoding "
                                                        "stops there; other engines' answers are not cut.")
    code_column: str | None = Field(None, description="Column holding the code; default: `code` when the input has "
                                                      "it, else `response`. The code is the longest fenced block of "
                                                      "the text when it has one, else all of it.")
    threshold: float = Field(0.5, ge=0, le=1, description="Similarity at or above which the two programs agree and the "
                                                          "row is kept; rows under it are removed with the score.")
    pair: Literal["explain", "keep"] = Field(
        "explain", description="`explain`: the row becomes (`prompt`: a request to explain the code, `response`: the "
                               "explanation), with a new id `<id>/code/0`; `keep`: `prompt` and `response` stay as they "
                               "are and only columns are added.")
    language: str = Field("Python", min_length=1, description="Programming language of the code (said in the prompts).")
    check_execution: bool = Field(False, description="Also run both programs in `curate_sandbox` (no stdin): they must "
                                                     "both exit with 0 and print the same output (Python only).")
    execution_timeout_s: float = Field(5.0, gt=0, description="Wall-clock limit of each sandboxed run.")
    sandbox_workers: int = Field(2, ge=1, description="Sandboxed runs at the same time.")


class CodeBacktranslation(PromptMix):
    """Explain code, rebuild it from the explanation, and keep rows whose two programs agree (Llama 3)."""

    name = "generate.code_backtranslation"
    Params = BacktranslationParams
    task = "code"
    templates = {"backtranslation_explain": ("code", "language"),
                 "backtranslation_code": ("explanation", "language"),
                 "backtranslation_prompt": ("code", "language")}

    def input_columns(self) -> list[str | tuple[str, ...]]:
        return [self.params.code_column or ("code", "response")]

    def output_columns(self) -> list[str]:
        pair = ["prompt", "response"] if self.params.pair == "explain" else []
        execution = ["backtranslation_execution_agrees"] if self.params.check_execution else []
        return [*pair, "code", "explanation", "regenerated_code", "backtranslation_similarity", *execution, "task",
                "prompt_generation"]

    def dropped_columns(self) -> list[str]:
        return list(STALE) if self.params.pair == "explain" else []

    def progress_total(self, rows_in: int) -> int | None:
        return 2 * min(rows_in, self.params.limit or rows_in) or None

    def cache_key(self) -> dict[str, Any]:
        key = super().cache_key()
        if self.params.check_execution:
            try:
                import curate_sandbox
            except ImportError:
                raise curate.RecipeError("check_execution needs the curate-sandbox package, which is not installed",
                                         where=self.where, hint="pip install -e plugins/curate-sandbox") from None
            try:
                key["sandbox_tier"] = curate_sandbox.resolve_tier().name
            except curate_sandbox.SandboxUnavailable as exc:
                raise curate.RecipeError(f"check_execution: the code sandbox cannot run here: {exc.problems}",
                                         where=self.where, hint=exc.hint) from None
        return key

    def process_batch(self, df: pl.DataFrame) -> curate.StageOutput:
        p = self.params
        column = p.code_column or ("code" if "code" in df.columns else "response")
        if column not in df.columns:
            raise curate.DataError(f"no column {column!r} holding code", where=self.where,
                                   hint="set code_column, or give rows with `code` or a `response` holding code")
        codes = [extract_code(c) for c in curate.text_of(df, column, where=self.where).to_list()]
        ids = df["id"].to_list()
        failed = {i: f"no code in {column!r}" for i in range(df.height) if not codes[i]}
        usable = [i for i in range(df.height) if i not in failed]
        chosen = [usable[j] for j in self.choose(len(usable), 1)]
        self.count_unused(len(usable) - len(chosen))
        render = self.template("backtranslation_explain").render
        asks = [(f"{ids[i]}/explain", render(code=codes[i], language=p.language)) for i in chosen]
        explained = {}
        for i, answer in zip(chosen, self.ask(asks, text_model("Explanation", "explanation", p.max_item_chars))):
            if answer.ok:
                explained[i] = answer.value.explanation
            else:
                failed[i] = self.failure(answer, "explanation")
        render = self.template("backtranslation_code").render
        asks = [(f"{ids[i]}/regenerate", render(explanation=explained[i], language=p.language)) for i in explained]
        rebuilt = {}
        for i, answer in zip(explained, self.ask(asks, text_model("Code", "code", p.max_item_chars))):
            code = extract_code(answer.value.code) if answer.ok else ""
            if code:
                rebuilt[i] = code
            else:
                failed[i] = self.failure(answer, "regenerated code") if not answer.ok else \
                    f"regenerated code failed: no code in the answer; raw answer: {(answer.raw or '')[:500]!r}"
        scores = {i: similarity(codes[i], rebuilt[i]) for i in rebuilt}
        runs = self._execute(codes, rebuilt) if p.check_execution else {}
        rows, disagree = [], []
        for i in rebuilt:
            row: dict[str, Any] = {"__row": i, "id": f"{ids[i]}/{self.task}/0" if p.pair == "explain" else ids[i],
                                   "code": codes[i], "explanation": explained[i], "regenerated_code": rebuilt[i],
                                   "backtranslation_similarity": scores[i]}
            if p.check_execution:
                row["backtranslation_execution_agrees"] = runs[i][0]
            why = []
            if scores[i] < p.threshold:
                why.append(f"the regenerated code disagrees with the original: similarity {scores[i]:.3f} < "
                           f"threshold {p.threshold}")
            if p.check_execution and not runs[i][0]:
                why.append(f"execution disagrees: {runs[i][1]}")
            if why:
                disagree.append({**row, REASON: "; ".join(why)})
                continue
            if p.pair == "explain":
                row["prompt"] = self.template("backtranslation_prompt").render(code=codes[i], language=p.language)
                row["response"] = explained[i]
            row.update(task=self.task, prompt_generation=self.provenance(
                [*self.templates] if p.pair == "explain" else ["backtranslation_explain", "backtranslation_code"],
                parent_id=ids[i], language=p.language))
            rows.append(row)
        self.ctx.count("pairs_disagreeing", len(disagree))
        if scores:
            self.ctx.metric("mean_similarity", sum(scores.values()) / len(scores), weight=len(scores))
        rows = self.cut(rows)
        self.report_diversity([r["explanation"] for r in rows])
        schema = self._schema(with_pair=p.pair == "explain", provenance=True)
        kept = self.expand(df, rows, schema, drop=tuple(self.dropped_columns()))
        removed = [r for r in (self.removed(df, failed),) if r is not None]
        if disagree:
            removed.append(self.expand(df, disagree, {**self._schema(with_pair=False, provenance=False), REASON: pl.Utf8},
                                       drop=tuple(self.dropped_columns())))
        return curate.StageOutput(kept, pl.concat(removed, how="diagonal_relaxed") if removed else None)

    def _schema(self, *, with_pair: bool, provenance: bool) -> dict[str, Any]:
        schema: dict[str, Any] = {"id": pl.Utf8}
        if with_pair:
            schema.update(prompt=pl.Utf8, response=pl.Utf8)
        schema.update(code=pl.Utf8, explanation=pl.Utf8, regenerated_code=pl.Utf8,
                      backtranslation_similarity=pl.Float64)
        if self.params.check_execution:
            schema["backtranslation_execution_agrees"] = pl.Boolean
        if provenance:
            schema.update(task=pl.Utf8, prompt_generation=pl.Utf8)
        return schema

    def _execute(self, codes: list[str], rebuilt: dict[int, str]) -> dict[int, tuple[bool, str]]:
        """Run both programs of each row in the sandbox: (agree, why not)."""
        import curate_sandbox

        p = self.params
        order = list(rebuilt)
        jobs = [job for i in order for job in (codes[i], rebuilt[i])]
        with curate_sandbox.Sandbox(workers=p.sandbox_workers, timeout_s=p.execution_timeout_s) as sandbox:
            results = sandbox.run_many(jobs)
        out = {}
        for k, i in enumerate(order):
            a, b = results[2 * k], results[2 * k + 1]
            if a.timed_out or a.exit_code != 0:
                out[i] = False, f"the original program failed (exit {a.exit_code}, timed out: {a.timed_out})"
            elif b.timed_out or b.exit_code != 0:
                out[i] = False, f"the regenerated program failed (exit {b.exit_code}, timed out: {b.timed_out})"
            elif a.stdout != b.stdout:
                out[i] = False, f"different output: {a.stdout[:100]!r} vs {b.stdout[:100]!r}"
            else:
                out[i] = True, ""
        self.ctx.count("executions", len(jobs))
        return out
