"""Verifiable constraints for ``generate.instruction_following``: which to combine, their kwargs,
and how to say them.

The catalog, the checkers and IFEval's conflict table are ``curate_judges.ifeval`` (what
``judge.instruction_following`` runs); this module only *draws* from it:

* :func:`draw_ids` picks instruction ids no two of which conflict: IFEval's table plus
  :data:`EXTRA_CONFLICTS` (pairs the table allows but that no response could satisfy with the
  kwargs we draw);
* :func:`draw_kwargs` draws kwargs that a response can satisfy *together*: every length-like
  count (words, sentences, paragraphs, bullets) comes from one length class per row, so "fewer
  than 150 words" never meets "at least 15 sentences"; words that must appear never include a
  forbidden word; a letter to use rarely never hides in a required keyword; section markers
  follow the case a case constraint asks for;
* :func:`describe` words one constraint for the prompt (our own phrasing, a few variants).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Any

import polars as pl
from curate_judges import ifeval

#: Left out unless `instruction_ids` names it: it asks for "My answer is yes/no/maybe.", which
#: makes sense for yes/no questions only, not for prompts in general.
DEFAULT_EXCLUDED = ("detectable_format:constrained_response",)

#: Pairs IFEval's table allows that we never combine: a language without letters to count, or
#: with few all-capital words, makes the count unreachable.
EXTRA_CONFLICTS = frozenset({
    frozenset({"language:response_language", "keywords:letter_frequency"}),
    frozenset({"language:response_language", "change_case:capital_word_frequency"}),
})

#: Needs the request to repeat; in a second user turn "the request" is ambiguous.
SINGLE_TURN_ONLY = ("combination:repeat_prompt",)

#: Languages drawn for `language:response_language`: written with spaces and Latin-style
#: sentence ends, so that word and sentence counts mean what they say.
RESPONSE_LANGUAGES = ("es", "pt", "fr", "de", "it", "ru", "pl", "fi", "vi", "sw", "uk", "bg")

FORBIDDEN_WORDS = ("very", "really", "basically", "actually", "thing", "stuff", "literally", "obviously",
                   "simply", "nice", "awesome", "huge", "amazing", "totally")
FALLBACK_KEYWORDS = ("example", "balance", "future", "community", "history", "detail", "reason", "journey",
                     "challenge", "practice", "pattern", "season")
FIRST_WORDS = ("imagine", "first", "next", "finally", "overall", "today", "meanwhile", "consider", "perhaps",
               "ultimately")
END_PHRASES = ("Is there anything else I can help with?", "Let me know if you have additional questions.",
               "Hope this helps.", "That is all for now.", "Thank you for reading.", "Any other questions?")
POSTSCRIPT_MARKERS = ("P.S.", "P.P.S")
COMMON_LETTERS = ("e", "a", "t", "o", "n", "s", "i", "r")
RARE_LETTERS = ("q", "z", "x", "j")

_STOPWORDS = frozenset("""about above after again against among because before being below between
could does doing during each every from further have having here itself more most other ought
ourselves should some such than that their theirs them themselves then there these they this those
through under until very were what when where which while whom with would your yours yourself
please write explain describe using include including within without into also just make many""".split())

#: Per length class, the range every length count of a row falls in: [low, high).
LENGTH = {
    "short": {"words": (40, 150), "sentences": (3, 8), "paragraphs": (2, 3), "bullets": (2, 4), "sections": (2, 3),
              "highlights": (1, 3), "capitals": (2, 5), "letters": (5, 10), "keyword": (1, 2)},
    "long": {"words": (300, 600), "sentences": (15, 40), "paragraphs": (4, 5), "bullets": (3, 6), "sections": (3, 5),
             "highlights": (2, 4), "capitals": (3, 8), "letters": (15, 30), "keyword": (2, 4)},
}

_ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth")


def compatible(a: str, b: str, prompt: str = "") -> bool:
    """Whether two instruction ids may be given together (for ``prompt``: a prompt with a comma
    cannot be repeated without one)."""
    if {a, b} == {"combination:repeat_prompt", "punctuation:no_comma"} and "," in prompt:
        return False
    return not ifeval.conflicts(a, b) and frozenset({a, b}) not in EXTRA_CONFLICTS


def largest_compatible(ids: list[str] | tuple[str, ...]) -> int:
    """The size of the largest set of ``ids`` no two of which conflict (exact: the catalog has 25)."""
    ids = list(dict.fromkeys(ids))
    best = 0

    def grow(size: int, rest: list[str]) -> None:
        nonlocal best
        best = max(best, size)
        for i, a in enumerate(rest):
            if size + len(rest) - i <= best:
                return
            grow(size + 1, [b for b in rest[i + 1:] if compatible(a, b)])

    grow(0, ids)
    return best


def draw_ids(rng: random.Random, pool: list[str], k: int, minimum: int, prompt: str = "", *,
             tries: int = 50) -> list[str] | None:
    """``k`` ids (at least ``minimum``) from ``pool`` for ``prompt``, none conflicting; ``None``
    when random orders keep falling short of ``minimum``."""
    best: list[str] = []
    for _ in range(tries):
        chosen: list[str] = []
        for candidate in rng.sample(pool, len(pool)):
            if len(chosen) == k:
                break
            if all(compatible(candidate, c, prompt) for c in chosen):
                chosen.append(candidate)
        if len(chosen) == k:
            return chosen
        best = max(best, chosen, key=len)
    return best if len(best) >= minimum else None


@dataclass
class _Row:
    """What one row's kwargs must agree on."""

    rng: random.Random
    prompt: str
    ids: set[str]
    length: str
    avoid_letter: str | None = None
    used_words: set[str] = field(default_factory=set)

    def span(self, what: str) -> tuple[int, int]:
        return LENGTH[self.length][what]

    def count(self, what: str, relation: str | None = None) -> int:
        """A threshold for a count that lies in the row's range: below it for ``at least``,
        above it for ``less than``, inside it for exact counts."""
        low, high = self.span(what)
        if relation == "at least":
            return self.rng.randint(max(1, low // 2), low)
        if relation == "less than":
            return self.rng.randint(high, high + max(2, high // 2))
        return self.rng.randint(low, high)

    def relation(self) -> str:
        return self.rng.choice(ifeval.RELATIONS)

    def keywords(self, n: int) -> list[str]:
        """Words for the response to use: content words of the prompt, else common words; never
        a forbidden word, the letter to avoid, or a word already used by another constraint."""
        words = [w.lower() for w in re.findall(r"[A-Za-z]{5,12}", self.prompt)]
        pool = [w for w in dict.fromkeys(words) if w not in _STOPWORDS]
        pool += [w for w in FALLBACK_KEYWORDS if w not in pool]
        pool = [w for w in pool if w not in FORBIDDEN_WORDS and w not in self.used_words
                and not (self.avoid_letter and self.avoid_letter in w)]
        chosen = self.rng.sample(pool[:12], min(n, len(pool[:12])))
        self.used_words.update(chosen)
        return chosen

    def case(self, word: str) -> str:
        if "change_case:english_capital" in self.ids:
            return word.upper()
        if "change_case:english_lowercase" in self.ids:
            return word.lower()
        return word


def _kwargs(instruction_id: str, row: _Row) -> dict[str, Any]:
    rng = row.rng
    if instruction_id == "keywords:existence":
        return {"keywords": row.keywords(rng.randint(1, 2))}
    if instruction_id == "keywords:frequency":
        relation = row.relation()
        low, high = row.span("keyword")
        frequency = rng.randint(low, high) if relation == "at least" else rng.randint(2, 3)
        return {"keyword": row.keywords(1)[0], "frequency": frequency, "relation": relation}
    if instruction_id == "keywords:forbidden_words":
        return {"forbidden_words": rng.sample(FORBIDDEN_WORDS, rng.randint(2, 3))}
    if instruction_id == "keywords:letter_frequency":
        relation = row.relation()
        if relation == "less than":
            return {"letter": row.avoid_letter, "let_frequency": rng.randint(3, 6), "let_relation": relation}
        return {"letter": rng.choice(COMMON_LETTERS), "let_frequency": row.count("letters", "at least"),
                "let_relation": relation}
    if instruction_id == "language:response_language":
        return {"language": rng.choice(RESPONSE_LANGUAGES)}
    if instruction_id == "length_constraints:number_sentences":
        relation = row.relation()
        return {"num_sentences": row.count("sentences", relation), "relation": relation}
    if instruction_id == "length_constraints:number_words":
        relation = row.relation()
        return {"num_words": row.count("words", relation), "relation": relation}
    if instruction_id == "length_constraints:number_paragraphs":
        return {"num_paragraphs": row.count("paragraphs")}
    if instruction_id == "length_constraints:nth_paragraph_first_word":
        n = row.count("paragraphs")
        return {"num_paragraphs": n, "nth_paragraph": rng.randint(1, n), "first_word": rng.choice(FIRST_WORDS)}
    if instruction_id == "detectable_content:number_placeholders":
        return {"num_placeholders": rng.randint(1, 3)}
    if instruction_id == "detectable_content:postscript":
        return {"postscript_marker": rng.choice(POSTSCRIPT_MARKERS)}
    if instruction_id == "detectable_format:number_bullet_lists":
        return {"num_bullets": row.count("bullets")}
    if instruction_id == "detectable_format:number_highlighted_sections":
        return {"num_highlights": row.count("highlights")}
    if instruction_id == "detectable_format:multiple_sections":
        # The splitter is matched case-sensitively; all-capital words are counted elsewhere.
        if "change_case:capital_word_frequency" in row.ids:
            splitter = rng.choice(("Section", "Part"))
        else:
            splitter = rng.choice(("Section", "SECTION", "Part", "PART"))
        return {"section_spliter": row.case(splitter), "num_sections": row.count("sections")}
    if instruction_id == "combination:repeat_prompt":
        return {"prompt_to_repeat": row.prompt}
    if instruction_id == "startend:end_checker":
        return {"end_phrase": rng.choice(END_PHRASES)}
    if instruction_id == "change_case:capital_word_frequency":
        relation = row.relation()
        low, high = row.span("capitals")
        return {"capital_frequency": rng.randint(low, high) if relation == "at least" else rng.randint(high + 3, high + 8),
                "capital_relation": relation}
    return {}  # the instruction takes no kwargs


#: Kwargs drawn first: the letter to avoid must be known before keywords are picked.
_FIRST = ("keywords:letter_frequency", "keywords:forbidden_words")


def draw_kwargs(rng: random.Random, ids: list[str], prompt: str) -> list[dict[str, Any]]:
    """Kwargs for each of ``ids`` (aligned with it) that one response can satisfy together."""
    row = _Row(rng, prompt, set(ids), rng.choice(tuple(LENGTH)))
    if "keywords:letter_frequency" in ids:
        row.avoid_letter = rng.choice([c for c in RARE_LETTERS if c not in prompt.lower()] or RARE_LETTERS)
    order = sorted(ids, key=lambda i: (i not in _FIRST, ids.index(i)))
    drawn = {i: _kwargs(i, row) for i in order}
    return [ifeval.validate(i, drawn[i]) for i in ids]


# --- wording -------------------------------------------------------------------------------------

def _quoted(words: list[str]) -> str:
    items = [f'"{w}"' for w in words]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _times(n: int) -> str:
    return {1: "once", 2: "twice"}.get(n, f"{n} times")


def describe(instruction_id: str, kw: dict[str, Any], rng: random.Random) -> str:
    """The constraint in words, for the prompt."""
    pick = rng.choice
    relation = kw.get("relation") or kw.get("let_relation") or kw.get("capital_relation")
    fewer = relation == "less than"
    if instruction_id == "keywords:existence":
        words, many = _quoted(kw["keywords"]), len(kw["keywords"]) > 1
        return pick((f"Include the keyword{'s' if many else ''} {words} in your response.",
                     f"Make sure {words} appear{'' if many else 's'} somewhere in your answer."))
    if instruction_id == "keywords:frequency":
        word, n = kw["keyword"], kw["frequency"]
        if fewer:
            return f'Use the word "{word}" fewer than {n} times (or not at all).'
        return pick((f'Use the word "{word}" at least {_times(n)}.',
                     f'The word "{word}" should appear at least {_times(n)} in your answer.'))
    if instruction_id == "keywords:forbidden_words":
        return pick((f"Do not use the words {_quoted(kw['forbidden_words'])} anywhere in your response.",
                     f"Avoid the words {_quoted(kw['forbidden_words'])} entirely."))
    if instruction_id == "keywords:letter_frequency":
        letter, n = kw["letter"], kw["let_frequency"]
        if fewer:
            return f'The letter "{letter}" may appear fewer than {n} times in your response, counting upper and lower case.'
        return f'The letter "{letter}" should appear at least {n} times in your response.'
    if instruction_id == "language:response_language":
        name = ifeval.LANGUAGES[kw["language"]]
        return pick((f"Write your entire response in {name}; no other language is allowed.",
                     f"Respond only in {name}, with no words in any other language."))
    if instruction_id == "length_constraints:number_sentences":
        n = kw["num_sentences"]
        return f"Answer in fewer than {n} sentences." if fewer else f"Your response should contain at least {n} sentences."
    if instruction_id == "length_constraints:number_words":
        n = kw["num_words"]
        if fewer:
            return pick((f"Keep your answer under {n} words.", f"Answer with fewer than {n} words."))
        return pick((f"Answer with at least {n} words.", f"Your response should be at least {n} words long."))
    if instruction_id == "length_constraints:number_paragraphs":
        n = kw["num_paragraphs"]
        return f"Write exactly {n} paragraphs, separated from each other by the markdown divider ***."
    if instruction_id == "length_constraints:nth_paragraph_first_word":
        n, k = kw["num_paragraphs"], kw["nth_paragraph"]
        return (f"Write exactly {n} paragraph{'s' if n > 1 else ''}, separated by a blank line. The {_ORDINALS[k - 1]} "
                f'paragraph must start with the word "{kw["first_word"]}".')
    if instruction_id == "detectable_content:number_placeholders":
        n = kw["num_placeholders"]
        return pick((f"Include at least {n} placeholder{'s' if n > 1 else ''} in square brackets, such as [address].",
                     f"Leave at least {n} blank{'s' if n > 1 else ''} for the reader to fill in, written as placeholders "
                     "in square brackets like [name]."))
    if instruction_id == "detectable_content:postscript":
        return f"After the main part of your response, add a postscript starting with {kw['postscript_marker']}"
    if instruction_id == "detectable_format:number_bullet_lists":
        n = kw["num_bullets"]
        return (f"Your answer must contain exactly {n} bullet point{'s' if n > 1 else ''} in markdown, each a line "
                "starting with *, like:\n* This is a point.")
    if instruction_id == "detectable_format:number_highlighted_sections":
        n = kw["num_highlights"]
        return (f"Highlight at least {n} part{'s' if n > 1 else ''} of your answer with markdown, like "
                "*this highlighted part*.")
    if instruction_id == "detectable_format:multiple_sections":
        s, n = kw["section_spliter"], kw["num_sections"]
        return f'Divide your response into {n} sections, and begin each with "{s} X", where X is the section number.'
    if instruction_id == "detectable_format:json_format":
        return "Give your entire output as JSON; you may wrap it in markdown ``` fences."
    if instruction_id == "detectable_format:title":
        return "Give your answer a title wrapped in double angular brackets, such as <<my title>>."
    if instruction_id == "detectable_format:constrained_response":
        return 'Answer with one of these options: "My answer is yes.", "My answer is no.", "My answer is maybe."'
    if instruction_id == "combination:two_responses":
        return "Give two different responses, separated by six asterisks: ******. Write nothing else."
    if instruction_id == "combination:repeat_prompt":
        return ("Before you answer, repeat the request above word for word, without change and without saying "
                "anything first (this sentence is not part of the request), then give your answer.")
    if instruction_id == "startend:end_checker":
        return f'Finish your response with this exact phrase: "{kw["end_phrase"]}" No other words should follow it.'
    if instruction_id == "startend:quotation":
        return "Wrap your entire response in double quotation marks."
    if instruction_id == "change_case:capital_word_frequency":
        n = kw["capital_frequency"]
        if fewer:
            return f"Use fewer than {n} words written entirely in capital letters."
        return f"Write at least {n} words entirely in capital letters, for emphasis."
    if instruction_id == "change_case:english_capital":
        return "Your entire response must be in English and in capital letters only."
    if instruction_id == "change_case:english_lowercase":
        return "Your entire response must be in English and in lowercase letters only; no capital letters are allowed."
    if instruction_id == "punctuation:no_comma":
        return pick(("Do not use any commas in your response.", "Write without a single comma."))
    raise ifeval.UnknownInstruction(f"no wording for {instruction_id!r}")


# --- the kwargs column ---------------------------------------------------------------------------

def kwargs_dtype() -> pl.DataType:
    """One struct holding every kwarg of the catalog (absent ones null, as in the Hugging Face
    copy of IFEval's data), so every batch gets the same column type."""
    types = {"count": pl.Int64, "texts": pl.List(pl.Utf8)}
    fields: dict[str, pl.DataType] = {}
    for spec in ifeval.CATALOG.values():
        for arg in spec.args:
            fields.setdefault(arg.name, types.get(arg.type, pl.Utf8))
    return pl.List(pl.Struct(fields))
