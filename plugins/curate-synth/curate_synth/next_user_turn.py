"""``generate.next_user_turn``: Nemotron-4's synthetic two-turn prompts.

Given a conversation that ends with the assistant's answer (``messages``, or ``prompt`` plus
``response`` as ``generate.responses`` writes them), the model writes the user's next turn. The
row's ``messages`` become the conversation plus that turn, so ``generate.responses`` answers it
and preference data can be multi-turn.
"""

from __future__ import annotations

import re

import polars as pl

import curate
from curate_synth._prompts import BoundsParams, MixParams, PromptMix, text_model

#: Columns describing the answered turn that no longer describe the row once a turn is added.
STALE = ("prompt", "response", "finish_reason", "prompt_id", "response_index", "generation")

_ROLE_LABEL = re.compile(r"^\s*(?:\*\*)?(?:user|human)\s*(?:\*\*)?\s*:\s*(?:\*\*)?\s*", re.IGNORECASE)


class NextTurnParams(MixParams, BoundsParams):
    """``limit`` (how many two-turn prompts) and ``max_item_chars`` (the new turn's length bound)."""


class NextUserTurn(PromptMix):
    """Write the user's next turn of a (user, assistant) conversation: two-turn prompts."""

    name = "generate.next_user_turn"
    Params = NextTurnParams
    task = "two_turn"
    templates = {"next_user_turn": ("conversation", "messages")}
    reads = (("messages", "prompt"),)
    writes = ("messages", "task", "prompt_generation")

    def dropped_columns(self) -> list[str]:
        return list(STALE)

    def progress_total(self, rows_in: int) -> int | None:
        return min(rows_in, self.params.limit or rows_in) or None

    def conversations(self, df: pl.DataFrame) -> list[list[dict[str, str]] | None]:
        """Each row's conversation as messages (null where a part is missing)."""
        if "response" in df.columns:
            expr = curate.conversation(df)
        elif "messages" in df.columns and curate.is_messages(df.schema["messages"]):
            expr = pl.col("messages")
        else:
            raise curate.DataError("no conversation to continue: the input has no `response` column (and no "
                                   "`messages` column of {role, content} turns)", where=self.where,
                                   hint="run generate.responses first, or give `messages` ending with the "
                                        "assistant's turn")
        return df.select(expr.alias("c"))["c"].to_list()

    def process_batch(self, df: pl.DataFrame) -> curate.StageOutput:
        ids = df["id"].to_list()
        convs = self.conversations(df)
        failed: dict[int, str] = {}
        for i, conv in enumerate(convs):
            why = _unusable(conv)
            if why:
                failed[i] = why
        usable = [i for i in range(df.height) if i not in failed]
        chosen = [usable[j] for j in self.choose(len(usable), 1)]
        self.count_unused(len(usable) - len(chosen))
        render = self.template("next_user_turn").render
        asks = []
        for i in chosen:
            messages = [{"role": m["role"], "content": m["content"]} for m in convs[i]]
            asks.append((f"{ids[i]}/{self.task}", render(messages=messages, conversation=_render(messages))))
        rows = []
        for i, answer in zip(chosen, self.ask(asks, text_model("NextTurn", "message", self.params.max_item_chars))):
            turn = _ROLE_LABEL.sub("", answer.value.message).strip() if answer.ok else ""
            if not turn:
                failed[i] = self.failure(answer, "next user turn") if not answer.ok else \
                    f"next user turn failed: only a role label; raw answer: {(answer.raw or '')[:500]!r}"
                continue
            messages = [{"role": m["role"], "content": m["content"]} for m in convs[i]]
            rows.append({"__row": i, "id": f"{ids[i]}/{self.task}/0",
                         "messages": [*messages, {"role": "user", "content": turn}], "task": self.task,
                         "prompt_generation": self.provenance(["next_user_turn"], conversation_id=ids[i],
                                                              turns=len(messages))})
        rows = self.cut(rows)
        self.report_diversity([row["messages"][-1]["content"] for row in rows])
        schema = {"id": pl.Utf8, "messages": curate.MESSAGES, "task": pl.Utf8, "prompt_generation": pl.Utf8}
        kept = self.expand(df, rows, schema, drop=STALE)
        return self.output(kept, self.removed(df, failed))


def _unusable(conv: list[dict[str, str]] | None) -> str | None:
    """Why a conversation cannot be continued by the user, or ``None``."""
    if not conv:
        return "no conversation (a missing prompt, messages or response)"
    if any(m is None or m.get("content") is None for m in conv):
        return "a turn of the conversation is missing (null prompt, response or content)"
    if conv[-1]["role"] != "assistant":
        return f"the conversation ends with a {conv[-1]['role']!r} turn, not the assistant's"
    if not any(m["role"] == "user" for m in conv):
        return "the conversation has no user turn"
    if not conv[-1]["content"].strip():
        return "the assistant's last turn is empty"
    return None


def _render(messages: list[dict[str, str]]) -> str:
    names = {"user": "User", "assistant": "Assistant", "system": "System"}
    return "\n\n".join(f"{names.get(m['role'], m['role'])}: {m['content']}" for m in messages)

