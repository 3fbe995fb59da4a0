"""``generate.dialogue``: Nemotron-4's synthetic multi-turn dialogues, by role play.

Each prompt opens a dialogue. An engine plays the assistant and answers; then a model plays the
user, from a persona (drawn per row from a configurable list) and the conversation so far, and
writes the next user turn; and so on for ``turns`` user turns. User turns are cleaned: a role
label ("User:") and polite filler that carries no request ("Thank you!", "Great, thanks.") are
removed, and anything after a line where the model starts to play the assistant too is cut.

A dialogue stops early when the user turn comes out empty (after cleaning), repeats an earlier
user turn, or fails; when the assistant's answer fails or is cut at ``max_tokens``; or when it
would make the conversation longer than ``max_conversation_tokens``. It then ends at the last
complete assistant answer, and is kept when it has at least ``min_turns`` user turns (else
removed with the reason). Output: ``messages`` ending with the assistant turn.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

import polars as pl
from pydantic import Field, field_validator, model_validator

import curate
from curate_synth._prompts import BoundsParams, MixParams, PromptMix, text_model

#: Columns describing a single answered prompt that no longer describe the row.
STALE = ("prompt", "response", "finish_reason", "prompt_id", "response_index", "generation")

#: Who plays the user, unless a recipe says: short, varied, written for this project.
DEFAULT_PERSONAS = [
    "a high-school student preparing for an exam, who asks for simple explanations and examples",
    "a busy software engineer who wants concise, practical answers and pushes back on vague ones",
    "a retired teacher who is curious about the details and likes to relate them to everyday life",
    "a small-business owner looking for advice they can act on this week",
    "a skeptical journalist who checks claims and asks where the facts come from",
    "a parent helping a child with homework, who needs things explained step by step",
    "a graduate student who wants depth, edge cases and references to related ideas",
    "a non-native English speaker who asks for clarifications of terms and simpler wording",
]

_ROLE_LABEL = re.compile(r"^\s*(?:\*\*)?(?:user|human|me|customer|client)\s*(?:\*\*)?\s*:\s*(?:\*\*)?\s*", re.IGNORECASE)
_OTHER_ROLE = re.compile(r"\n\s*(?:\*\*)?(?:assistant|ai|bot|chatbot|system)\s*(?:\*\*)?\s*:", re.IGNORECASE)
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_FILLER = re.compile(
    r"^(?:"
    r"(?:(?:ok(?:ay)?|great|perfect|awesome|wonderful|excellent|cool|nice|got it|i see)[,!.]*\s*)?"
    r"(?:thanks?|thank you|thx|many thanks|cheers)(?:\s+(?:so|very)\s+much|\s+a\s+lot|\s+again)?"
    r"(?:\s+for\s+[^.!?]{0,80})?"
    r"|(?:ok(?:ay)?|great|perfect|awesome|wonderful|excellent|cool|nice|got it|i see|understood|that makes sense"
    r"|that'?s (?:great|helpful|perfect|very helpful|really helpful|interesting|good to know|clear)"
    r"|i appreciate (?:it|that|your help|the help|the explanation))"
    r"(?:[,!.]*\s*(?:thanks?|thank you))?"
    r")\s*[.!]*$", re.IGNORECASE)
_WORDS = re.compile(r"[0-9a-z]+")


def clean_user_turn(text: str | None) -> str:
    """A user turn as the dialogue keeps it: no role label, no assistant turn played along, no
    polite filler sentence at its start or end, no quotes around it."""
    text = (text or "").strip()
    cut = _OTHER_ROLE.search("\n" + text)
    if cut:
        text = ("\n" + text)[:cut.start()].strip()
    text = _ROLE_LABEL.sub("", text).strip()
    if len(text) > 1 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1].strip()
    sentences = [s for s in _SENTENCE.split(text) if s.strip()]
    start, end = 0, len(sentences)
    while start < end and _FILLER.match(sentences[start].strip()):
        start += 1
    while end > start and _FILLER.match(sentences[end - 1].strip()):
        end -= 1
    if (start, end) == (0, len(sentences)):
        return text  # nothing removed: keep the line breaks
    return " ".join(s.strip() for s in sentences[start:end])


def repeats(turn: str, earlier: list[str], threshold: float) -> bool:
    """Whether ``turn`` says again what an earlier user turn said (same words, or a difflib
    ratio of at least ``threshold`` between the normalized texts)."""
    norm = " ".join(_WORDS.findall(turn.lower()))
    for other in earlier:
        before = " ".join(_WORDS.findall(other.lower()))
        if norm == before or difflib.SequenceMatcher(None, norm, before).ratio() >= threshold:
            return True
    return False


class DialogueParams(MixParams, BoundsParams):
    user_engine: curate.EngineRef = Field(curate.EngineRef("default"),
                                          description="Engine that plays the user (default: `engine`).")
    assistant_engine: curate.EngineRef = Field(curate.EngineRef("default"),
                                               description="Engine that plays the assistant (default: `engine`).")
    turns: int = Field(3, ge=1, description="User turns per dialogue, the prompt being the first; the dialogue ends "
                                            "with the assistant's answer to the last.")
    min_turns: int | None = Field(None, ge=1, description="Keep a dialogue that stopped early when it has at least "
                                                          "this many user turns (default: `turns`, complete dialogues "
                                                          "only); shorter ones are removed with the reason.")
    personas: list[str] = Field(default_factory=lambda: list(DEFAULT_PERSONAS), min_length=1,
                                description="Who the user is: one is drawn per dialogue (seeded) and recorded in "
                                            "provenance.")
    max_conversation_tokens: int | None = Field(
        None, ge=1, description="Stop before an assistant answer that makes the conversation longer than this many "
                                "tokens (prompt plus answer, as the assistant engine counts them).")
    stop_at_truncated: bool = Field(True, description="An assistant answer cut at `max_tokens` (finish reason "
                                                      "`length`) ends the dialogue before it; false keeps cut answers.")
    repeat_threshold: float = Field(0.9, gt=0, le=1,
                                    description="A user turn at least this similar to an earlier one (difflib ratio of "
                                                "the normalized texts) ends the dialogue.")

    @model_validator(mode="before")
    @classmethod
    def _engines(cls, data: Any) -> Any:
        # Without `engine`, the assistant's engine is the stage's engine, so that naming only
        # user_engine and assistant_engine needs no engine called `default`.
        if not isinstance(data, dict):
            return data
        engine = data.get("engine") or data.get("assistant_engine") or "default"
        return {**data, "engine": engine, "user_engine": data.get("user_engine") or engine,
                "assistant_engine": data.get("assistant_engine") or engine}

    @field_validator("personas")
    @classmethod
    def _no_blank(cls, value: list[str]) -> list[str]:
        if any(not p.strip() for p in value):
            raise ValueError("a persona is empty")
        return value

    @model_validator(mode="after")
    def _min_turns(self) -> "DialogueParams":
        if self.min_turns is not None and self.min_turns > self.turns:
            raise ValueError(f"min_turns ({self.min_turns}) is above turns ({self.turns})")
        return self


class Dialogue(PromptMix):
    """Role-play multi-turn dialogues from prompts: a persona plays the user, an engine the assistant."""

    name = "generate.dialogue"
    Params = DialogueParams
    task = "dialogue"
    templates = {"dialogue_user": ("persona", "conversation", "messages", "turn", "turns")}
    reads = (("prompt", "messages"),)
    writes = ("messages", "task", "prompt_generation")

    def dropped_columns(self) -> list[str]:
        return list(STALE)

    def progress_total(self, rows_in: int) -> int | None:
        rows = min(rows_in, self.params.limit or rows_in)
        return rows * (2 * self.params.turns - 1) or None

    def process_batch(self, df: pl.DataFrame) -> curate.StageOutput:
        p = self.params
        ids = df["id"].to_list()
        starts = self._starts(df)
        failed: dict[int, str] = {}
        convs: dict[int, list[dict[str, str]]] = {}
        for i, start in enumerate(starts):
            why = _unusable(start)
            if why:
                failed[i] = why
            else:
                convs[i] = [{"role": m["role"], "content": m["content"]} for m in start]
        usable = sorted(convs)
        chosen = [usable[j] for j in self.choose(len(usable), 1)]
        self.count_unused(len(usable) - len(chosen))
        convs = {i: convs[i] for i in chosen}
        personas = {i: self.rng(ids[i], "persona").choice(p.personas) for i in chosen}
        stopped: dict[int, str] = {}
        active = list(chosen)
        while active:
            active = self._answer(active, convs, ids, stopped)
            active = [i for i in active if _user_turns(convs[i]) < p.turns]
            if active:
                active = self._user(active, convs, ids, personas, stopped)
        rows = []
        for i in chosen:
            conv = convs[i]
            while conv and conv[-1]["role"] != "assistant":
                conv.pop()
            n = _user_turns(conv)
            why = stopped.get(i)
            if not conv or n < (p.min_turns or p.turns):
                failed[i] = f"dialogue stopped after {n} of {p.turns} user turns: {why}"
                continue
            if why:
                self.ctx.count("dialogues_stopped_early")
            rows.append({"__row": i, "id": f"{ids[i]}/{self.task}/0", "messages": conv, "task": self.task,
                         "prompt_generation": self.provenance(
                             ["dialogue_user"], persona=personas[i], parent_id=ids[i], user_turns=n,
                             stopped=why, user_engine=str(p.user_engine), assistant_engine=str(p.assistant_engine),
                             user_model=self._model(p.user_engine), assistant_model=self._model(p.assistant_engine))})
        rows = self.cut(rows)
        generated = [m["content"] for r in rows for m in r["messages"][len(starts[r["__row"]]):]]
        self.report_diversity(generated)
        schema = {"id": pl.Utf8, "messages": curate.MESSAGES, "task": pl.Utf8, "prompt_generation": pl.Utf8}
        kept = self.expand(df, rows, schema, drop=STALE)
        return curate.StageOutput(kept, self.removed(df, failed))

    def _starts(self, df: pl.DataFrame) -> list[list[dict[str, str]] | None]:
        """Each row's opening: its `messages` where it has them, else its `prompt` as a user turn
        (a prompt set may mix single-turn and two-turn rows)."""
        has_messages = "messages" in df.columns and curate.is_messages(df.schema["messages"])
        if not has_messages and "prompt" not in df.columns:
            raise curate.DataError("no prompt to start dialogues from: the input has neither `prompt` nor `messages`",
                                   where=self.where, hint="give rows with a `prompt` column")
        messages = df["messages"].to_list() if has_messages else [None] * df.height
        prompts = curate.text_of(df, "prompt", where=self.where).to_list() if "prompt" in df.columns \
            else [None] * df.height
        return [m if m else ([{"role": "user", "content": t}] if t is not None else None)
                for m, t in zip(messages, prompts)]

    def _model(self, engine: str) -> Any:
        return self.ctx.engine(engine).identity().get("model")

    def _answer(self, active: list[int], convs: dict[int, list[dict[str, str]]], ids: list[str],
                stopped: dict[int, str]) -> list[int]:
        """The assistant's answers to the dialogues in ``active``; returns those that go on."""
        limit = self.params.max_conversation_tokens
        results = self.chat([(f"{ids[i]}/{self.task}/assistant{_user_turns(convs[i])}", list(convs[i]))
                             for i in active], engine=self.params.assistant_engine)
        self.ctx.advance(len(results))
        going = []
        for i, result in zip(active, results):
            turn = _user_turns(convs[i])
            completion = result.completions[0] if result.ok and result.completions else None
            text = completion.text.strip() if completion else ""
            if not result.ok or not text:
                stopped[i] = f"assistant turn {turn} failed: {result.error or 'empty answer'}"
            elif completion.finish_reason == "length" and self.params.stop_at_truncated:
                stopped[i] = f"assistant turn {turn} was cut at max_tokens ({self.params.max_tokens})"
            elif limit and result.prompt_tokens + result.completion_tokens > limit:
                stopped[i] = (f"assistant turn {turn} would make the conversation "
                              f"{result.prompt_tokens + result.completion_tokens} tokens long "
                              f"(max_conversation_tokens: {limit})")
            else:
                convs[i].append({"role": "assistant", "content": text})
                going.append(i)
        return going

    def _user(self, active: list[int], convs: dict[int, list[dict[str, str]]], ids: list[str],
              personas: dict[int, str], stopped: dict[int, str]) -> list[int]:
        """The user's next turns, played from each persona; returns the dialogues that go on."""
        render = self.template("dialogue_user").render
        turns = self.params.turns
        asks = [(f"{ids[i]}/{self.task}/user{_user_turns(convs[i]) + 1}",
                 render(persona=personas[i], messages=convs[i], conversation=_render(convs[i]),
                        turn=_user_turns(convs[i]) + 1, turns=turns)) for i in active]
        going = []
        model = text_model("UserTurn", "message", self.params.max_item_chars)
        for i, answer in zip(active, self.ask(asks, model, engine=self.params.user_engine)):
            turn = _user_turns(convs[i]) + 1
            earlier = [m["content"] for m in convs[i] if m["role"] == "user"]
            text = clean_user_turn(answer.value.message) if answer.ok else ""
            if not answer.ok:
                stopped[i] = self.failure(answer, f"user turn {turn}")
            elif not text:
                stopped[i] = f"user turn {turn} is empty once cleaned (raw: {answer.value.message[:200]!r})"
                self.ctx.count("empty_user_turns")
            elif repeats(text, earlier, self.params.repeat_threshold):
                stopped[i] = f"user turn {turn} repeats an earlier one: {text[:200]!r}"
                self.ctx.count("repeated_user_turns")
            else:
                convs[i].append({"role": "user", "content": text})
                going.append(i)
        return going


def _user_turns(conv: list[dict[str, str]]) -> int:
    return sum(1 for m in conv if m["role"] == "user")


def _unusable(start: list[dict[str, str]] | None) -> str | None:
    """Why a row cannot open a dialogue, or ``None``."""
    if not start or any(m is None or not (m.get("content") or "").strip() for m in start):
        return "empty prompt (or a turn of `messages` without content)"
    if start[-1]["role"] != "user":
        return f"the conversation ends with a {start[-1]['role']!r} turn, not the user's"
    return None


def _render(messages: list[dict[str, str]]) -> str:
    names = {"user": "User", "assistant": "Assistant", "system": "System"}
    return "\n\n".join(f"{names.get(m['role'], m['role'])}: {m['content']}" for m in messages)
