"""The hashing helpers the filters share, against plain-Python definitions."""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import polars as pl
import pytest

from curate_filters import _textstats as ts


@pytest.mark.parametrize("size, distinct", [(0, 1), (1, 1), (2, 1), (1000, 30), (50_000, 40_000)])
def test_grouping_helpers(size, distinct):
    rng = np.random.default_rng(size)
    keys = rng.integers(0, distinct, size).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    counts = {k: int((keys == k).sum()) for k in set(keys.tolist())} if size < 5000 else None
    if counts is not None:
        assert ts.occurrences(keys).tolist() == [counts[k] for k in keys.tolist()]
        assert ts.repeated(keys).tolist() == [counts[k] > 1 for k in keys.tolist()]
    first = ts.first_of_each(keys)
    assert sorted(keys[first].tolist()) == sorted(set(keys.tolist()))


def test_keys_sharing_high_bits_are_still_told_apart():
    keys = np.array([1, 2, 1, 3, 2, 2], dtype=np.uint64)  # equal but for the low bits
    assert ts.occurrences(keys).tolist() == [2, 3, 2, 1, 3, 3]
    assert ts.repeated(keys).tolist() == [True, True, True, False, True, True]
    assert ts.repeated(keys, exact=False).all()  # the cheap pre-filter may over-report


def test_ngram_and_text_hashes_match_the_rolling_definition():
    rng = np.random.default_rng(0)
    rows = np.sort(rng.integers(0, 40, 500))
    hashes = rng.integers(0, 2**63, 500, dtype=np.int64).astype(np.uint64)

    def rolling(window) -> int:
        value = 0
        for h in window:
            value = (value * int(ts._MULT) + int(h)) % 2**64
        return value

    for n in (1, 3, 13, 30):
        got_rows, got = ts.ngram_hashes(rows, hashes, n)
        want = [(rows[i], rolling(hashes[i:i + n])) for i in range(len(rows) - n + 1) if rows[i + n - 1] == rows[i]]
        assert list(zip(got_rows.tolist(), map(int, got))) == [(int(r), g) for r, g in want]
    whole = ts.text_hashes(rows, hashes, 42)
    for row in range(42):
        assert int(whole[row]) == (rolling(hashes[rows == row]) if (rows == row).any() else 0)


# --- Words: the batch read as bytes, against str.split() and friends ---------------------------
_PIECES = ["a", "bb", "the", "The", "é", "naïve", "日本語", "…", "...", "#", "-", "•", "–", "\x00", "a\x00",
           "x" * 8, "x" * 9, "y" * 16, "y" * 17, "z" * 64, "z" * 65, "w" * 300, "é" * 40,
           " ", "  ", "\n", "\n\n", "\t", "\r", "\x0b", "\x0c", "\x1c", "\x1f", "\x85", "\xa0", "\u1680",
           "\u2000", "\u200a", "\u200b", "\u2028", "\u2029", "\u202f", "\u205f", "\u3000", "\ufeff", "\u180e"]


def _texts(count: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    out = ["", " ", "\n", "a", "a b a", "\u3000\u3000", "x\x1c\ny"]
    for _ in range(count):
        out.append("".join(rng.choice(_PIECES, size=int(rng.integers(0, 60)))))
    return out


def test_words_are_str_split_with_characters_and_consistent_hashes():
    texts = _texts(400, seed=1)
    words = ts.Words.of(pl.Series(texts))
    expected = [(row, w) for row, text in enumerate(texts) for w in text.split()]
    assert words.rows.tolist() == [row for row, _ in expected]
    assert words.strings(np.arange(len(expected))).to_list() == [w for _, w in expected]
    assert words.chars.tolist() == [len(w) for _, w in expected]
    by_word: dict[str, int] = {}
    for (_, w), h in zip(expected, words.hashes.tolist()):
        assert by_word.setdefault(w, h) == h  # equal words, equal hashes
    assert len(set(by_word.values())) == len(by_word)  # different words, different hashes


def test_word_hashes_tell_apart_words_that_differ_in_length_or_late_bytes():
    words = ["a", "b", "a\x00", "a\x00\x00", "abcdefgh", "abcdefgh\x00", "abcdefghi", "abcdefghj",
             "x" * 64, "x" * 65, "x" * 64 + "y", "x" * 200, "x" * 199 + "y", "é" * 40, "é" * 39 + "e"]
    hashes = ts.Words.of(pl.Series([" ".join(words), " ".join(reversed(words))])).hashes
    first, second = hashes[:len(words)].tolist(), hashes[len(words):].tolist()
    assert len(set(first)) == len(words)
    assert first == second[::-1]


def test_a_workspace_reused_for_other_texts_gives_the_same_words():
    work = ts.Workspace()
    a, b = _texts(200, seed=2), _texts(50, seed=3)
    fresh = ts.Words.of(pl.Series(a))
    ts.Words.of(pl.Series(a), work=work)
    ts.Words.of(pl.Series(b), work=work)
    again = ts.Words.of(pl.Series(a), work=work)
    for name in ("rows", "hashes", "chars", "starts", "ends"):
        assert getattr(again, name).tolist() == getattr(fresh, name).tolist()


def test_token_sums_match_letters_and_regex_per_word():
    texts = _texts(300, seed=4)
    pattern = r"(?i)\b(?:the|a|s|k)\b"
    got = ts.Words.of(pl.Series(texts)).token_sums(len(texts), alpha=True, pattern=pattern)
    assert got["alpha_words"].tolist() == [sum(any(c.isalpha() for c in w) for w in t.split()) for t in texts]
    assert got["pattern_matches"].tolist() == [len(re.findall(pattern, t)) for t in texts]


def test_line_sums_match_python_lines():
    texts = _texts(300, seed=5) + ["- a\n- a\n\x1c\n\x1c\nb...", "…\n  x…  \n• y\n‣z\n–\n*"]
    got = ts.Words.of(pl.Series(texts)).line_sums(len(texts))
    for row, text in enumerate(texts):
        lines = [s for s in (line.strip() for line in text.split("\n")) if s]
        seen: set[str] = set()
        repeats = []
        for line in lines:
            if line in seen:
                repeats.append(line)
            seen.add(line)
        assert got["lines"][row] == len(lines)
        assert got["line_chars"][row] == sum(map(len, lines))
        assert got["bullet_lines"][row] == sum(s.startswith(ts.BULLETS) for s in lines)
        assert got["ellipsis_lines"][row] == sum(s.endswith(("...", "…")) for s in lines)
        assert got["dup_lines"][row] == len(repeats)
        assert got["dup_line_chars"][row] == sum(map(len, repeats))


def test_repeats_count_each_word_in_its_row():
    texts = _texts(300, seed=6)
    words = ts.Words.of(pl.Series(texts))
    counts = Counter((row, w) for row, text in enumerate(texts) for w in text.split())
    expected = [counts[row, w] for row, text in enumerate(texts) for w in text.split()]
    assert words.repeats(counts=True).tolist() == expected
    assert words.repeats(counts=False).tolist() == [c > 1 for c in expected]
