"""Per-row text statistics and hashes computed over a whole batch at once (no per-row Python).

Texts are split into one long table of words (and one of lines) with polars; repetition is then
found with hashes. Every word is hashed once; the hash of a run of words ``h[s:e]`` is the
polynomial ``sum(h[j] * P ** (e - 1 - j))`` modulo 2**64, built one word at a time by
:func:`ngram_repetition` (``g_n[i] = g_{n-1}[i] * P + h[i + n - 1]``) and from prefix sums by
:func:`window_hashes`, and xor-ed with a mix of the row number, so that "repeated inside its
row" is "repeated in the batch". Only n-grams whose two (n-1)-grams repeat can repeat, so each
larger ``n`` looks at fewer candidates than the last.

Definitions (the reference for docs/plugins/filters.md and the per-row reference in
benchmarks/bench_filters.py):

* words: ``text.split()`` (any Unicode whitespace); a word's length is its characters;
* lines: ``text.split("\\n")``, stripped, blank lines ignored;
* repeated lines: occurrences of a line after its first; ratios are over lines and over the
  characters of all lines;
* top n-gram characters: over the n-grams that occur at least twice, the largest
  ``count * characters``; duplicated n-gram characters: characters of the words covered by any
  occurrence of an n-gram occurring at least twice (each word counted once). Both are divided by
  the characters of all words.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import polars as pl

#: Characters that start a bullet-point line.
BULLETS = ("-", "*", "•", "‣", "⁃", "◦", "▪", "●", "–")
#: Every character ``str.split()`` splits on, except the space itself.
WHITESPACE = [c for c in map(chr, range(0x3001)) if c.isspace() and c != " "]
_MULT = np.uint64(0x100000001B3)         # odd multiplier of the polynomial n-gram hash
_INVERSE = np.uint64(pow(int(_MULT), -1, 2**64))
_ROW_MIX = np.uint64(0x9E3779B97F4A7C15)  # spreads row numbers over the 64 bits


def row_mix(rows: np.ndarray) -> np.ndarray:
    """Row numbers spread over 64 bits, to xor into hashes: equal keys then share a row too."""
    with np.errstate(over="ignore"):
        return rows.astype(np.uint64) * _ROW_MIX


def words(texts: pl.LazyFrame, *, alpha: bool) -> pl.LazyFrame:
    """One row per word of column ``text``: ``row`` (the text's position), ``chars``, ``hash``
    and, with ``alpha``, ``alpha`` (the word has a letter)."""
    word = pl.col("word")
    extra = [word.str.contains(r"\p{L}").alias("alpha")] if alpha else []
    return (
        texts.select(pl.col("text").str.replace_many(WHITESPACE, [" "] * len(WHITESPACE)).str.split(" ").alias("word"))
        .with_row_index("row")
        .explode("word")
        .filter(word != "")
        .select("row", word.str.len_chars().alias("chars"), word.hash().alias("hash"), *extra)
    )


def lines(texts: pl.LazyFrame) -> pl.LazyFrame:
    """Per text with a non-blank line: ``row``, ``lines``, ``line_chars``, ``bullet_lines``
    (starting with one of :data:`BULLETS`), ``ellipsis_lines`` (ending in ``...`` or ``…``),
    ``dup_lines`` and ``dup_line_chars`` (lines equal to an earlier line of the same text)."""
    line = pl.col("line")
    key = line.hash() ^ (pl.col("row").cast(pl.UInt64) * pl.lit(int(_ROW_MIX), pl.UInt64))
    return (
        texts.select(pl.col("text").str.split("\n").alias("line"))
        .with_row_index("row")
        .explode("line")
        .with_columns(line.str.strip_chars())
        .filter(line != "")
        .with_columns(line.str.len_chars().alias("chars"), (~key.is_first_distinct()).alias("repeat"))
        .group_by("row")
        .agg(
            lines=pl.len(),
            line_chars=pl.col("chars").sum(),
            bullet_lines=line.str.slice(0, 1).is_in(list(BULLETS)).sum(),
            ellipsis_lines=(line.str.ends_with("...") | line.str.ends_with("…")).sum(),
            dup_lines=pl.col("repeat").sum(),
            dup_line_chars=pl.col("chars").filter(pl.col("repeat")).sum(),
        )
    )


def normalized_words(texts: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """The row and hash of every normalized word of ``texts``: lowercase, letters and digits
    only (any other run of characters separates words)."""
    spaced = (texts.fill_null("").str.to_lowercase().str.replace_all(r"[^\p{L}\p{N}\s]+", " ")
              .str.replace_many(WHITESPACE, [" "] * len(WHITESPACE)))
    words = spaced.str.split(" ").to_frame("word").with_row_index("row").explode("word").filter(pl.col("word") != "")
    return words["row"].to_numpy().astype(np.int64), words["word"].hash().to_numpy()


def per_row(table: pl.DataFrame, n_rows: int) -> dict[str, np.ndarray]:
    """The columns of a per-row table (with ``row``) as arrays over all ``n_rows`` texts (0 where
    a text has no entry)."""
    rows = table["row"].to_numpy()
    out = {}
    for name in table.columns:
        if name != "row":
            out[name] = np.zeros(n_rows)
            out[name][rows] = table[name].to_numpy()
    return out


@dataclass
class Words:
    """A :func:`words` table as arrays: ``rows`` (ascending), ``chars``, ``hashes`` and, when
    asked for, ``alpha``."""

    rows: np.ndarray
    chars: np.ndarray
    hashes: np.ndarray
    alpha: np.ndarray | None = None

    @classmethod
    def of(cls, table: pl.DataFrame) -> "Words":
        return cls(table["row"].to_numpy().astype(np.int64), table["chars"].to_numpy().astype(np.int64),
                   table["hash"].to_numpy(), table["alpha"].to_numpy() if "alpha" in table.columns else None)

    def where(self, keep: np.ndarray) -> "Words":
        return Words(self.rows[keep], self.chars[keep], self.hashes[keep],
                     None if self.alpha is None else self.alpha[keep])

    def sums(self, n_rows: int) -> dict[str, np.ndarray]:
        """Per text: ``words``, ``word_chars`` and (with ``alpha``) ``alpha_words``."""
        out = {name: np.zeros(n_rows) for name in ("words", "word_chars", "alpha_words")}
        starts = np.flatnonzero(np.diff(self.rows, prepend=-1))  # each row's first word
        if len(starts):
            present = self.rows[starts]
            out["words"][present] = np.diff(starts, append=len(self.rows))
            out["word_chars"][present] = np.add.reduceat(self.chars, starts)
            if self.alpha is not None:
                out["alpha_words"][present] = np.add.reduceat(self.alpha.astype(np.int64), starts)
        if self.alpha is None:
            del out["alpha_words"]
        return out


def _sort_groups(keys: np.ndarray, *, exact: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Positions of ``keys`` with equal keys adjacent (``order``), and ``boundary``: for each
    of the ``len + 1`` gaps in that order, whether a new key starts there.

    The keys are sorted once with each key's position packed into their low bits, which groups
    equal keys without an argsort. Keys that differ only in those low bits land in one group;
    ``exact`` checks for that (rare) case and then sorts exactly instead."""
    size = len(keys)
    low = np.uint64((1 << max(int(size - 1).bit_length(), 1)) - 1)
    packed = (keys & ~low) | np.arange(size, dtype=np.uint64)
    packed.sort()
    order = (packed & low).astype(np.intp)
    boundary = np.ones(size + 1, dtype=bool)
    high = packed & ~low
    np.not_equal(high[1:], high[:-1], out=boundary[1:-1])
    if exact:
        ordered = keys[order]
        if (ordered[1:] != ordered[:-1])[~boundary[1:-1]].any():
            order = np.argsort(keys, kind="stable")
            ordered = keys[order]
            np.not_equal(ordered[1:], ordered[:-1], out=boundary[1:-1])
    return order, boundary


def repeated(keys: np.ndarray, *, exact: bool = True) -> np.ndarray:
    """Boolean mask: the key occurs more than once in ``keys`` (without ``exact``, a key may
    also be reported when another key shares all but its low bits)."""
    order, boundary = _sort_groups(keys, exact=exact)
    out = np.empty(len(keys), dtype=bool)
    out[order] = ~(boundary[:-1] & boundary[1:])  # alone: a new key starts before and after it
    return out


def first_of_each(keys: np.ndarray) -> np.ndarray:
    """Boolean mask selecting one occurrence of each distinct key."""
    order, boundary = _sort_groups(keys)
    out = np.zeros(len(keys), dtype=bool)
    out[order[boundary[:-1]]] = True
    return out


def occurrences(keys: np.ndarray) -> np.ndarray:
    """For each key, how many times it occurs in ``keys``."""
    order, boundary = _sort_groups(keys)
    group = np.cumsum(boundary[:-1]) - 1
    out = np.empty(len(keys), dtype=np.int64)
    out[order] = np.diff(np.flatnonzero(boundary))[group]
    return out


def ngram_repetition(words: Words, n_rows: int, top: tuple[int, ...], dup: tuple[int, ...],
                     give_up: Callable[[str, np.ndarray], np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Per row: ``top_<n>`` (characters of the top repeated n-gram, ``count * chars``) for each
    ``n`` in ``top`` and ``dup_<n>`` (characters of words inside repeated n-grams) for each ``n``
    in ``dup``; see the module docstring.

    ``give_up(name, values)``, called after each of them (smaller n first, ``top`` before
    ``dup``), returns the rows not worth measuring further; their later values are NaN."""
    out: dict[str, np.ndarray] = {}
    if not (top or dup):
        return out
    rows, hashes = words.rows, words.hashes
    char_sum = np.concatenate([[0], np.cumsum(words.chars)])
    row_len = np.bincount(rows, minlength=n_rows)
    row_end = np.cumsum(row_len)[rows]  # one past the last word of each word's row

    # Level n keeps the start positions of the n-grams that occur at least twice in their row
    # (`starts`, ascending) and those n-grams' hashes (`grams`).
    mix = row_mix(rows)
    starts = np.arange(len(rows))
    grams = hashes
    alive = np.ones(n_rows, dtype=bool)
    for n in range(1, max((*top, *dup)) + 1):
        if n > 1:
            # candidates: both (n-1)-grams repeat, i.e. starts i and i + 1 are both kept
            keep = np.flatnonzero(starts[1:] == starts[:-1] + 1)
            keep = keep[row_end[starts[keep]] - starts[keep] >= n]
            starts, grams = starts[keep], grams[keep]
            with np.errstate(over="ignore"):
                grams = grams * _MULT + hashes[starts + n - 1]
        keys = grams ^ (mix if n == 1 else mix[starts])
        if n in top:
            count = occurrences(keys)
            again = count > 1
        else:  # a level only reported on must be exact; the others just narrow the candidates
            again = repeated(keys, exact=n in dup)
        starts, grams = starts[again], grams[again]
        if n in top:
            # per row, the largest count * characters (rows of `starts` ascend: reduce by segment)
            value = count[again] * (char_sum[starts + n] - char_sum[starts])
            best = np.zeros(n_rows)
            if len(starts):
                segment = np.flatnonzero(np.concatenate([[True], np.diff(rows[starts]) != 0]))
                best[rows[starts[segment]]] = np.maximum.reduceat(value, segment)
            out[f"top_{n}"] = best
        if n in dup:
            # merge the windows [start, start + n) into blocks (windows overlap only inside a row)
            first = np.ones(len(starts), dtype=bool)
            first[1:] = starts[1:] >= starts[:-1] + n
            last = np.ones(len(starts), dtype=bool)
            last[:-1] = first[1:]
            block_start, block_end = starts[first], starts[last] + n
            chars = (char_sum[block_end] - char_sum[block_start]).astype(np.float64)
            out[f"dup_{n}"] = np.bincount(rows[block_start], weights=chars, minlength=n_rows).astype(np.float64)
        for name in (f"top_{n}", f"dup_{n}"):
            if name in out:
                out[name][~alive] = np.nan
                if give_up is not None:
                    alive &= ~give_up(name, out[name])
        if not alive.all():
            keep = alive[rows[starts]]
            starts, grams = starts[keep], grams[keep]
    return out


def _powers(base: np.uint64, count: int) -> np.ndarray:
    """``base ** 0 .. base ** (count - 1)`` modulo 2**64."""
    out = np.full(count, base, dtype=np.uint64)
    out[:1] = 1
    return np.cumprod(out, dtype=np.uint64)


def window_hashes(hashes: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The hash of each window ``hashes[start:end]``: ``sum(h[j] * P ** (end - 1 - j))`` modulo
    2**64, the value :func:`ngram_repetition` builds one word at a time, here from prefix sums of
    ``h[j] * P ** -j`` (P is odd, so it has an inverse modulo 2**64)."""
    size = len(hashes)
    with np.errstate(over="ignore"):
        prefix = np.zeros(size + 1, dtype=np.uint64)
        np.cumsum(hashes * _powers(_INVERSE, size), out=prefix[1:])
        return (prefix[ends] - prefix[starts]) * _powers(_MULT, size + 1)[np.maximum(ends - 1, 0)]


def ngram_hashes(rows: np.ndarray, hashes: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The hash of every word n-gram that lies inside one row, and the row of each. ``rows``
    must ascend."""
    size = len(hashes)
    row_end = np.cumsum(np.bincount(rows))[rows] if size else rows
    starts = np.flatnonzero(row_end - np.arange(size) >= n)
    return rows[starts], window_hashes(hashes, starts, starts + n)


def text_hashes(rows: np.ndarray, hashes: np.ndarray, n_rows: int) -> np.ndarray:
    """The hash of each row's whole word sequence (0 for a row without words)."""
    ends = np.cumsum(np.bincount(rows, minlength=n_rows))
    starts = ends - np.bincount(rows, minlength=n_rows)
    out = window_hashes(hashes, starts, ends)
    out[starts == ends] = 0
    return out
