"""Sentences and words as IFEval counts them: our Punkt port and NLTK word tokenizer port.

The expected values in the fast tests are NLTK's documented outputs (docstrings of
``PunktSentenceTokenizer`` and ``word_tokenize``); the slow test compares both ports with NLTK
itself on generated text, using the packaged English model (no download needed).
"""

from __future__ import annotations

import random

import pytest

from curate_judges.ifeval import punkt, words


def test_the_english_model_is_nltks():
    model = punkt.english()
    assert (len(model.abbrev_types), len(model.collocations), len(model.sent_starters)) == (156, 37, 39)
    assert {"mr", "dr", "u.s", "inc", "jan", "e.g"} - model.abbrev_types == {"e.g"}  # e.g. is not in it
    assert len(model.ortho_context) == 20366 and model.ortho_context["the"] & 0b1110  # seen capitalised


def test_sentences_as_nltk_documents_them():
    text = "Very bad acting!!! I promise."
    assert punkt.split_sentences(text) == ["Very bad acting!!!", "I promise."]
    assert punkt.split_sentences("(How does it deal with this parenthesis?)  \"It should be part of the "
                                 "previous sentence.\"") == [
        "(How does it deal with this parenthesis?)", "\"It should be part of the previous sentence.\""]
    assert punkt.count_sentences("Mr. Smith went to Washington. He said hello.") == 2
    assert punkt.count_sentences("") == 0 and punkt.count_sentences("no period at all") == 1


def test_words_as_nltk_documents_them():
    text = "Good muffins cost $3.88\nin New York.  Please buy me\ntwo of them.\nThanks."
    assert words.word_tokens(text) == ["Good", "muffins", "cost", "$", "3.88", "in", "New", "York", ".", "Please",
                                       "buy", "me", "two", "of", "them", ".", "Thanks", "."]
    assert words.treebank_tokens("They'll save and invest more.") == [
        "They", "'ll", "save", "and", "invest", "more", "."]
    assert words.treebank_tokens("hi, my name can't hello,") == ["hi", ",", "my", "name", "ca", "n't", "hello", ","]


def test_capital_words_count_tokens_not_spaces():
    assert words.count_capital_words("I DON'T KNOW.") == 4  # I, DO, N'T, KNOW
    assert words.count_capital_words("HELLO-WORLD OK,COOL") == 3  # a hyphen joins, a comma splits
    assert words.count_capital_words("no capitals") == 0


def test_words_are_unicode_word_runs():
    assert words.count_words("don't stop-believing snake_case 3.14") == 7
    assert words.count_words("हिन्दी भाषा") == 2  # combining marks belong to the word (NLTK 3.10's regex engine)
    assert words.count_words("") == 0


PIECES = ["Mr.", "Dr.", "U.S.", "A.", "J.", "Bach", "the", "The", "He", "said", "3.", "1.5", "Inc.", "etc.", "e.g.",
          "...", "!", "?", "!!!", ".", ",", ";", ":", '"', "'", "(", ")", "[", "]", "\u201c", "\u201d", "\u2018",
          "\u2019", "\xab", "\xbb", "--", "-", "*", "\n", "\n\n", "Hello", "WORLD", "DON'T", "can't", "cannot",
          "gonna", "'tis", "It's", "No.", "no.", "Jan.", "P.S.", "1)", "#", "$3.88", "x\u2014y", "e\u0301",
          "\u0939\u093f\u0928\u094d\u0926\u0940", "\u65e5\u672c\u3002", "Ph.D.", "vs.", "St.", "II.", "However,"]


@pytest.mark.slow
def test_ports_match_nltk_on_generated_text():
    pytest.importorskip("nltk")
    pytest.importorskip("regex")
    from collections import defaultdict

    from nltk.tokenize.destructive import NLTKWordTokenizer
    from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer

    model = punkt.english()
    params = PunktParameters()
    params.abbrev_types, params.collocations = set(model.abbrev_types), set(model.collocations)
    params.sent_starters, params.ortho_context = set(model.sent_starters), defaultdict(int, model.ortho_context)
    sentences, treebank = PunktSentenceTokenizer(params), NLTKWordTokenizer()
    rng = random.Random(7)
    for _ in range(2000):
        text = "".join(rng.choice(PIECES) + rng.choice(["", " ", " ", "\n"]) for _ in range(rng.randint(1, 20)))
        expected = sentences.tokenize(text)
        assert punkt.split_sentences(text) == expected, text
        assert words.word_tokens(text) == [t for s in expected for t in treebank.tokenize(s)], text
