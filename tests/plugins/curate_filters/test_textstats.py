"""The hashing helpers the filters share, against plain-Python definitions."""

from __future__ import annotations

import numpy as np
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
