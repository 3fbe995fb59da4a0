"""`filter.turns`: conversation structure — an optional system message, then user and assistant
messages alternating, ending with the assistant."""

from __future__ import annotations

from typing import Literal

import polars as pl
from pydantic import Field, model_validator

import curate
from curate_filters import _common


class TurnsParams(curate.FilterParams):
    column: str = Field("messages", description="Conversation column: a list of {role, content} structs.")
    system: Literal["optional", "required", "forbidden"] = Field(
        "optional", description="Whether the first message may (`optional`), must (`required`) or must not "
                                "(`forbidden`) be a system message. A system message anywhere else always fails.")
    end_with_assistant: bool = Field(True, description="The last message must be the assistant's.")
    allow_empty_content: bool = Field(False, description="Let messages with empty (or whitespace) content pass.")
    min_turns: int | None = Field(None, ge=0, description="Fewer assistant messages than this fail.")
    max_turns: int | None = Field(None, ge=0, description="More assistant messages than this fail.")

    @model_validator(mode="after")
    def _bounds(self) -> "TurnsParams":
        if self.min_turns is not None and self.max_turns is not None and self.min_turns > self.max_turns:
            raise ValueError(f"`min_turns` ({self.min_turns}) is greater than `max_turns` ({self.max_turns})")
        return self


class TurnsFilter(curate.Filter):
    """Drop conversations whose roles do not alternate user/assistant after an optional system
    message, that do not end with the assistant, or that have empty messages."""

    name = "filter.turns"
    Params = TurnsParams

    def input_columns(self) -> list[str | tuple[str, ...]]:
        return [self.params.column]

    def drop_reason(self, df: pl.DataFrame) -> pl.Expr:
        p = self.params
        dtype = df.schema[p.column]
        if not (curate.is_messages(dtype) or dtype == pl.Null):
            raise curate.DataError(f"column {p.column!r} has type {dtype}, which is not messages (a list of "
                                   "{role, content})", where=self.where,
                                   hint="point `column` at a conversation column, e.g. `messages`")
        if dtype == pl.Null:
            return pl.lit("no messages")
        messages = pl.col(p.column)
        roles = messages.list.eval(pl.element().struct.field("role").fill_null(""))
        # the role each position should have: the system message (when there is one), then
        # user, assistant, user, ...
        at = pl.int_range(pl.len())
        has_system = {"required": pl.lit(True), "optional": pl.element().first() == "system",
                      "forbidden": pl.lit(False)}[p.system]
        expected = (pl.when((at == 0) & has_system).then(pl.lit("system"))
                    .when((at - has_system.cast(pl.Int64)) % 2 == 0).then(pl.lit("user"))
                    .otherwise(pl.lit("assistant")))
        expected_roles = roles.list.eval(expected)
        wrong = roles.list.eval(pl.element() != expected)
        first_wrong = wrong.list.arg_max()
        empty = messages.list.eval(pl.element().struct.field("content").fill_null("").str.strip_chars() == "")
        assistant_turns = roles.list.eval((pl.element() == "assistant").sum()).list.first()

        rules = [
            (messages.is_null() | (messages.list.len() == 0), pl.lit("no messages")),
            (wrong.list.any(), pl.format("message {}: expected role '{}', got '{}'", first_wrong + 1,
                                         expected_roles.list.get(first_wrong), roles.list.get(first_wrong))),
        ]
        if p.end_with_assistant:
            rules.append((roles.list.last() != "assistant",
                          pl.format("ends with a '{}' message, not the assistant's", roles.list.last())))
        if not p.allow_empty_content:
            rules.append((empty.list.any(), pl.format("message {} is empty", empty.list.arg_max() + 1)))
        if p.min_turns is not None:
            rules.append((assistant_turns < p.min_turns,
                          pl.format(f"{{}} assistant turns < min_turns {p.min_turns}", assistant_turns)))
        if p.max_turns is not None:
            rules.append((assistant_turns > p.max_turns,
                          pl.format(f"{{}} assistant turns > max_turns {p.max_turns}", assistant_turns)))
        return _common.first_reason(rules)
