"""MinHash + LSH banding over whole columns of text, vectorized with numpy (no loop per shingle
or per document).

Two parts, as :class:`curate.Dedup` runs them. Per batch of rows (any split gives the same
result; a distributed executor runs batches in parallel), :meth:`MinHashLSH.sketch`:

1. **Shingle hashes.** The texts of a chunk of about ``CHUNK_CHARS`` bytes are normalized and
   taken as one UTF-8 byte buffer (straight from Arrow). A polynomial prefix sum over it (mod
   2^64, with the inverse powers of the base, so any substring hashes as
   ``(S[e] - S[s]) * P^(e-1)``) hashes every word or character n-gram in O(1), then the
   MurmurHash3 64-bit finalizer mixes it.
2. **Signatures.** The permutations are the affine maps ``(a*h + b) mod 2^32`` with odd ``a`` (a
   bijection on 32-bit values), computed for all permutations at once as a
   ``(permutations x shingles)`` uint32 matrix, in blocks of ``BLOCK_SHINGLES``, and min-reduced
   per document with ``np.minimum.reduceat``. This is the scheme datasketch 2.x uses by default
   (``affine32``). With verification only the ``bands * rows`` permutations the LSH reads are
   computed, and the signature is the document's sketch without it.
3. **Bands** (with verification): each band's ``rows`` signature values are folded into one
   64-bit key, and these ``bands`` keys are the document's sketch. (Without verification the
   keys are folded in the next part, from the signature.) With verification the documents'
   sorted unique shingle hashes can be written to a file too (see :meth:`MinHashLSH.sketch`).

Over all rows, :meth:`MinHashLSH.find`:

4. **Candidates.** Per band, documents are sorted by key; every run of equal keys is a bucket.
   Without verification a bucket is linked as a star (first member to each other member); with
   verification all pairs of a bucket are candidates (buckets over ``MAX_BUCKET_PAIRS`` members are
   verified leader by leader, see :meth:`MinHashLSH._leader_edges`).
5. **Verification** (optional): the sorted unique shingle hashes of the documents in candidate
   pairs, read from the files step 3 wrote (:func:`gather_sets`) or, without them, made again
   from those documents' text, give the exact Jaccard of all candidate pairs with one sort.
6. **Clusters**: connected components of the duplicate pairs; the first row of each is kept. A
   duplicate's similarity to its kept row is the exact Jaccard (verifying) or the MinHash
   estimate (the fraction of equal values of the two signatures).
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, ClassVar, Iterator, Literal, TypeVar

import numpy as np
import polars as pl

U64 = np.uint64
T = TypeVar("T")
CHUNK_CHARS = 1 << 20  # bytes of text per chunk
BLOCK_SHINGLES = 1 << 13  # rows of the (shingles x permutations) matrix at a time
PAIR_BATCH = 1 << 22  # shingles (or signature values) compared per batch of pairs
MAX_BUCKET_PAIRS = 128  # buckets up to this size are verified pair by pair

_BASE = 0x9E3779B97F4A7C15 | 1  # odd, so invertible mod 2^64
_BASE_INV = pow(_BASE, -1, 1 << 64)
_LEN_MIX = U64(0xC2B2AE3D27D4EB4F)
_BAND_MUL = U64(0x100000001B3)


def fmix64(x: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finalizer (a bijection that avalanches every bit), in place."""
    x ^= x >> U64(33)
    x *= U64(0xFF51AFD7ED558CCD)
    x ^= x >> U64(33)
    x *= U64(0xC4CEB9FE1A85EC53)
    x ^= x >> U64(33)
    return x


class _Powers:
    """``P^j`` and ``P^-j`` mod 2^64 for j < n, grown on demand (thread-safe)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pos = np.ones(1, dtype=U64)
        self.neg = np.ones(1, dtype=U64)

    @staticmethod
    def _table(base: int, size: int) -> np.ndarray:
        out = np.empty(size, dtype=U64)
        out[0] = 1
        filled, step = 1, base
        while filled < size:  # out[k:2k] = out[0:k] * base^k: log2(size) vector products
            take = min(filled, size - filled)
            np.multiply(out[:take], U64(step), out=out[filled:filled + take])
            filled += take
            step = step * step % (1 << 64)
        return out

    def get(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        with self.lock:
            if len(self.pos) < n:
                size = max(n, 2 * len(self.pos), CHUNK_CHARS + 1)
                self.pos, self.neg = self._table(_BASE, size), self._table(_BASE_INV, size)
            return self.pos, self.neg


_POWERS = _Powers()


def normalize(texts: pl.Series, *, lowercase: bool, strip_punctuation: bool) -> pl.Series:
    """Nulls become empty; optionally lowercase and replace punctuation and symbols by spaces;
    whitespace runs become one space, trimmed. (The patterns only match what must change, so a
    clean text costs one scan.)"""
    expr = pl.lit(texts.cast(pl.Utf8)).fill_null("")
    if lowercase:
        expr = expr.str.to_lowercase()
    other = r"[\p{P}\p{S}\s&&[^ ]]+" if strip_punctuation else r"[\s&&[^ ]]+"
    expr = expr.str.replace_all(other, " ").str.replace_all(r" {2,}", " ").str.strip_chars(" ")
    return pl.select(expr.alias("norm")).to_series()


def _segments(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(starts[i], starts[i] + lengths[i])`` for all i."""
    total = int(lengths.sum())
    run_start = np.cumsum(lengths) - lengths
    return np.repeat(starts - run_start, lengths) + np.arange(total)


def utf8_buffer(texts: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """``(bytes, offsets)``: the UTF-8 bytes of all texts back to back and ``n + 1`` offsets
    (zero-copy views of the Arrow buffers; nulls read as empty)."""
    import pyarrow as pa

    arr = texts.cast(pl.Utf8).to_arrow(compat_level=pl.CompatLevel.oldest())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.type != pa.large_string():
        arr = arr.cast(pa.large_string())
    _, offsets_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int64)[arr.offset: arr.offset + len(arr) + 1]
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    return data[offsets[0]: offsets[-1]], offsets - offsets[0]


def shingle_hashes(texts: pl.Series, kind: Literal["word", "char"], n: int
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """64-bit hashes of every word or character ``n``-gram of normalized texts.

    Works on the UTF-8 bytes (a shingle's bytes identify its characters; a space byte is always a
    space; a character starts at every byte that is not ``0b10xxxxxx``). Returns ``(lens, doc,
    hash)``: each text's length in bytes, and per shingle occurrence the text's position
    (ascending) and hash. A text shorter than ``n`` units is one shingle; an empty one has none.
    """
    data, offsets = utf8_buffer(texts)
    starts, ends = offsets[:-1], offsets[1:]
    lens = ends - starts
    n_docs, total = len(lens), len(data)
    if total == 0:
        return lens, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=U64)
    pos, neg = _POWERS.get(total + 1)
    prefix = np.empty(total + 1, dtype=U64)
    prefix[0] = 0
    np.multiply(data, neg[:total], out=prefix[1:])  # in place: no uint64 temporary (2.5x faster)
    np.cumsum(prefix[1:], out=prefix[1:])
    docs = np.arange(n_docs)
    # Units (characters or words) of each text: their start and end byte positions.
    if kind == "char":
        unit_s = np.flatnonzero((data & 0xC0) != 0x80)
        unit_e = np.r_[unit_s[1:], total]
        before_start, before_end = np.searchsorted(unit_s, starts), np.searchsorted(unit_s, ends)
        n_units = before_end - before_start
        unit_off = before_start
    else:
        # Texts are trimmed with single spaces: text i's words start at starts[i] and after each
        # of its spaces, and end at each of its spaces and at ends[i].
        spaces = np.flatnonzero(data == 32)
        before_start, before_end = np.searchsorted(spaces, starts), np.searchsorted(spaces, ends)
        nonempty = lens > 0
        n_units = np.where(nonempty, before_end - before_start + 1, 0)
        unit_off = np.cumsum(n_units) - n_units
        unit_s = np.empty(int(n_units.sum()), dtype=np.int64)
        unit_e = np.empty_like(unit_s)
        first_unit, last_unit = unit_off[nonempty], (unit_off + n_units - 1)[nonempty]
        inner = np.ones(len(unit_s), dtype=bool)
        inner[first_unit] = False
        unit_s[first_unit] = starts[nonempty]
        unit_s[inner] = spaces + 1
        inner[first_unit] = True
        inner[last_unit] = False
        unit_e[last_unit] = ends[nonempty]
        unit_e[inner] = spaces
    counts = np.where(n_units > 0, np.maximum(n_units - n + 1, 1), 0)
    doc = np.repeat(docs, counts)
    first = _segments(unit_off, counts)
    last = np.minimum(first + (n - 1), np.take(unit_off + n_units - 1, doc))
    s, e = np.take(unit_s, first), np.take(unit_e, last)  # (np.take: faster than indexing)
    h = np.take(prefix, e)
    h -= np.take(prefix, s)
    scratch = e - 1
    h *= np.take(pos, scratch)
    np.subtract(e, s, out=scratch)  # the length in bytes
    length = scratch.view(U64)
    length *= _LEN_MIX
    h ^= length
    return lens, doc, fmix64(h)


def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``a`` (odd) and ``b`` of the affine maps ``(a*h + b) mod 2^32``, from ``seed``."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 1 << 32, num_perm, dtype=np.uint64) | U64(1)
    b = rng.integers(0, 1 << 32, num_perm, dtype=np.uint64)
    return a.astype(np.uint32), b.astype(np.uint32)


def signatures(doc: np.ndarray, h: np.ndarray, n_docs: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(n_docs, num_perm)`` uint32 MinHash signatures; ``doc`` must be ascending."""
    sig = np.full((n_docs, len(a)), np.iinfo(np.uint32).max, dtype=np.uint32)
    h32 = (h >> U64(32)).astype(np.uint32)
    # (permutations x shingles): the min-reduction then runs over contiguous memory.
    buf = np.empty((len(a), min(BLOCK_SHINGLES, len(h32))), dtype=np.uint32)
    a_col, b_col = a[:, None], b[:, None]
    for bs in range(0, len(h32), BLOCK_SHINGLES):
        be = min(bs + BLOCK_SHINGLES, len(h32))
        out = buf[:, : be - bs]
        np.multiply(a_col, h32[None, bs:be], out=out)
        out += b_col
        d = doc[bs:be]
        heads = np.flatnonzero(np.r_[True, d[1:] != d[:-1]])
        mins = np.minimum.reduceat(out, heads, axis=1).T
        rows = d[heads]
        np.minimum(sig[rows], mins, out=mins)
        sig[rows] = mins
    return sig


def band_keys(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """``(n_docs, bands)`` uint64: each band's ``rows`` signature values folded into one key."""
    banded = sig[:, : bands * rows].reshape(len(sig), bands, rows)
    acc = np.broadcast_to(np.arange(1, bands + 1, dtype=U64), (len(sig), bands)).copy()
    for j in range(rows):
        acc *= _BAND_MUL
        acc += banded[:, :, j]
    return fmix64(acc)


@lru_cache(maxsize=256)
def optimal_params(threshold: float, num_perm: int, fp_weight: float = 0.5, fn_weight: float = 0.5) -> tuple[int, int]:
    """``(bands, rows)`` with ``bands * rows <= num_perm`` minimizing the weighted sum of the
    false-positive and false-negative probability masses of the LSH S-curve around ``threshold``
    (the derivation of datasketch's ``MinHashLSH._optimal_param``)."""
    from scipy.integrate import quad

    best, opt = float("inf"), (1, 1)
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            def p_candidate(s: float, b: float = b, r: float = r) -> float:
                return 1 - (1 - s ** r) ** b

            fp = quad(p_candidate, 0.0, threshold)[0]
            fn = quad(lambda s, pc=p_candidate: 1 - pc(s), threshold, 1.0)[0]
            err = fp * fp_weight + fn * fn_weight
            if err < best:
                best, opt = err, (b, r)
    return opt


_ID_BITS = 24  # sets (or pairs) per batch < 2^24; the low 40 bits of a key are hash bits


def _packed(ids: np.ndarray, h: np.ndarray) -> np.ndarray:
    """One sortable uint64 per (id, hash): the id in the top 24 bits, 40 hash bits below. (A
    single-key sort is an order of magnitude faster than ``np.lexsort``; two different shingles
    of one set agree on 40 hash bits with probability ~2^-40 per pair.)"""
    return (ids.astype(U64) << U64(64 - _ID_BITS)) | (h >> U64(_ID_BITS))


def unique_sets(doc: np.ndarray, h: np.ndarray, n_docs: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique shingle keys per document, as ``(values, offsets)`` (CSR)."""
    key = np.sort(_packed(doc, h))
    key = key[np.r_[True, key[1:] != key[:-1]]]
    d = (key >> U64(64 - _ID_BITS)).astype(np.int64)
    offsets = np.zeros(n_docs + 1, dtype=np.int64)
    np.cumsum(np.bincount(d, minlength=n_docs), out=offsets[1:])
    return key & U64((1 << (64 - _ID_BITS)) - 1), offsets


def jaccard_sets(values: np.ndarray, offsets: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Jaccard of the sets ``values[offsets[i]:offsets[i+1]]`` (each unique) for the pairs
    ``(left[k], right[k])``, all pairs with one sort."""
    out = np.empty(len(left), dtype=np.float64)
    step = 1 << _ID_BITS
    for ps in range(0, len(left), step):
        lft, rgt = left[ps:ps + step], right[ps:ps + step]
        la = offsets[lft + 1] - offsets[lft]
        lb = offsets[rgt + 1] - offsets[rgt]
        pid = np.arange(len(lft), dtype=U64) << U64(64 - _ID_BITS)
        key = np.sort(np.concatenate([np.repeat(pid, la) | values[_segments(offsets[lft], la)],
                                      np.repeat(pid, lb) | values[_segments(offsets[rgt], lb)]]))
        same = key[1:] == key[:-1]
        inter = np.bincount((key[1:][same] >> U64(64 - _ID_BITS)).astype(np.int64), minlength=len(lft))
        out[ps:ps + step] = inter / np.maximum(la + lb - inter, 1)
    return out


@dataclass
class MinHashLSH:
    """One configured MinHash + LSH pass (see the module docstring), in the two parts of a
    :class:`curate.Dedup`: :meth:`sketch` per batch of texts, :meth:`find` over all rows."""

    kind: Literal["word", "char"]
    ngram: int
    num_perm: int
    bands: int
    rows: int
    seed: int
    threshold: float
    verify: bool
    lowercase: bool = True
    strip_punctuation: bool = True
    #: Threads for the chunks (numpy and polars release the GIL in their loops): 1.6x faster on
    #: 2 idle cores than one thread.
    workers: ClassVar[int] = max(1, min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                                        else (os.cpu_count() or 1)))

    def __post_init__(self) -> None:
        self.a, self.b = permutations(self.num_perm, self.seed)
        self.used = self.bands * self.rows  # the permutations the LSH reads (a prefix of all)

    def shingles(self, texts: pl.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(normalized lengths, doc, hash)`` of raw texts (see :func:`shingle_hashes`)."""
        norm = normalize(texts, lowercase=self.lowercase, strip_punctuation=self.strip_punctuation)
        return shingle_hashes(norm, self.kind, self.ngram)

    @staticmethod
    def chunks(cost: np.ndarray, budget: int) -> list[tuple[int, int]]:
        """Consecutive ranges whose ``cost`` adds up to about ``budget`` (at least one item)."""
        cum = np.cumsum(cost)
        bounds = [0]
        while bounds[-1] < len(cost):
            start = bounds[-1]
            base = cum[start - 1] if start else 0
            bounds.append(max(int(np.searchsorted(cum, base + budget, side="right")), start + 1))
        return list(zip(bounds[:-1], bounds[1:]))

    def _each_chunk(self, texts: pl.Series, work: Callable[[int, int], T]) -> Iterator[T]:
        """``work(start, end)`` over chunks of at most about ``CHUNK_CHARS`` bytes of text (smaller
        when there is little text, so that every thread gets several), on a pool of threads (see
        ``workers``); results in order."""
        raw = texts.str.len_bytes().fill_null(0).to_numpy() + 1
        budget = min(CHUNK_CHARS, max(CHUNK_CHARS // 16, int(raw.sum()) // (4 * self.workers)))
        spans = self.chunks(raw, budget)
        with ThreadPoolExecutor(self.workers) if self.workers > 1 and len(spans) > 1 else _Serial() as pool:
            yield from pool.map(lambda span: work(*span), spans)

    # --- phases 1-3, row-local: each document's sketch ---------------------------------------
    def sketch_dtype(self) -> tuple[type, int]:
        """The numpy type and width of a document's sketch (see :meth:`sketch`)."""
        return (U64, self.bands) if self.verify else (np.uint32, self.num_perm)

    def sketch(self, texts: pl.Series, sets: Path | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """``(sketches, empty, counts)`` of raw ``texts`` (nulls allowed), one row per text: its
        ``bands`` LSH band keys (uint64) when verifying, else its full ``num_perm`` signature
        (uint32: band keys and similarity estimates both come from it). ``empty`` marks texts
        with nothing left after normalization (their sketch is meaningless). A text's sketch
        depends on that text alone, so any split into batches gives the same.

        With ``sets`` (a file to write) and verification, each text's sorted unique shingle keys,
        which the similarity phase reads, are written there too, in order, from the same
        shingles; ``counts`` is then the number per text (else ``None``)."""
        dtype, width = self.sketch_dtype()
        out = np.empty((len(texts), width), dtype=dtype)
        empty = np.empty(len(texts), dtype=bool)
        a, b = (self.a[: self.used], self.b[: self.used]) if self.verify else (self.a, self.b)
        keep = self.verify and sets is not None
        counts = np.zeros(len(texts), dtype=np.int64) if keep else None

        def work(s: int, e: int) -> np.ndarray | None:
            lens, doc, h = self.shingles(texts.slice(s, e - s))
            empty[s:e] = lens == 0
            sig = signatures(doc, h, e - s, a, b)
            out[s:e] = band_keys(sig, self.bands, self.rows) if self.verify else sig
            if not keep:
                return None
            values, offsets = unique_sets(doc, h, e - s)
            counts[s:e] = np.diff(offsets)
            return values

        with sets.open("wb") if keep else nullcontext() as file:
            for values in self._each_chunk(texts, work):
                if values is not None:
                    values.tofile(file)
        return out, empty, counts

    # --- phase 4: candidate pairs -----------------------------------------------------------
    def candidates(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
        """Pairs ``(left, right)``, left < right, sharing a band bucket (without verification: a
        star per bucket, enough for the union), and the buckets too big for all pairs."""
        n = len(keys)
        lefts, rights, big = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)], []
        if n < 2:
            return lefts[0], rights[0], big
        for band in range(keys.shape[1]):
            order = np.argsort(keys[:, band], kind="stable")
            k = keys[order, band]
            head = np.r_[True, k[1:] != k[:-1]]
            gstart = np.flatnonzero(head)
            gsize = np.diff(np.r_[gstart, n])
            gid = np.cumsum(head) - 1
            size = gsize[gid]
            if not self.verify:
                member = ~head & (size > 1)
                lefts.append(order[gstart[gid[member]]])
                rights.append(order[member])
                continue
            pos = np.flatnonzero((size > 1) & (size <= MAX_BUCKET_PAIRS))
            after = gstart[gid[pos]] + size[pos] - pos - 1
            lefts.append(order[np.repeat(pos, after)])
            rights.append(order[_segments(pos + 1, after)])
            big.extend(np.sort(order[gstart[g]: gstart[g] + gsize[g]])
                       for g in np.flatnonzero(gsize > MAX_BUCKET_PAIRS))
        pair = np.sort(np.concatenate(lefts).astype(np.int64) * n + np.concatenate(rights))
        pair = pair[np.r_[True, pair[1:] != pair[:-1]]] if len(pair) else pair
        unique_big = list({members.tobytes(): members for members in big}.values())  # same bucket, many bands
        return pair // n, pair % n, unique_big

    def _leader_edges(self, members: np.ndarray, sim: Callable[[np.ndarray, np.ndarray], np.ndarray]
                      ) -> tuple[np.ndarray, np.ndarray, int]:
        """A bucket too big for all pairs: its first member leads and is verified against every
        other member; those it does not match go on under the next leader."""
        lefts, rights, tried = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)], 0
        rest = members
        while len(rest) > 1:
            leader, others = rest[0], rest[1:]
            ok = sim(np.full(len(others), leader), others) >= self.threshold
            tried += len(others)
            lefts.append(np.full(int(ok.sum()), leader))
            rights.append(others[ok])
            rest = others[~ok]
        return np.concatenate(lefts), np.concatenate(rights), tried

    # --- phase 5: similarity of pairs -------------------------------------------------------
    def shingle_sets(self, texts: pl.Series, spill: Path) -> "_Sets":
        """The sorted unique shingle keys of raw ``texts``, written chunk by chunk to a file under
        ``spill`` and memory-mapped (memory stays bounded)."""
        store = _Sets(spill / "minhash-sets.bin", len(texts))

        def work(s: int, e: int) -> tuple[int, np.ndarray, np.ndarray]:
            _, doc, h = self.shingles(texts.slice(s, e - s))
            values, offsets = unique_sets(doc, h, e - s)
            return s, values, np.diff(offsets)

        try:
            for s, values, counts in self._each_chunk(texts, work):
                store.append(s, values, counts)
        finally:
            store.close()
        return store

    def jaccard(self, store: "_Sets", left: np.ndarray, right: np.ndarray) -> np.ndarray:
        """The exact Jaccard of the shingle sets of pairs of ``store``'s documents."""
        out = np.empty(len(left), dtype=np.float64)
        size = np.diff(store.offsets)
        for s, e in self.chunks(size[left] + size[right] + 1, PAIR_BATCH):
            out[s:e] = jaccard_sets(store.values, store.offsets, left[s:e], right[s:e])
        return out

    def estimate(self, sig: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        """The MinHash estimate of the Jaccard of pairs: the fraction of equal signature values."""
        out = np.empty(len(left), dtype=np.float64)
        for s, e in self.chunks(np.full(len(left), self.num_perm), PAIR_BATCH):
            out[s:e] = (sig[left[s:e]] == sig[right[s:e]]).mean(axis=1)
        return out

    # --- phases 4-6, global: candidates, verification, clusters -----------------------------
    def find(self, sketches: np.ndarray, empty: np.ndarray, texts_of: Callable[[np.ndarray], pl.Series],
             spill: Path, sets_of: Callable[[np.ndarray], "_Sets | None"] | None = None) -> "MinHashResult":
        """Duplicates among all rows, from their :meth:`sketch`. When verifying, the exact
        Jaccard of candidate pairs needs the shingle sets of their rows (ascending):
        ``sets_of(rows)`` reads them where :meth:`sketch` wrote them (see :func:`gather_sets`);
        where it is not given or returns ``None``, they are made again from the raw texts
        ``texts_of(rows)`` gives (spilled under ``spill``). Empty texts are never duplicates."""
        from curate_dedup._common import connected_components, pick_per_component

        n = len(sketches)
        rows = np.flatnonzero(~empty)
        if self.verify:
            keys = sketches[rows]
        else:
            keys = np.empty((len(rows), self.bands), dtype=U64)
            for s in range(0, len(rows), 65_536):
                keys[s:s + 65_536] = band_keys(sketches[rows[s:s + 65_536]], self.bands, self.rows)
        left, right, big = self.candidates(keys)
        del keys
        left, right, big = rows[left], rows[right], [rows[members] for members in big]
        n_candidates = len(left)
        if self.verify:
            need = np.unique(np.concatenate([left, right, *big]))
            store = sets_of(need) if sets_of is not None else None
            if store is None:
                store = self.shingle_sets(texts_of(need), spill)
            at = np.full(n, -1, dtype=np.int64)
            at[need] = np.arange(len(need))

            def sim(lft: np.ndarray, rgt: np.ndarray) -> np.ndarray:
                return self.jaccard(store, at[lft], at[rgt])

            ok = sim(left, right) >= self.threshold
            left, right = left[ok], right[ok]
            for members in big:
                el, er, tried = self._leader_edges(members, sim)
                left, right = np.r_[left, el], np.r_[right, er]
                n_candidates += tried
        else:
            def sim(lft: np.ndarray, rgt: np.ndarray) -> np.ndarray:
                return self.estimate(sketches, lft, rgt)

        kept = pick_per_component(connected_components(n, left, right))
        similarity = np.ones(n)
        dup = np.flatnonzero(kept != np.arange(n))
        similarity[dup] = sim(dup, kept[dup])
        if self.verify:
            store.release()
        return MinHashResult(kept, similarity, empty, n_candidates, len(left))

    def run(self, texts: pl.Series, spill: Path) -> "MinHashResult":
        """Both parts in one call: deduplicate raw ``texts`` (nulls allowed)."""
        sets = spill / "minhash-prepared-sets.bin"
        sketches, empty, counts = self.sketch(texts, sets)
        try:
            def sets_of(rows: np.ndarray) -> _Sets:
                start = np.cumsum(counts) - counts
                return gather_sets([sets], np.zeros(len(rows), np.int64), start[rows], counts[rows],
                                   spill / "minhash-sets.bin")

            return self.find(sketches, empty, lambda rows: texts.gather(rows), spill,
                             sets_of if counts is not None else None)
        finally:
            sets.unlink(missing_ok=True)


class _Serial:
    """A stand-in for a thread pool that maps in the calling thread."""

    def __enter__(self) -> "_Serial":
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    @staticmethod
    def map(fn: Callable, items: list) -> Iterator:
        return map(fn, items)


def gather_sets(files: list[Path], which: np.ndarray, start: np.ndarray, count: np.ndarray, out: Path) -> "_Sets":
    """The shingle sets of some rows, read from files :meth:`MinHashLSH.sketch` wrote (row ``i``:
    ``count[i]`` keys from position ``start[i]`` of ``files[which[i]]``), copied in order into
    one file ``out``, memory-mapped (memory stays bounded)."""
    arrays = [np.memmap(f, dtype=U64, mode="r") if f.stat().st_size else np.zeros(0, U64) for f in files]
    store = _Sets(out, len(which))
    try:
        for s in range(0, len(which), 65_536):
            w, st, ct = which[s:s + 65_536], start[s:s + 65_536], count[s:s + 65_536]
            runs = np.flatnonzero(np.r_[True, w[1:] != w[:-1], True])  # rows of one file in a row
            for a, b in zip(runs[:-1], runs[1:]):
                store.append(s + a, arrays[w[a]][_segments(st[a:b], ct[a:b])], ct[a:b])
    finally:
        store.close()
    return store


class _Sets:
    """Sorted unique shingle keys per document (CSR: ``values``, ``offsets``), written chunk by
    chunk to one file and read back as a memmap."""

    def __init__(self, path: Path, n_docs: int):
        self.path = path
        self.file = path.open("wb")
        self.counts = np.zeros(n_docs, dtype=np.int64)
        self.values: np.ndarray = np.zeros(0, dtype=U64)
        self.offsets = np.zeros(n_docs + 1, dtype=np.int64)

    def append(self, start: int, values: np.ndarray, counts: np.ndarray) -> None:
        np.ascontiguousarray(values).tofile(self.file)
        self.counts[start:start + len(counts)] = counts

    def close(self) -> None:
        self.file.close()
        np.cumsum(self.counts, out=self.offsets[1:])
        total = int(self.offsets[-1])
        self.values = np.memmap(self.path, dtype=U64, mode="r", shape=(total,)) if total else self.values

    def release(self) -> None:
        self.values = np.zeros(0, dtype=U64)
        self.path.unlink(missing_ok=True)


@dataclass
class MinHashResult:
    kept: np.ndarray  # row kept for each row (itself when not a duplicate)
    similarity: np.ndarray  # Jaccard (exact or estimated) to the kept row
    empty: np.ndarray  # rows whose text is empty after normalization
    candidate_pairs: int
    duplicate_edges: int
