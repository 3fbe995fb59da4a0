"""Sentence splitting as IFEval counts sentences: NLTK's Punkt with its pretrained English model.

IFEval's `length_constraints:number_sentences` counts ``len(punkt.tokenize(response))`` and
`change_case:capital_word_frequency` splits sentences with Punkt before tokenizing words. The
reference needs NLTK's ``punkt`` data, which is downloaded at run time; this module carries the
English model itself (:mod:`._punkt_english`) and implements the inference half of Punkt (Kiss
& Strunk 2006: the type-based first pass, the collocation, orthographic and sentence-starter
heuristics of the second pass, and boundary realignment) so that a judge needs no download and
no ``import nltk`` (which pulls in scipy when it is installed: seconds per process).

It follows NLTK 3.10's ``PunktSentenceTokenizer.tokenize`` decision for decision, including its
regular expressions, which NLTK 3.10 compiles with the third-party ``regex`` engine (whose
``\\w``, ``\\s`` and ``\\d`` are Unicode properties, unlike ``re``'s): we use the same engine.
``tests/plugins/curate_judges/test_ifeval_text.py`` compares both on generated text when NLTK is
installed. NLTK is Apache-2.0 (c) the NLTK Project; so is the model (trained by Jan Strunk and
Tibor Kiss on the Wall Street Journal).
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterator

import regex

# Orthographic contexts a word type was seen in (bit flags of the model's ortho_context).
_BEG_UC, _MID_UC, _UNK_UC = 1 << 1, 1 << 2, 1 << 3
_BEG_LC, _MID_LC, _UNK_LC = 1 << 4, 1 << 5, 1 << 6
_UC = _BEG_UC | _MID_UC | _UNK_UC
_LC = _BEG_LC | _MID_LC | _UNK_LC

_SENT_END = (".", "?", "!")
_PUNCTUATION = (";", ":", ",", ".", "!", "?")  # a sentence never starts with one of these
_UNKNOWN = None  # the orthographic heuristic has no evidence either way

# Characters that end a word (other than the period) and the multi-character punctuation; the
# curly quotes and guillemets are NLTK 3.10's additions.
_NON_WORD = r"(?:[)\";}\]\*:@\'\({\[\u2018\u2019\u201c\u201d\xab\xbb\?!])"
_MULTI_CHAR = r"(?:\-{2,}|\.{2,}|(?:\.\s){2,}\.)"
_WORD_START = r"[^\(\"\`{\[:;&\#\*@\)}\]\-,]"
_FLAGS = regex.UNICODE | regex.VERBOSE

_WORDS = regex.compile(rf"""(
        {_MULTI_CHAR}
        |
        (?={_WORD_START})\S+?             # a word, up to
        (?=                               # whatever ends it:
            \s|$|{_NON_WORD}|{_MULTI_CHAR}|
            ,(?=$|\s|{_NON_WORD}|{_MULTI_CHAR})   # a comma that ends the word
        )
        |
        \S
    )""", _FLAGS)

_PERIOD_CONTEXT = regex.compile(rf"""
        [\.\?!]                           # a possible sentence end, followed by
        (?=(?P<after_tok>
            {_NON_WORD}                   # punctuation
            |
            \s+(?P<next_tok>\S+)          # or space and the next token
        ))""", _FLAGS)

_REALIGN = regex.compile(r'["\')\]}\u2018\u2019\u201c\u201d\xab\xbb]+?(?:\s+|(?=--)|$)', regex.MULTILINE)
_NUMERIC = regex.compile(r"^-?[\.,]?\d[\d,\.-]*\.?$")
_INITIAL = regex.compile(r"[^\W\d]\.$", regex.UNICODE)
_ELLIPSIS = regex.compile(r"\.\.+$")


@dataclass(frozen=True)
class Model:
    """A Punkt model: abbreviations, collocations, frequent sentence starters and the
    orthographic contexts of word types (all lowercase; numbers are ``##number##``)."""

    abbrev_types: frozenset[str]
    collocations: frozenset[tuple[str, str]]
    sent_starters: frozenset[str]
    ortho_context: dict[str, int]


@lru_cache(maxsize=1)
def english() -> Model:
    """The pretrained English model NLTK ships as ``punkt``/``punkt_tab``."""
    from curate_judges.ifeval import _punkt_english as data

    ortho = {word: int(flags) for flags, words in data.ORTHO_CONTEXT.items() for word in words.split()}
    return Model(frozenset(data.ABBREV_TYPES), frozenset(data.COLLOCATIONS), frozenset(data.SENT_STARTERS), ortho)


class _Token:
    """A word token with the annotations Punkt decides on."""

    __slots__ = ("tok", "type", "period_final", "sentbreak", "abbr", "ellipsis")

    def __init__(self, tok: str):
        self.tok = tok
        self.type = _NUMERIC.sub("##number##", tok.lower())
        self.period_final = tok.endswith(".")
        self.sentbreak = self.abbr = self.ellipsis = False

    @property
    def type_no_period(self) -> str:
        return self.type[:-1] if len(self.type) > 1 and self.type[-1] == "." else self.type

    @property
    def type_no_sentperiod(self) -> str:
        return self.type_no_period if self.sentbreak else self.type

    @property
    def first_upper(self) -> bool:
        return self.tok[0].isupper()

    @property
    def first_lower(self) -> bool:
        return self.tok[0].islower()

    @property
    def is_initial(self) -> bool:
        return _INITIAL.match(self.tok) is not None


class SentenceSplitter:
    """Punkt inference over one :class:`Model`."""

    def __init__(self, model: Model):
        self.model = model

    # --- public ---------------------------------------------------------------------------------
    def spans(self, text: str) -> list[tuple[int, int]]:
        """(start, end) of each sentence of ``text``."""
        return [(s.start, s.stop) for s in self._realign(text, self._slices(text))]

    def split(self, text: str) -> list[str]:
        """The sentences of ``text``."""
        return [text[start:end] for start, end in self.spans(text)]

    # --- words and their annotation -------------------------------------------------------------
    @staticmethod
    def _tokens(text: str) -> Iterator[_Token]:
        for line in text.split("\n"):
            if line.strip():
                for tok in _WORDS.findall(line):
                    yield _Token(tok)

    def _first_pass(self, tokens: Iterator[_Token]) -> Iterator[_Token]:
        """Decisions from a token's own type: end punctuation, ellipses, known abbreviations."""
        abbrevs = self.model.abbrev_types
        for t in tokens:
            if t.tok in _SENT_END:
                t.sentbreak = True
            elif _ELLIPSIS.match(t.tok):
                t.ellipsis = True
            elif t.period_final and not t.tok.endswith(".."):
                stem = t.tok[:-1].lower()
                if stem in abbrevs or stem.split("-")[-1] in abbrevs:
                    t.abbr = True
                else:
                    t.sentbreak = True
            yield t

    def _second_pass(self, tokens: Iterator[_Token]) -> Iterator[_Token]:
        """Revisit each period-final token knowing the token after it (already first-passed)."""
        previous = None
        for t in tokens:
            if previous is not None:
                self._reconsider(previous, t)
                yield previous
            previous = t
        if previous is not None:
            yield previous

    def _reconsider(self, tok: _Token, following: _Token) -> None:
        if not tok.period_final:
            return
        m = self.model
        typ, next_typ = tok.type_no_period, following.type_no_sentperiod
        initial = tok.is_initial
        if (typ, next_typ) in m.collocations:  # "S. Bach": never a boundary
            tok.sentbreak, tok.abbr = False, True
            return
        if (tok.abbr or tok.ellipsis) and not initial:  # an abbreviation may also end a sentence
            if self._starts_sentence(following) is True:
                tok.sentbreak = True
                return
            if following.first_upper and next_typ in m.sent_starters:
                tok.sentbreak = True
                return
        if initial or typ == "##number##":  # initials and ordinals are usually not boundaries
            starts = self._starts_sentence(following)
            if starts is False:
                tok.sentbreak, tok.abbr = False, True
                return
            if (starts is _UNKNOWN and initial and following.first_upper
                    and not m.ortho_context.get(next_typ, 0) & _LC):
                tok.sentbreak, tok.abbr = False, True

    def _starts_sentence(self, tok: _Token) -> bool | None:
        """The orthographic heuristic: True, False, or None when the evidence is unclear."""
        if tok.tok in _PUNCTUATION:
            return False
        context = self.model.ortho_context.get(tok.type_no_sentperiod, 0)
        if tok.first_upper and context & _LC and not context & _MID_UC:
            return True
        if tok.first_lower and (context & _UC or not context & _BEG_LC):
            return False
        return _UNKNOWN

    def _has_break(self, context: str) -> bool:
        """Whether a sentence break falls before the last token of ``context``."""
        found = False
        for tok in self._second_pass(self._first_pass(self._tokens(context))):
            if found:
                return True
            found = tok.sentbreak
        return False

    # --- candidate boundaries -------------------------------------------------------------------
    @staticmethod
    def _last_whitespace(text: str) -> int:
        for i in range(len(text) - 1, -1, -1):
            if text[i] in string.whitespace:
                return i
        return 0

    def _candidates(self, text: str) -> Iterator[tuple[regex.Match, str]]:
        """Each possible sentence end with its context: the word before it, the end character
        and what follows (punctuation, or the next token). Of overlapping candidates (``!!!``)
        only the last one counts."""
        prev_slice, prev_match = slice(0, 0), None
        for match in _PERIOD_CONTEXT.finditer(text):
            before = text[prev_slice.stop:match.start()]
            start = self._last_whitespace(before)
            start = start + prev_slice.stop + 1 if start else prev_slice.start
            word = slice(start, match.start())
            if prev_match and prev_slice.stop <= word.start:
                yield prev_match, text[prev_slice] + prev_match.group() + prev_match.group("after_tok")
            prev_match, prev_slice = match, word
        if prev_match:
            yield prev_match, text[prev_slice] + prev_match.group() + prev_match.group("after_tok")

    def _slices(self, text: str) -> Iterator[slice]:
        last = 0
        for match, context in self._candidates(text):
            if self._has_break(context):
                yield slice(last, match.end())
                last = match.start("next_tok") if match.group("next_tok") else match.end()
        yield slice(last, len(text.rstrip()))

    @staticmethod
    def _realign(text: str, slices: Iterator[slice]) -> Iterator[slice]:
        """Move closing quotes and brackets after a boundary into the sentence they close."""
        realign = 0
        slices = list(slices)
        for i, first in enumerate(slices):
            first = slice(first.start + realign, first.stop)
            second = slices[i + 1] if i + 1 < len(slices) else None
            if second is None:
                if text[first]:
                    yield first
                continue
            m = _REALIGN.match(text[second])
            if m:
                yield slice(first.start, second.start + len(m.group(0).rstrip()))
                realign = m.end()
            else:
                realign = 0
                if text[first]:
                    yield first


@lru_cache(maxsize=1)
def _english_splitter() -> SentenceSplitter:
    return SentenceSplitter(english())


def split_sentences(text: str) -> list[str]:
    """The sentences of ``text`` as IFEval's Punkt (English) splits them."""
    return _english_splitter().split(text)


def count_sentences(text: str) -> int:
    """The number of sentences IFEval's `length_constraints:number_sentences` counts."""
    return len(_english_splitter().spans(text))


__all__ = ["Model", "SentenceSplitter", "english", "split_sentences", "count_sentences"]
