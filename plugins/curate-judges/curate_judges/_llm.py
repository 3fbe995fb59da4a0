"""Helpers shared by the LLM-as-judge stages (``judge.pairwise``, ``judge.rating``): the
conversation of each row as a template sees it, request counters, judge provenance, and reasons
that quote a judge's raw text."""

from __future__ import annotations

from typing import Any

import polars as pl

import curate

#: Longest stretch of a judge's raw text quoted in a removed row's reason (the full text is kept
#: in the row's judgment columns).
MAX_QUOTED = 2000

#: The ``judge`` provenance struct: which stage, engine, model and template produced a verdict.
PROVENANCE = pl.Struct({"stage": pl.Utf8, "engine": pl.Utf8, "model": pl.Utf8, "template": pl.Utf8,
                        "template_sha": pl.Utf8})


def conversations(df: pl.DataFrame, *, where: str) -> list[list[dict[str, str]]]:
    """Each row's conversation so far (``messages``, else ``prompt`` as one user turn) as plain
    ``{role, content}`` dicts; a row without one is an empty list."""
    has_messages = "messages" in df.columns and curate.is_messages(df.schema["messages"])
    if not has_messages and "prompt" in df.columns:
        dtype = df.schema["prompt"]
        if not curate.is_messages(dtype) and dtype not in (pl.Utf8, pl.Null):
            raise curate.DataError(f"column 'prompt' has type {dtype}, which is not text", where=where,
                                   hint="the prompt must be a string (or `messages`: a list of {role, content})")
    try:
        expr = curate.prompt_messages(df)
    except KeyError:
        raise curate.DataError("the data has neither a `prompt` nor a `messages` column", where=where,
                               hint="judge rows that carry the prompt the responses answer") from None
    rows = df.select(expr.alias("m"))["m"].to_list()
    return [[{"role": str(m.get("role")), "content": str(m.get("content") or "")} for m in (msgs or [])]
            for msgs in rows]


def prompt_text(messages: list[dict[str, str]]) -> str:
    """What the judge reads as "the prompt": the user's text for a single user turn, else the
    conversation as ``role: content`` lines (so earlier turns are not lost)."""
    if len(messages) == 1 and messages[0]["role"] == "user":
        return messages[0]["content"]
    return "\n".join(f"{m['role']}: {m['content']}" for m in messages)


def judge_messages(system_prompt: str | None, text: str) -> list[dict[str, str]]:
    """The judge's conversation: an optional system turn, then the rendered template."""
    system = [{"role": "system", "content": system_prompt}] if system_prompt else []
    return [*system, {"role": "user", "content": text}]


def counting(ctx: curate.StageContext) -> curate.OnResult:
    """An ``on_result`` callback that advances progress per request and counts
    ``requests_sent`` / ``requests_cached`` / ``requests_failed``."""

    def on_result(result: curate.ChatResult) -> None:
        ctx.advance(1)
        ctx.count("requests_cached" if result.cached else "requests_sent")
        if not result.ok:
            ctx.count("requests_failed")

    return on_result


def start_counters(ctx: curate.StageContext, *names: str) -> None:
    """Report every named counter, at zero if nothing adds to it (stats then always show it)."""
    for name in ("requests_sent", "requests_cached", "requests_failed", *names):
        ctx.count(name, 0)


def provenance(ctx: curate.StageContext, engine: str, template: curate.Template) -> dict[str, Any]:
    """The ``judge`` provenance of the rows one stage run judged."""
    model = ctx.engine(engine).identity().get("model")
    return {"stage": ctx.stage_id, "engine": str(engine), "model": None if model is None else str(model),
            "template": template.name, "template_sha": template.sha}


def quoted(text: str | None) -> str:
    """A judge's raw text for a reason: ``repr``-quoted, cut at :data:`MAX_QUOTED` characters."""
    text = "" if text is None else text
    if len(text) > MAX_QUOTED:
        text = text[:MAX_QUOTED] + "..."
    return repr(text)


def stage_template(stage: curate.Component, default: str, variables: set[str] | frozenset[str]) -> curate.Template:
    """The template a judging stage uses: its ``template`` param (inline or ``file:``) or the
    package's ``templates/<default>``, checked against the variables the stage supplies."""
    from pathlib import Path

    base_dir = stage.ctx.recipe_dir if stage.ctx is not None else Path.cwd()
    template = curate.load_template(stage.params.template, curate.package_template("curate_judges", default),
                                    base_dir=base_dir, where=stage.where)
    return template.check(variables, where=stage.where)
