"""filter.turns: system?, user, assistant, user, assistant, ... ending with the assistant."""

from __future__ import annotations

import polars as pl
import pytest

import curate
from curate.testing import run_stage

MESSAGES = pl.List(pl.Struct({"role": pl.String, "content": pl.String}))


def conv(*turns: str) -> list[dict]:
    return [{"role": role, "content": f"{role} says hi"} for role in turns]


def reasons(conversations: list, **params) -> list[str | None]:
    df = pl.DataFrame({"id": [str(i) for i in range(len(conversations))], "messages": conversations},
                      schema={"id": pl.String, "messages": MESSAGES})
    out = run_stage("filter.turns", df, **params, action="flag")
    return out.kept.sort(pl.col("id").cast(pl.Int64))["turns_reason"].to_list()


def test_alternation_and_ending():
    assert reasons([
        conv("user", "assistant"),
        conv("system", "user", "assistant", "user", "assistant"),
        conv("user", "user", "assistant"),
        conv("assistant", "user", "assistant"),
        conv("user", "system", "assistant"),
        conv("user", "assistant", "user"),
        conv("user", "tool"),
        [], None,
    ]) == [
        None, None,
        "message 2: expected role 'assistant', got 'user'",
        "message 1: expected role 'user', got 'assistant'",
        "message 2: expected role 'assistant', got 'system'",
        "ends with a 'user' message, not the assistant's",
        "message 2: expected role 'assistant', got 'tool'",
        "no messages", "no messages",
    ]


def test_system_message_policy():
    rows = [conv("system", "user", "assistant"), conv("user", "assistant")]
    assert reasons(rows, system="required") == [None, "message 1: expected role 'system', got 'user'"]
    assert reasons(rows, system="forbidden") == ["message 1: expected role 'user', got 'system'", None]


def test_empty_content_ending_and_turn_counts():
    empty = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "  "}]
    assert reasons([empty]) == ["message 2 is empty"]
    assert reasons([empty], allow_empty_content=True) == [None]
    assert reasons([conv("user", "assistant", "user")], end_with_assistant=False) == [None]
    rows = [conv("user", "assistant"), conv("user", "assistant", "user", "assistant", "user", "assistant")]
    assert reasons(rows, min_turns=2, max_turns=2) == ["1 assistant turns < min_turns 2",
                                                       "3 assistant turns > max_turns 2"]


def test_bad_input():
    with pytest.raises(curate.DataError, match="has type String, which is not messages"):
        run_stage("filter.turns", pl.DataFrame({"messages": ["user: hi"]}))
    with pytest.raises(curate.RecipeError, match="needs column 'messages'"):
        run_stage("filter.turns", pl.DataFrame({"prompt": ["hi"]}))
    assert reasons([conv(*(["user", "assistant"] * 2000))]) == [None]  # a long conversation
