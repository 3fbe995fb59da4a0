"""Words as IFEval counts them.

* :func:`count_words` — `length_constraints:number_words` counts runs of ``\\w`` (NLTK's
  ``RegexpTokenizer(r"\\w+")``; NLTK 3.10 runs it on the ``regex`` engine, whose ``\\w``
  includes combining marks, so "हिन्दी" is one word, not three);
* :func:`word_tokens` — `change_case:capital_word_frequency` counts the tokens of NLTK's
  ``word_tokenize`` that are ``str.isupper()``: Punkt sentences, each split by NLTK's improved
  Treebank tokenizer (punctuation, quotes, brackets and contractions become tokens of their own:
  "DON'T" is "DO" + "N'T", two capital words).

The Treebank rules below are NLTK 3.10's ``NLTKWordTokenizer`` (Apache-2.0, (c) the NLTK
Project), in its order and on the engines it uses (``regex`` for most rules, ``re`` for the
contractions), so the tokens are the same without importing NLTK.
"""

from __future__ import annotations

import re

import regex

from curate_judges.ifeval.punkt import split_sentences

_WORD = regex.compile(r"\w+", regex.UNICODE | regex.MULTILINE | regex.DOTALL)


def count_words(text: str) -> int:
    """The number of ``\\w+`` runs in ``text`` (Unicode word characters, marks included)."""
    return len(_WORD.findall(text))


def _rules(*pairs: tuple[str, str]) -> list[tuple[regex.Pattern, str]]:
    # `regex` treats str patterns as Unicode whether or not NLTK passes re.U, so no flags here.
    return [(regex.compile(pattern), replacement) for pattern, replacement in pairs]


# Opening quotes: `` for a leading or bracketed double quote, a space after an opening single one.
_STARTING_QUOTES = _rules(
    ("([«“‘„]|[`]+)", r" \1 "),
    (r'^\"', r"``"),
    (r"(``)", r" \1 "),
    (r"([ \(\[{<])(\"|\'{2})", r"\1 `` "),
    (r"(?i)(?<!\w)(\')(?!(?:re|ve|ll|m|t|s|d|n)\b)(?=\w)", r"\1 "),
)

# Punctuation: a sentence-final period (with closing quotes/brackets), commas and colons not
# inside numbers, ellipses, symbols, dashes, the final period again, ? and !, closing single
# quotes, asterisks.
_PUNCTUATION = _rules(
    (r'([^\.])(\.)([\]\)}>"\'' "»”’ " r"]*+)\s*$", r"\1 \2 \3 "),
    (r"([:,])([^\d])", r" \1 \2"),
    (r"([:,])$", r" \1 "),
    (r"\.{2,}", r" \g<0> "),
    (r"[;@#$%&]", r" \g<0> "),
    (r"[\u2012-\u2015]", r" \g<0> "),
    (r'([^\.])(\.)([\]\)}>"\']*)\s*$', r"\1 \2\3 "),
    (r"[?!]", r" \g<0> "),
    (r"([^'])' ", r"\1 ' "),
    (r"[*]", r" \g<0> "),
)

_BRACKETS = _rules((r"[\]\[\(\)\{\}\<\>]", r" \g<0> "), (r"--", r" -- "))

# Closing quotes become '' and the clitics 's 'm 'd 'll 're 've n't split off.
_ENDING_QUOTES = _rules(
    ("([»”’])", r" \1 "),
    (r"''", " '' "),
    (r'"', " '' "),
    (r"\s+", " "),
    (r"([^' ])('[sS]|'[mM]|'[dD]|') ", r"\1 \2 "),
    (r"([^' ])('ll|'LL|'re|'RE|'ve|'VE|n't|N'T) ", r"\1 \2 "),
)

# Words that are two tokens (cannot, gimme, gonna, 'tis, ...): NLTK compiles these with `re`.
_CONTRACTIONS = [re.compile(p) for p in (
    r"(?i)\b(can)(?#X)(not)\b", r"(?i)\b(d)(?#X)('ye)\b", r"(?i)\b(gim)(?#X)(me)\b", r"(?i)\b(gon)(?#X)(na)\b",
    r"(?i)\b(got)(?#X)(ta)\b", r"(?i)\b(lem)(?#X)(me)\b", r"(?i)\b(more)(?#X)('n)\b", r"(?i)\b(wan)(?#X)(na)(?=\s)",
    r"(?i) ('t)(?#X)(is)\b", r"(?i) ('t)(?#X)(was)\b")]


def treebank_tokens(sentence: str) -> list[str]:
    """One sentence split as NLTK's ``NLTKWordTokenizer().tokenize`` splits it."""
    text = sentence
    for rules in (_STARTING_QUOTES, _PUNCTUATION, _BRACKETS):
        for pattern, replacement in rules:
            text = pattern.sub(replacement, text)
    text = " " + text + " "
    for pattern, replacement in _ENDING_QUOTES:
        text = pattern.sub(replacement, text)
    for pattern in _CONTRACTIONS:
        text = pattern.sub(r" \1 \2 ", text)
    return text.split()


def word_tokens(text: str) -> list[str]:
    """``text`` split as NLTK's ``word_tokenize`` splits it (Punkt sentences, then Treebank)."""
    return [tok for sentence in split_sentences(text) for tok in treebank_tokens(sentence)]


def count_capital_words(text: str) -> int:
    """The number of tokens of :func:`word_tokens` that are all capitals (``str.isupper``)."""
    return sum(1 for tok in word_tokens(text) if tok.isupper())


__all__ = ["count_words", "word_tokens", "treebank_tokens", "count_capital_words"]
