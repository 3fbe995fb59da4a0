"""The catalog: every IFEval instruction id, its kwargs schema, its checker and its conflicts.

An :class:`Instruction` says what a response must do (``summary``, in our words), which kwargs
it takes (:class:`Arg`: name, type, allowed values) and how to check it. :func:`validate` turns
raw kwargs (a dict as in IFEval's ``input_data.jsonl``; null values count as absent, as in the
Hugging Face copy of the data) into checked ones, or raises :class:`InvalidKwargs`.

Validation refuses what the reference cannot evaluate deterministically: a missing or negative
count, a null relation or word (the reference draws a random one), an unknown relation or
language, an unexpected key, a regular expression that does not compile (the reference
crashes). It is stricter in one way: an empty or blank word, phrase, marker or splitter is
refused too, where the reference would accept a check that always or never passes.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Literal, Mapping

from curate_judges.ifeval import checks
from curate_judges.ifeval.language import LANGUAGES

#: The two comparisons of the counting instructions.
RELATIONS = ("less than", "at least")
#: The one instruction whose kwarg may come from the row's prompt.
REPEAT_PROMPT = "combination:repeat_prompt"

ArgType = Literal["count", "relation", "text", "texts", "letter", "language"]
Checker = Callable[[str, Mapping[str, Any], int], bool]


class IFEvalError(ValueError):
    """An instruction that cannot be checked: unknown id or bad kwargs."""


class UnknownInstruction(IFEvalError):
    """An instruction id that IFEval does not define."""


class InvalidKwargs(IFEvalError):
    """Kwargs that do not fit the instruction's schema."""


@dataclass(frozen=True)
class Arg:
    """One kwarg of an instruction.

    ``type`` is one of ``count`` (an int, at least ``minimum``), ``relation`` (one of
    :data:`RELATIONS`), ``text`` (a non-blank string), ``texts`` (a non-empty list of non-blank
    strings), ``letter`` (one non-space character) or ``language`` (a code of :data:`LANGUAGES`).
    ``pattern`` builds, from a value, the regular expression the checker will use: the value is
    then a regular expression and must compile."""

    name: str
    type: ArgType
    description: str
    minimum: int = 0
    optional: bool = False
    pattern: Callable[[str], str] | None = field(default=None, compare=False, repr=False)

    @property
    def choices(self) -> tuple[str, ...] | None:
        """The allowed values, for ``relation`` and ``language`` args."""
        return RELATIONS if self.type == "relation" else tuple(LANGUAGES) if self.type == "language" else None

    def json_schema(self) -> dict[str, Any]:
        """The arg as JSON Schema (for prompt builders and structured generation)."""
        schema: dict[str, Any] = {"description": self.description}
        if self.type == "count":
            schema.update(type="integer", minimum=self.minimum)
        elif self.type == "texts":
            schema.update(type="array", minItems=1, items={"type": "string", "minLength": 1})
        elif self.type == "letter":
            schema.update(type="string", minLength=1, maxLength=1)
        else:
            schema.update(type="string", minLength=1)
        if self.choices:
            schema["enum"] = list(self.choices)
        return schema

    def validate(self, value: Any) -> Any:
        """The value, checked (an integral float becomes an int); :class:`InvalidKwargs` if bad."""
        if self.type == "count":
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidKwargs(f"{self.name} must be an integer, got {value!r}")
            if value < self.minimum:
                raise InvalidKwargs(f"{self.name} must be at least {self.minimum}, got {value}")
            return value
        if self.type == "texts":
            if not isinstance(value, (list, tuple)) or not value:
                raise InvalidKwargs(f"{self.name} must be a non-empty list of strings, got {value!r}")
            return [self._text(v, f"{self.name}[{i}]") for i, v in enumerate(value)]
        if self.type == "letter":
            if not isinstance(value, str) or len(value) != 1 or value.isspace() or len(value.lower()) != 1:
                raise InvalidKwargs(f"{self.name} must be one character (not a space), got {value!r}")
            return value
        if self.type in ("relation", "language"):
            if value not in self.choices:
                shown = ", ".join(repr(c) for c in self.choices)
                raise InvalidKwargs(f"{self.name} must be one of {shown}; got {value!r}")
            return value
        return self._text(value, self.name)

    def _text(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise InvalidKwargs(f"{where} must be a non-empty string, got {value!r}")
        if self.pattern is not None:
            try:
                re.compile(self.pattern(value), re.IGNORECASE)
            except re.error as err:
                raise InvalidKwargs(f"{where} is used as a regular expression (as in IFEval) and "
                                    f"{value!r} is not one: {err}") from None
        return value


@dataclass(frozen=True)
class Instruction:
    """One IFEval instruction: its id, what it asks, its kwargs and its checker."""

    id: str
    summary: str
    args: tuple[Arg, ...]
    checker: Checker = field(compare=False, repr=False)
    #: Checks across args (the n-th paragraph must exist), after each arg is valid.
    cross_check: Callable[[dict[str, Any]], None] | None = field(default=None, compare=False, repr=False)

    @property
    def group(self) -> str:
        """The id's prefix: ``keywords``, ``length_constraints``, ``detectable_format``, ..."""
        return self.id.split(":")[0]

    @property
    def arg_names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.args)

    def kwargs_schema(self) -> dict[str, Any]:
        """The kwargs as a JSON Schema object."""
        return {"type": "object", "properties": {a.name: a.json_schema() for a in self.args},
                "required": [a.name for a in self.args if not a.optional], "additionalProperties": False}

    def validate(self, kwargs: Mapping[str, Any] | None, prompt: str | None = None) -> dict[str, Any]:
        """Checked kwargs: null values dropped, every required arg present and valid, no other
        key. ``combination:repeat_prompt`` without ``prompt_to_repeat`` takes ``prompt``."""
        given = {k: v for k, v in (kwargs or {}).items() if v is not None}
        unknown = sorted(set(given) - set(self.arg_names))
        if unknown:
            expected = ", ".join(self.arg_names) or "none"
            raise InvalidKwargs(f"unexpected kwargs {', '.join(map(repr, unknown))} (expected: {expected})")
        if self.id == REPEAT_PROMPT and "prompt_to_repeat" not in given and prompt is not None:
            given["prompt_to_repeat"] = prompt
        out = {}
        for arg in self.args:
            if arg.name not in given:
                raise InvalidKwargs(f"missing kwarg {arg.name!r} ({arg.description})")
            out[arg.name] = arg.validate(given[arg.name])
        if self.cross_check is not None:
            self.cross_check(out)
        return out


def _count(name: str, description: str, minimum: int = 0) -> Arg:
    return Arg(name, "count", description, minimum=minimum)


def _relation(name: str = "relation") -> Arg:
    return Arg(name, "relation", "`less than` (count < threshold) or `at least` (count >= threshold)")


def _nth_paragraph_exists(kw: dict[str, Any]) -> None:
    if kw["nth_paragraph"] > kw["num_paragraphs"]:
        raise InvalidKwargs(f"nth_paragraph ({kw['nth_paragraph']}) must be at most num_paragraphs "
                            f"({kw['num_paragraphs']})")


def _postscript_pattern(marker: str) -> str:
    marker = marker.strip()
    return "" if marker in ("P.S.", "P.P.S") else r"\s*" + marker.lower() + r".*$"


_INSTRUCTIONS = (
    Instruction("keywords:existence", "Mention every one of the keywords (anywhere, any case).", (
        Arg("keywords", "texts", "Words that must appear (each a regular expression, matched ignoring case).",
            pattern=lambda w: w),), checks.keywords_existence),
    Instruction("keywords:frequency", "Use a word less than / at least N times.", (
        Arg("keyword", "text", "The word (a regular expression, matched ignoring case, also inside longer words).",
            pattern=str.strip),
        _count("frequency", "How many times."), _relation()), checks.keywords_frequency),
    Instruction("keywords:forbidden_words", "Do not use any of the words (as whole words, any case).", (
        Arg("forbidden_words", "texts", "Words that must not appear (regular expressions between word boundaries).",
            pattern=lambda w: rf"\b{w}\b"),), checks.keywords_forbidden_words),
    Instruction("keywords:letter_frequency", "Use a letter (any character) less than / at least N times.", (
        Arg("letter", "letter", "The character, counted ignoring case."),
        _count("let_frequency", "How many times."), _relation("let_relation")), checks.keywords_letter_frequency),
    Instruction("language:response_language", "Answer entirely in the given language.", (
        Arg("language", "language", "ISO 639-1 code of the language (one of IFEval's 30)."),),
        checks.language_response_language),
    Instruction("length_constraints:number_sentences", "Write less than / at least N sentences.", (
        _count("num_sentences", "Number of sentences (Punkt's English sentence splitter)."), _relation()),
        checks.length_number_sentences),
    Instruction("length_constraints:number_paragraphs", "Write exactly N paragraphs separated by ***.", (
        _count("num_paragraphs", "Number of paragraphs separated by the markdown divider ***."),),
        checks.length_number_paragraphs),
    Instruction("length_constraints:number_words", "Write less than / at least N words.", (
        _count("num_words", "Number of words (runs of letters, digits and _)."), _relation()),
        checks.length_number_words),
    Instruction("length_constraints:nth_paragraph_first_word",
                "Write exactly N paragraphs separated by blank lines; paragraph n starts with a given word.", (
                    _count("num_paragraphs", "Number of paragraphs separated by \\n\\n.", minimum=1),
                    _count("nth_paragraph", "Which paragraph (1 = the first).", minimum=1),
                    Arg("first_word", "text", "The word it must start with (compared in lower case).")),
                checks.length_nth_paragraph_first_word, _nth_paragraph_exists),
    Instruction("detectable_content:number_placeholders", "Include at least N placeholders in [square brackets].", (
        _count("num_placeholders", "Minimum number of [placeholders]."),), checks.content_number_placeholders),
    Instruction("detectable_content:postscript", "End with a postscript starting with the marker (P.S., P.P.S, ...).", (
        Arg("postscript_marker", "text", "The marker: `P.S.` or `P.P.S` (spaces allowed between letters), or a "
                                         "regular expression.", pattern=_postscript_pattern),),
        checks.content_postscript),
    Instruction("detectable_format:number_bullet_lists", "Use exactly N markdown bullet points (* or -).", (
        _count("num_bullets", "Exact number of lines starting with `*` or `-`."),), checks.format_number_bullet_lists),
    Instruction("detectable_format:constrained_response",
                "Answer with 'My answer is yes.', 'My answer is no.' or 'My answer is maybe.'", (),
                checks.format_constrained_response),
    Instruction("detectable_format:number_highlighted_sections", "Highlight at least N sections as *text*.", (
        _count("num_highlights", "Minimum number of *highlighted* (or **bold**) spans."),),
        checks.format_number_highlighted_sections),
    Instruction("detectable_format:multiple_sections", "Write at least N sections, each starting with 'Splitter X'.", (
        Arg("section_spliter", "text", "The word before each section's number, e.g. `Section` or `SECTION` (a "
                                       "regular expression, case-sensitive).",
            pattern=lambda s: r"\s?" + s.strip() + r"\s?\d+\s?"),
        _count("num_sections", "Minimum number of sections.")), checks.format_multiple_sections),
    Instruction("detectable_format:json_format", "Answer with JSON only (a ``` fence is allowed).", (),
                checks.format_json_format),
    Instruction("detectable_format:title", "Include a title in double angular brackets, <<like this>>.", (),
                checks.format_title),
    Instruction("combination:two_responses", "Give two different answers separated by ******.", (),
                checks.combination_two_responses),
    Instruction(REPEAT_PROMPT, "First repeat the request word for word, then answer.", (
        Arg("prompt_to_repeat", "text", "The request to repeat (compared ignoring case); when absent, the row's "
                                        "prompt.", optional=True),), checks.combination_repeat_prompt),
    Instruction("startend:end_checker", "End with the exact phrase.", (
        Arg("end_phrase", "text", "The closing phrase (compared ignoring case; a closing quote may follow)."),),
        checks.startend_end_checker),
    Instruction("change_case:capital_word_frequency", "Use all-capital words less than / at least N times.", (
        _count("capital_frequency", "Number of all-capital words (NLTK word tokens)."), _relation("capital_relation")),
        checks.case_capital_word_frequency),
    Instruction("change_case:english_capital", "Answer in English, in capital letters only.", (),
                checks.case_english_capital),
    Instruction("change_case:english_lowercase", "Answer in English, in lowercase letters only.", (),
                checks.case_english_lowercase),
    Instruction("punctuation:no_comma", "Do not use any comma.", (), checks.punctuation_no_comma),
    Instruction("startend:quotation", "Wrap the whole answer in double quotation marks.", (),
                checks.startend_quotation),
)

#: Every instruction id IFEval defines, in the reference's order, with its instruction.
CATALOG: Mapping[str, Instruction] = MappingProxyType({i.id: i for i in _INSTRUCTIONS})
INSTRUCTION_IDS: tuple[str, ...] = tuple(CATALOG)


def instruction(instruction_id: str) -> Instruction:
    """The catalog entry of ``instruction_id``; :class:`UnknownInstruction` (with the closest
    ids) when IFEval does not define it."""
    try:
        return CATALOG[instruction_id]
    except (KeyError, TypeError):
        close = difflib.get_close_matches(str(instruction_id), INSTRUCTION_IDS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise UnknownInstruction(f"unknown instruction id {instruction_id!r}{hint}") from None


def validate(instruction_id: str, kwargs: Mapping[str, Any] | None = None, prompt: str | None = None) -> dict[str, Any]:
    """``instruction(instruction_id).validate(kwargs, prompt)``."""
    return instruction(instruction_id).validate(kwargs, prompt)


# --- conflicts -----------------------------------------------------------------------------------
# Which instructions a prompt should not combine (the reference's INSTRUCTION_CONFLICTS, before
# its symmetric closure): each id conflicts with itself and the ids listed; "all but" entries
# name the ids it may be combined with.

def _all_but(*allowed: str) -> frozenset[str]:
    return frozenset(set(INSTRUCTION_IDS) - set(allowed))


_DECLARED: dict[str, frozenset[str]] = {
    "language:response_language": frozenset({
        "detectable_format:multiple_sections", "keywords:existence", "keywords:frequency",
        "keywords:forbidden_words", "startend:end_checker", "change_case:english_capital",
        "change_case:english_lowercase"}),
    "length_constraints:number_paragraphs": frozenset({
        "length_constraints:nth_paragraph_first_word", "length_constraints:number_sentences"}),
    "length_constraints:nth_paragraph_first_word": frozenset({"length_constraints:number_paragraphs"}),
    "detectable_format:constrained_response": _all_but(),
    "detectable_format:multiple_sections": frozenset({
        "language:response_language", "detectable_format:number_highlighted_sections"}),
    "detectable_format:json_format": _all_but("keywords:forbidden_words", "keywords:existence"),
    "combination:two_responses": _all_but("keywords:forbidden_words", "keywords:existence",
                                          "language:response_language", "detectable_format:title",
                                          "punctuation:no_comma"),
    "combination:repeat_prompt": _all_but("keywords:existence", "detectable_format:title", "punctuation:no_comma"),
    "change_case:capital_word_frequency": frozenset({
        "change_case:english_lowercase", "change_case:english_capital"}),
    "change_case:english_lowercase": frozenset({"change_case:english_capital"}),
    "startend:quotation": frozenset({"detectable_format:title"}),
}


def _closure() -> Mapping[str, frozenset[str]]:
    table = {i: {i} | set(_DECLARED.get(i, ())) for i in INSTRUCTION_IDS}
    for a in INSTRUCTION_IDS:
        for b in list(table[a]):
            table[b].add(a)
    return MappingProxyType({i: frozenset(s) for i, s in table.items()})


#: For each id, the ids it must not be combined with in one prompt (itself included; symmetric).
CONFLICTS: Mapping[str, frozenset[str]] = _closure()


def conflicts(a: str, b: str) -> bool:
    """Whether instructions ``a`` and ``b`` should not be given together (``conflicts(a, a)`` is
    True: IFEval's generator never repeats an instruction)."""
    instruction(a), instruction(b)
    return b in CONFLICTS[a]


def conflicts_with(instruction_id: str) -> frozenset[str]:
    """The ids that conflict with ``instruction_id`` (itself included)."""
    return CONFLICTS[instruction(instruction_id).id]


def conflicting_pairs(instruction_ids: list[str] | tuple[str, ...]) -> list[tuple[str, str]]:
    """The pairs of ``instruction_ids`` (by position, a before b) that conflict: empty when the
    set can be combined in one prompt."""
    ids = list(instruction_ids)
    return [(a, b) for i, a in enumerate(ids) for b in ids[i + 1:] if conflicts(a, b)]
