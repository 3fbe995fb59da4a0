"""Per-row text statistics and hashes computed over a whole batch at once (no per-row Python).

:class:`Words` reads a batch of texts as one buffer of UTF-8 bytes with numpy: words are the
runs of bytes that are not whitespace, each hashed once from its bytes (read 8 at a time);
lines are found from the newlines and the words between them. What depends only on a word
(letters, stop words) is measured once per distinct word of the batch. Repetition is then found
with hashes: the hash of a run of words ``h[s:e]`` is the polynomial
``sum(h[j] * P ** (e - 1 - j))`` modulo 2**64, built one word at a time by
:func:`ngram_repetition` (``g_n[i] = g_{n-1}[i] * P + h[i + n - 1]``) and from prefix sums by
:func:`window_hashes`, and xor-ed with a mix of the row number, so that "repeated inside its
row" is "repeated in the batch". Only n-grams whose two (n-1)-grams repeat can repeat, so each
larger ``n`` looks at fewer candidates than the last.

Definitions (the reference for docs/plugins/filters.md and the per-row reference in
benchmarks/bench_filters.py):

* words: ``text.split()`` (any Unicode whitespace); a word's length is its characters;
* lines: ``text.split("\\n")``, stripped (``str.strip()``), blank lines ignored;
* repeated lines: occurrences of a line after its first; ratios are over lines and over the
  characters of all lines;
* top n-gram characters: over the n-grams that occur at least twice, the largest
  ``count * characters``; duplicated n-gram characters: characters of the words covered by any
  occurrence of an n-gram occurring at least twice (each word counted once). Both are divided by
  the characters of all words.

Equal words (lines) have equal 64-bit hashes; different ones are told apart by their hashes
too, which two different words of one batch share with a chance of about 2**-64 per pair.
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


def normalized_words(texts: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """The row and hash of every normalized word of ``texts``: lowercase, letters and digits
    only (any other run of characters separates words)."""
    spaced = (texts.fill_null("").str.to_lowercase().str.replace_all(r"[^\p{L}\p{N}\s]+", " ")
              .str.replace_many(WHITESPACE, [" "] * len(WHITESPACE)))
    words = spaced.str.split(" ").to_frame("word").with_row_index("row").explode("word").filter(pl.col("word") != "")
    return words["row"].to_numpy().astype(np.int64), words["word"].hash().to_numpy()


_ASCII_SPACE = np.array([chr(i).isspace() for i in range(32)])  # which control characters are whitespace
_PAD = 16  # spaces after the last text: every word can be read 8 bytes at a time
_READ_LIMIT = 64  # longer words are hashed as strings, not 8 bytes at a time
_LOW_BYTES = np.array([(1 << (8 * i)) - 1 for i in range(8)] + [2**64 - 1], dtype=np.uint64)
_H1, _H2, _H3 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


class Workspace:
    """Arrays reused from one piece of text to the next. Fresh memory costs a page fault per
    4 KiB when first written, a large share of the work on arrays this size; arrays handed out
    under a name are overwritten when that name is asked for again."""

    def __init__(self) -> None:
        self._arrays: dict[str, np.ndarray] = {}

    def __call__(self, name: str, size: int, dtype: type | np.dtype) -> np.ndarray:
        array = self._arrays.get(name)
        if array is None or array.dtype != np.dtype(dtype) or len(array) < size:
            array = self._arrays[name] = np.empty(size + size // 8, dtype=dtype)
        return array[:size]

    def arange(self, size: int, dtype: type | np.dtype = np.intp) -> np.ndarray:
        """``0 .. size - 1`` (not to be written to)."""
        array = self._arrays.get(f"arange.{np.dtype(dtype)}")
        if array is None or len(array) < size:
            array = self._arrays[f"arange.{np.dtype(dtype)}"] = np.arange(size + size // 8, dtype=dtype)
        return array[:size]


def _whitespace(data: np.ndarray, unicode: np.ndarray | None, work: Workspace) -> tuple[np.ndarray, np.ndarray]:
    """Per byte of the UTF-8 ``data``: whether it belongs to a character ``str.isspace()``
    accepts; and where the newlines are. ``unicode``: the positions of the bytes that may
    start a character outside ASCII (None: all of them)."""
    ws = np.less_equal(data, 32, out=work("ws", len(data), bool))
    scratch = work("bytes", len(data), bool)
    low = np.flatnonzero(np.less(data, 32, out=scratch))  # mostly newlines
    kind = data[low]
    ws[low] = _ASCII_SPACE[kind]
    newlines = low[kind == 10]
    if unicode is None:
        lead = np.subtract(data, 0xC2, out=work("lead", len(data), np.uint8))
        unicode = np.flatnonzero(np.less(lead, 0xE4 - 0xC2, out=scratch))  # lead bytes C2..E3
    else:
        unicode = unicode[(data[unicode] - np.uint8(0xC2)) < 0xE4 - 0xC2]
    if len(unicode):
        # U+0085 and U+00A0 (C2 85, C2 A0); U+1680 (E1 9A 80); U+2000-U+200A, U+2028, U+2029,
        # U+202F (E2 80 xx); U+205F (E2 81 9F); U+3000 (E3 80 80)
        at = unicode[unicode + 2 < len(data)]
        lead, b1, b2 = data[at], data[at + 1], data[at + 2]
        two = (lead == 0xC2) & ((b1 == 0x85) | (b1 == 0xA0))
        three = (((lead == 0xE1) & (b1 == 0x9A) & (b2 == 0x80))
                 | ((lead == 0xE2) & (b1 == 0x80) & ((b2 <= 0x8A) | (b2 == 0xA8) | (b2 == 0xA9) | (b2 == 0xAF)))
                 | ((lead == 0xE2) & (b1 == 0x81) & (b2 == 0x9F))
                 | ((lead == 0xE3) & (b1 == 0x80) & (b2 == 0x80)))
        for offset, where in ((0, two | three), (1, two | three), (2, three)):
            ws[at[where] + offset] = True
    return ws, newlines


def _ranges(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The integers of the ranges ``starts[i]:ends[i]``, one range after the other."""
    sizes = ends - starts
    keep = sizes > 0
    starts, ends, sizes = starts[keep], ends[keep], sizes[keep]
    steps = np.ones(int(sizes.sum()), dtype=np.intp)
    if len(steps):
        steps[0] = starts[0]
        steps[np.cumsum(sizes)[:-1]] = starts[1:] - ends[:-1] + 1  # from one range to the next
    return np.cumsum(steps)


@dataclass
class Words:
    """The words of a batch of texts (``str.split()``), in order, as arrays: ``rows``
    (ascending), ``hashes`` (64 bits, equal for equal words), ``chars`` (each word's
    characters), ``starts``/``ends`` (its bytes in ``data``: ``"\\n"``, then each text's UTF-8
    followed by ``"\\n"``), with ``text_starts`` (where each text starts in ``data``)."""

    texts: pl.Series
    rows: np.ndarray
    hashes: np.ndarray
    chars: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    text_starts: np.ndarray
    data: np.ndarray
    newlines: np.ndarray  # where the newlines are in `data`
    _work: Workspace | None = None
    _bounds: np.ndarray | None = None
    _char_sum: np.ndarray | None = None
    _groups: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    _prefix: np.ndarray | None = None  # see _continuation
    _offset: np.ndarray | None = None
    _wide: np.ndarray | None = None

    @classmethod
    def of(cls, texts: pl.Series, non_ascii: np.ndarray | None = None, work: Workspace | None = None) -> "Words":
        """Split ``texts`` (no nulls) into words. ``non_ascii``: the texts holding a character
        outside ASCII (computed when not given); the others are cheaper to read. ``work``:
        where the arrays go (the words are valid until ``work`` is used for other texts).

        The texts are read as one buffer of bytes: words are the runs of bytes that are not
        whitespace; a word's hash mixes its bytes read 8 at a time."""
        work = Workspace() if work is None else work
        n_rows = len(texts)
        if non_ascii is None:
            non_ascii = (texts.str.len_bytes() != texts.str.len_chars()).to_numpy()
        lengths = texts.str.len_bytes().to_numpy().astype(np.int64)
        text_starts = np.ones(n_rows + 1, dtype=np.int64)
        np.cumsum(lengths + 1, out=text_starts[1:])
        text_starts[1:] += 1  # text r is data[text_starts[r]:text_starts[r + 1] - 1]
        size = int(text_starts[-1]) - 1
        data = work("data", size + _PAD, np.uint8)
        data[0] = 10
        data[size:] = 32
        data[size] = 10  # every text ends in a newline
        if n_rows:
            joined = texts.str.join("\n").cast(pl.Binary).item()
            data[1:size] = np.frombuffer(joined, dtype=np.uint8)
            del joined
        wide_rows = np.flatnonzero(non_ascii)
        if not len(wide_rows):
            wide_bytes = np.zeros(0, dtype=np.intp)
        elif len(wide_rows) > n_rows // 4:
            wide_bytes = None
        else:
            wide_bytes = _ranges(text_starts[wide_rows], text_starts[wide_rows + 1])
        ws, newlines = _whitespace(data, wide_bytes, work)
        # where whitespace and the rest meet: a word starts, then ends (data starts and ends
        # with whitespace)
        edges = np.flatnonzero(np.not_equal(ws[:-1], ws[1:], out=work("bytes", len(data) - 1, bool)))
        count = len(edges) // 2
        starts = np.add(edges[0::2], 1, out=work("starts", count, np.intp))
        ends = np.add(edges[1::2], 1, out=work("ends", count, np.intp))
        del edges
        bounds = np.searchsorted(starts, text_starts)  # the words of text r: bounds[r]:bounds[r + 1]
        rows = work("rows", count, np.uint32)
        rows[:] = 0
        firsts = bounds[1:-1]
        np.add.at(rows, firsts[firsts < count], 1)  # +1 where each text's words start
        np.cumsum(rows, out=rows)

        # 8 bytes from any offset (little-endian); reads past a word are masked off
        at = np.ndarray(shape=(len(data) - 7,), dtype="<u8", buffer=data, strides=(1,))
        length = np.subtract(ends, starts, out=work("length", count, np.int64))
        scratch = work("scratch", count, np.uint64)
        with np.errstate(over="ignore"):
            hashes = at[starts]
            shorter = np.minimum(length, 8, out=scratch.view(np.int64))
            hashes &= np.take(_LOW_BYTES, shorter, out=work("mask", count, np.uint64), mode="wrap")
            longer = np.flatnonzero(length > 8)
            huge = longer[length[longer] > _READ_LIMIT]
            longer = longer[length[longer] <= _READ_LIMIT]
            offset = 8
            while len(longer):
                part = at[starts[longer] + offset]
                part &= _LOW_BYTES.take(np.minimum(length[longer] - offset, 8))
                hashes[longer] = hashes[longer] * _MULT + part * _H1
                offset += 8
                longer = longer[length[longer] > offset]
            if len(huge):  # whatever their length, at the cost of a string each
                whole = texts.cast(pl.Binary).gather(rows[huge]).bin.slice(
                    pl.Series(starts[huge] - text_starts[rows[huge]]), pl.Series(length[huge]))
                hashes[huge] = whole.hash().to_numpy()
        with np.errstate(over="ignore"):
            hashes ^= np.multiply(length.view(np.uint64), _H2, out=scratch)  # "a\0" is not "a"
            hashes *= _H1
            hashes ^= np.right_shift(hashes, np.uint64(32), out=scratch)
            hashes *= _H3
            hashes ^= np.right_shift(hashes, np.uint64(29), out=scratch)
        words = cls(texts, rows, hashes, length, starts, ends, text_starts, data, newlines, _work=work,
                    _bounds=bounds)
        if len(wide_rows):
            words._continuation(wide_rows)
            wide = _ranges(bounds[wide_rows], bounds[wide_rows + 1])
            words.chars = work("chars", count, np.int64)
            words.chars[:] = length
            words.chars[wide] -= words.continuation_bytes(rows[wide], starts[wide], ends[wide])
        return words

    def strings(self, index: np.ndarray) -> pl.Series:
        """The words at ``index``, as text."""
        rows = self.rows[index]
        offsets = self.starts[index] - self.text_starts[rows]
        return (self.texts.cast(pl.Binary).gather(rows)
                .bin.slice(pl.Series(offsets), pl.Series(self.ends[index] - self.starts[index]))
                .cast(pl.String))

    @property
    def work(self) -> Workspace:
        """Where the arrays derived from the words go."""
        if self._work is None:
            self._work = Workspace()
        return self._work

    def char_sum(self) -> np.ndarray:
        """``char_sum[i]``: the characters of the words before word ``i`` (``len + 1`` values)."""
        if self._char_sum is None:
            self._char_sum = self.work("char_sum", len(self.chars) + 1, np.int64)
            self._char_sum[0] = 0
            np.cumsum(self.chars, out=self._char_sum[1:], dtype=np.int64)
        return self._char_sum

    def bounds(self, n_rows: int) -> np.ndarray:
        """``bounds[r]:bounds[r + 1]``: the words of row ``r`` (``rows`` ascend)."""
        if self._bounds is None or len(self._bounds) != n_rows + 1:
            self._bounds = np.searchsorted(self.rows, np.arange(n_rows + 1, dtype=self.rows.dtype))
        return self._bounds

    def sums(self, n_rows: int) -> dict[str, np.ndarray]:
        """Per text: ``words`` and ``word_chars``."""
        bounds = self.bounds(n_rows)
        return {"words": np.diff(bounds).astype(np.float64),
                "word_chars": np.diff(self.char_sum()[bounds]).astype(np.float64)}

    def groups(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The words ordered by hash, equal words adjacent (then by position): ``order``
        (their positions), ``boundary`` (for each of the ``len + 1`` gaps in that order, whether
        a new word starts there) and ``rows`` (the row of each, in that order)."""
        if self._groups is None:
            order, boundary = _sort_groups(self.hashes, work=self.work)
            rows = np.take(self.rows, order, out=self.work("groups.rows", len(order), np.uint32))
            self._groups = order, boundary, rows
        return self._groups

    def repeats(self, *, counts: bool) -> np.ndarray:
        """For each word, how many times it occurs in its row (``counts``), or whether it
        occurs more than once."""
        order, boundary, rows = self.groups()
        size = len(order)
        run = self.work("repeats.run", size + 1, bool)  # where runs of one word in one row start
        run[[0, -1]] = True
        np.logical_or(boundary[1:-1], np.not_equal(rows[1:], rows[:-1], out=run[1:-1]), out=run[1:-1])
        if counts:
            sizes = np.diff(np.flatnonzero(run))
            out = self.work("repeats.count", size, np.int64)
            out[order] = np.repeat(sizes, sizes)
        else:
            out = self.work("repeats.mask", size, bool)
            # alone: a run starts before it and after it
            alone = np.logical_and(run[:-1], run[1:], out=self.work("repeats.alone", size, bool))
            out[order] = np.logical_not(alone, out=alone)
        return out

    def token_sums(self, n_rows: int, *, alpha: bool, pattern: str | None) -> dict[str, np.ndarray]:
        """Per text, measured once per distinct word of the batch (words repeat a lot):
        with ``alpha``, ``alpha_words`` (words with a letter); with ``pattern``,
        ``pattern_matches`` (the matches of the regex ``pattern`` inside the words: the matches
        in the whole text when the pattern cannot match whitespace and sees it as a non-word
        character, as a ``\\b``-delimited word list does)."""
        out: dict[str, np.ndarray] = {}
        if not (alpha or pattern) or not len(self.rows):
            if alpha:
                out["alpha_words"] = np.zeros(n_rows)
            if pattern:
                out["pattern_matches"] = np.zeros(n_rows)
            return out
        word = pl.col("word")
        measured = []
        if alpha:
            measured.append((~word.str.contains(r"\p{L}")).cast(pl.Float64).alias("other"))
        if pattern:
            measured.append(word.str.count_matches(pattern).cast(pl.Float64).alias("matches"))
        order, boundary, rows = self.groups()
        heads = np.flatnonzero(boundary)  # where each distinct word starts in `order`, and the end
        values = self.strings(order[heads[:-1]]).to_frame("word").select(measured)
        # the few distinct words that count, and the rows of their occurrences
        special = np.flatnonzero(values.select(pl.any_horizontal(pl.all() > 0)).to_series().to_numpy())
        sizes = heads[special + 1] - heads[special]
        rows = rows[_ranges(heads[special], heads[special + 1])]
        if alpha:
            other = np.bincount(rows, weights=np.repeat(values["other"].to_numpy()[special], sizes), minlength=n_rows)
            out["alpha_words"] = np.diff(self.bounds(n_rows)) - other
        if pattern:
            weights = np.repeat(values["matches"].to_numpy()[special], sizes)
            out["pattern_matches"] = np.bincount(rows, weights=weights, minlength=n_rows)
        return out

    def line_sums(self, n_rows: int) -> dict[str, np.ndarray]:
        """Per text, over its lines (``split("\\n")``, stripped, blank ones left out): ``lines``,
        ``line_chars``, ``bullet_lines`` (starting with one of :data:`BULLETS`),
        ``ellipsis_lines`` (ending in ``...`` or ``…``), ``dup_lines`` and ``dup_line_chars``
        (lines equal to an earlier line of the same text)."""
        after = np.searchsorted(self.starts, self.newlines)  # the first word after each newline
        nonblank = np.flatnonzero(after[1:] > after[:-1])
        first, last = after[nonblank], after[nonblank + 1] - 1  # the words of each line
        rows = self.rows[first].astype(np.intp)
        starts, ends = self.starts[first], self.ends[last]  # a stripped line
        chars = ends - starts
        if self._prefix is not None:
            wide = np.flatnonzero(self._wide[rows])
            chars[wide] -= self.continuation_bytes(rows[wide], starts[wide], ends[wide])
        data = self.data
        head = data[starts].astype(np.uint32)
        head |= data[starts + 1].astype(np.uint32) << 8
        head |= data[starts + 2].astype(np.uint32) << 16
        bullet = np.zeros(len(starts), dtype=bool)
        for mark in BULLETS:
            code = mark.encode()
            bullet |= (head & ((1 << 8 * len(code)) - 1)) == int.from_bytes(code, "little")
        tail = np.maximum(ends - 3, 0)  # (before a line's first byte: whitespace)
        tail = (data[tail].astype(np.uint32) | data[tail + 1].astype(np.uint32) << 8
                | data[tail + 2].astype(np.uint32) << 16)
        ellipsis = (tail == int.from_bytes(b"...", "little")) | (tail == int.from_bytes("…".encode(), "little"))
        # equal lines have equal first and last words and length: compare only those lines whole
        with np.errstate(over="ignore"):
            sketch = self.hashes[first] ^ self.hashes[last] * _H1 ^ (ends - starts).view(np.uint64) * _H2
        maybe = np.flatnonzero(repeated(sketch ^ row_mix(rows), exact=False))
        line = self.texts.cast(pl.Binary).gather(rows[maybe]).bin.slice(
            pl.Series(starts[maybe] - self.text_starts[rows[maybe]]), pl.Series(ends[maybe] - starts[maybe]))
        repeat = maybe[~first_of_each(line.hash().to_numpy() ^ row_mix(rows[maybe]))]
        weights = chars.astype(np.float64)
        return {
            "lines": np.bincount(rows, minlength=n_rows).astype(np.float64),
            "line_chars": np.bincount(rows, weights=weights, minlength=n_rows),
            "bullet_lines": np.bincount(rows[bullet], minlength=n_rows).astype(np.float64),
            "ellipsis_lines": np.bincount(rows[ellipsis], minlength=n_rows).astype(np.float64),
            "dup_lines": np.bincount(rows[repeat], minlength=n_rows).astype(np.float64),
            "dup_line_chars": np.bincount(rows[repeat], weights=weights[repeat], minlength=n_rows),
        }

    def _continuation(self, wide_rows: np.ndarray) -> None:
        """Count the UTF-8 continuation bytes (``10xxxxxx``: bytes that do not start a
        character) of the texts ``wide_rows``, for :meth:`continuation_bytes`."""
        first, last = self.text_starts[wide_rows], self.text_starts[wide_rows + 1]
        data = self.data[_ranges(first, last)]
        self._prefix = np.zeros(len(data) + 1, dtype=np.int64)
        np.cumsum((data & 0xC0) == 0x80, out=self._prefix[1:])
        self._offset = np.zeros(len(self.text_starts), dtype=np.int64)
        self._offset[wide_rows] = np.cumsum(last - first) - last  # data offset -> index in `data`
        self._wide = np.zeros(len(self.text_starts), dtype=bool)
        self._wide[wide_rows] = True

    def continuation_bytes(self, rows: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """For each run of bytes ``starts:ends`` of a text ``rows`` with a character outside
        ASCII: its bytes minus its characters."""
        offset = self._offset[rows]
        return self._prefix[ends + offset] - self._prefix[starts + offset]


def _sort_groups(keys: np.ndarray, *, exact: bool = True,
                 work: Workspace | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Positions of ``keys`` with equal keys adjacent (``order``), and ``boundary``: for each
    of the ``len + 1`` gaps in that order, whether a new key starts there. ``work``: where the
    arrays go (``order`` and ``boundary`` are valid until ``work`` sorts again).

    The keys are sorted once with each key's position packed into their low bits, which groups
    equal keys without an argsort. Keys that differ only in those low bits land in one group;
    ``exact`` checks for that (rare) case and then sorts exactly instead."""
    work = Workspace() if work is None else work
    size = len(keys)
    low = np.uint64((1 << max(int(size - 1).bit_length(), 1)) - 1)
    packed = np.bitwise_and(keys, ~low, out=work("sort.packed", size, np.uint64))
    packed |= work.arange(size, np.uint64)
    packed.sort()
    boundary = work("sort.boundary", size + 1, bool)
    boundary[0] = boundary[-1] = True
    scratch = work("sort.scratch", size, np.uint64)[:max(size - 1, 0)]
    np.greater(np.bitwise_xor(packed[1:], packed[:-1], out=scratch), low, out=boundary[1:-1])  # high bits differ
    packed &= low
    order = packed.view(np.intp)  # the positions (< 2**63)
    if exact and size > 1:
        ordered = np.take(keys, order, out=work("sort.ordered", size, np.uint64), mode="wrap")
        differ = np.not_equal(ordered[1:], ordered[:-1], out=work("sort.differ", size - 1, bool))
        if np.greater(differ, boundary[1:-1], out=differ).any():  # differ inside a group
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
    sizes = np.diff(np.flatnonzero(boundary))
    out = np.empty(len(keys), dtype=np.int64)
    out[order] = np.repeat(sizes, sizes)
    return out


def ngram_repetition(words: Words, n_rows: int, top: tuple[int, ...], dup: tuple[int, ...],
                     give_up: Callable[[str, np.ndarray], np.ndarray] | None = None,
                     measure: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Per row: ``top_<n>`` (characters of the top repeated n-gram, ``count * chars``) for each
    ``n`` in ``top`` and ``dup_<n>`` (characters of words inside repeated n-grams) for each ``n``
    in ``dup``; see the module docstring.

    ``measure`` (a mask over the rows; default all) says which rows to measure: the others'
    values are NaN. ``give_up(name, values)``, called after each value (smaller n first,
    ``top`` before ``dup``), returns the rows not worth measuring further; their later values
    are NaN."""
    out: dict[str, np.ndarray] = {}
    if not (top or dup):
        return out
    hashes = words.hashes
    char_sum = words.char_sum()

    # Level n keeps the start positions of the n-grams that occur at least twice in their row
    # (`starts`, ascending), their rows (`rows`) and hashes (`grams`). Rows that need no more
    # measuring (not `alive`) are dropped with the next candidates, the cheapest place.
    alive = np.ones(n_rows, dtype=bool) if measure is None else measure.copy()
    stale = not alive.all()
    starts = rows = grams = None
    for n in range(1, max((*top, *dup)) + 1):
        if n > 1:
            # candidates: both (n-1)-grams repeat, i.e. starts i and i + 1 are both kept; from
            # n = 3 on the two overlap, so they lie in one row
            keep = np.flatnonzero(starts[1:] == starts[:-1] + 1)
            if n == 2:
                keep = keep[rows[keep] == rows[keep + 1]]
            if stale:
                keep = keep[alive[rows[keep]]]
                stale = False
            starts, rows = starts[keep], rows[keep]
            with np.errstate(over="ignore"):
                grams = grams[keep] * _MULT + hashes[starts + n - 1]
            keys = grams ^ row_mix(rows)
        if n in top:
            count = words.repeats(counts=True) if n == 1 else occurrences(keys)
            again = count > 1
        elif n == 1:
            again = words.repeats(counts=False)
        else:  # a level only reported on must be exact; the others just narrow the candidates
            again = repeated(keys, exact=n in dup)
        again = np.flatnonzero(again)
        if n == 1:
            starts = again
            rows = np.take(words.rows, again, out=words.work("level1.rows", len(again), words.rows.dtype))
            grams = np.take(hashes, again, out=words.work("level1.grams", len(again), np.uint64))
        else:
            starts, rows, grams = starts[again], rows[again], grams[again]
        if n in top:
            # per row, the largest count * characters (`rows` ascend: reduce by segment)
            value = count[again] * (char_sum[starts + n] - char_sum[starts])
            best = np.zeros(n_rows)
            if len(starts):
                segment = np.flatnonzero(np.concatenate([[True], rows[1:] != rows[:-1]]))
                best[rows[segment]] = np.maximum.reduceat(value, segment)
            out[f"top_{n}"] = best
        if n in dup:
            # merge the windows [start, start + n) into blocks (windows overlap only inside a row)
            first = np.ones(len(starts), dtype=bool)
            first[1:] = starts[1:] >= starts[:-1] + n
            last = np.ones(len(starts), dtype=bool)
            last[:-1] = first[1:]
            block_start, block_end = starts[first], starts[last] + n
            chars = (char_sum[block_end] - char_sum[block_start]).astype(np.float64)
            out[f"dup_{n}"] = np.bincount(rows[first], weights=chars, minlength=n_rows).astype(np.float64)
        for name in (f"top_{n}", f"dup_{n}"):
            if name in out:
                out[name][~alive] = np.nan
                if give_up is not None:
                    failed = give_up(name, out[name])
                    if failed.any():
                        alive &= ~failed
                        stale = True
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
