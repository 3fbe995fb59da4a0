"""`judge.instruction_following`: check each response against IFEval's verifiable instructions.

Rows carry IFEval's fields: ``instruction_id_list`` (a list of ids), ``kwargs`` (a list with one
dict per id, or that list as a JSON string) and ``response`` (``prompt`` too, when present, for
``combination:repeat_prompt`` without ``prompt_to_repeat``). The stage writes, aligned with
``instruction_id_list``, ``if_follow_strict`` and ``if_follow_loose`` (lists of bool), and
``if_all_strict`` / ``if_all_loose`` (every instruction followed). No engine: the checks are
programs (:mod:`curate_judges.ifeval`).

A row that cannot be checked — an unknown instruction id, kwargs that do not fit the
instruction (a missing count, an unknown relation, a regular expression that does not compile),
as many kwargs as ids, a null response, no instruction at all — is removed with the reason.
"""

from __future__ import annotations

import json
from importlib import metadata
from typing import Any

import polars as pl
from pydantic import Field

import curate
from curate_judges.ifeval.catalog import IFEvalError
from curate_judges.ifeval.verify import Verdict, evaluate

REASON = "reason"
OUTPUTS = ("if_follow_strict", "if_follow_loose", "if_all_strict", "if_all_loose")


class InstructionFollowingParams(curate.Params):
    language_seed: int = Field(
        0, description="Seed of langdetect's sampling, so that `language:response_language` and the "
                        "`change_case:english_*` checks give the same verdict on every run (IFEval leaves it "
                        "unseeded; 0 matches the reference run with `DetectorFactory.seed = 0`).")


def _as_list(value: Any, what: str) -> list:
    """A list column value, or the list a JSON string holds."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as err:
            raise IFEvalError(f"{what} is not valid JSON: {err}") from None
    if isinstance(value, tuple):
        value = list(value)
    if not isinstance(value, list):
        raise IFEvalError(f"{what} must be a list, got {type(value).__name__}")
    return value


def _kwargs_entry(value: Any, index: int) -> dict | None:
    if value is None or isinstance(value, dict):
        return value
    if isinstance(value, str):  # a list of JSON objects
        try:
            value = json.loads(value)
        except ValueError as err:
            raise IFEvalError(f"kwargs[{index}] is not valid JSON: {err}") from None
        if isinstance(value, dict):
            return value
    raise IFEvalError(f"kwargs[{index}] must be a dict, got {type(value).__name__}")


def _check_dtype(df: pl.DataFrame, column: str, where: str) -> None:
    dtype = df.schema[column]
    if not (isinstance(dtype, (pl.List, pl.Array)) or dtype in (pl.String, pl.Null)):
        raise curate.DataError(f"column {column!r} has type {dtype}, which is not a list", where=where,
                               hint=f"{column} holds one list per row (as in IFEval's input_data.jsonl), or "
                                    "that list as a JSON string")


class InstructionFollowingJudge(curate.Judge):
    """Check responses against IFEval's verifiable instructions, strictly and loosely.

    Writes ``if_follow_strict`` / ``if_follow_loose`` (list of bool, one per instruction id) and
    ``if_all_strict`` / ``if_all_loose`` (bool). Rows with an unknown id or bad kwargs are removed
    with the reason. Agrees with IFEval's reference on every instruction id.
    """

    name = "judge.instruction_following"
    Params = InstructionFollowingParams
    reads = ("response", "instruction_id_list", "kwargs")
    writes = OUTPUTS

    def cache_key(self) -> dict[str, Any]:
        # Language verdicts depend on langdetect's profiles.
        try:
            return {"langdetect": metadata.version("langdetect")}
        except metadata.PackageNotFoundError:
            return {}

    def process_batch(self, df: pl.DataFrame) -> curate.StageOutput:
        for column in ("instruction_id_list", "kwargs"):
            _check_dtype(df, column, self.where)
        responses = curate.text_of(df, "response", where=self.where).to_list()
        has_prompt = "prompt" in df.columns or "messages" in df.columns
        prompts = curate.text_of(df, "prompt", where=self.where).to_list() if has_prompt else [None] * df.height
        ids_col, kwargs_col = df["instruction_id_list"].to_list(), df["kwargs"].to_list()

        results: list[tuple | None] = []
        reasons: list[str | None] = []
        for response, ids, kwargs, prompt in zip(responses, ids_col, kwargs_col, prompts):
            try:
                verdict = self._judge(response, ids, kwargs, prompt)
            except IFEvalError as err:
                results.append(None)
                reasons.append(f"cannot check instructions: {err}")
                continue
            results.append((verdict.strict, verdict.loose, verdict.all_strict, verdict.all_loose))
            reasons.append(None)

        ok = pl.Series([r is None for r in reasons], dtype=pl.Boolean)
        good = [r for r in results if r is not None]
        kept = df.filter(ok).with_columns(
            pl.Series("if_follow_strict", [r[0] for r in good], dtype=pl.List(pl.Boolean)),
            pl.Series("if_follow_loose", [r[1] for r in good], dtype=pl.List(pl.Boolean)),
            pl.Series("if_all_strict", [r[2] for r in good], dtype=pl.Boolean),
            pl.Series("if_all_loose", [r[3] for r in good], dtype=pl.Boolean),
        )
        removed = df.filter(~ok).with_columns(
            pl.Series(REASON, [r for r in reasons if r is not None], dtype=pl.String))
        if self.ctx is not None:
            self.ctx.count("rows_following_all_strict", int(sum(r[2] for r in good)))
            self.ctx.count("rows_following_all_loose", int(sum(r[3] for r in good)))
        return curate.StageOutput(kept, removed)

    def _judge(self, response: str | None, ids: Any, kwargs: Any, prompt: str | None) -> Verdict:
        if response is None:
            raise IFEvalError("response is null")
        if ids is None:
            raise IFEvalError("instruction_id_list is null")
        if kwargs is None:
            raise IFEvalError("kwargs is null (give one dict per instruction id, {} when it takes none)")
        ids = _as_list(ids, "instruction_id_list")
        if not ids:
            raise IFEvalError("instruction_id_list is empty: nothing to check")
        if not all(isinstance(i, str) for i in ids):
            raise IFEvalError(f"instruction_id_list must hold strings, got {ids!r}")
        entries = [_kwargs_entry(v, i) for i, v in enumerate(_as_list(kwargs, "kwargs"))]
        return evaluate(ids, response, entries, prompt, seed=self.params.language_seed)
