"""Generated corpora with planted duplicates, shared by the dedup benchmarks.

Everything is generated from a seed (no downloads), and every planted duplicate is recorded with
its measured similarity, so a benchmark can score precision and recall against the truth.

* :func:`minhash_corpus` — documents of Zipf-distributed synthetic words. Some documents get
  near-duplicates at chosen Jaccard levels of their word n-gram shingle sets (edits are applied one
  at a time and stopped just above the target, so every level is hit from above), some of them in
  chains (a variant of a variant, which only union-find puts in one cluster). Variants also get
  case and punctuation noise, which the dedup normalization removes. Rows are shuffled.
* :func:`synthetic_embeddings` — unit vectors around topic centres, with planted near-duplicate
  vectors at exact cosine levels (to time SemDeDup at a million rows without embedding them).
* :func:`paraphrase_texts` — instruction-like prompts over topics, with planted paraphrases and
  near-copies (for real-model embedding).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["MinhashCorpus", "minhash_corpus", "truth_removed", "shingles", "EmbeddingCorpus",
           "synthetic_embeddings", "paraphrase_texts"]

JACCARD_LEVELS = (0.95, 0.9, 0.85, 0.8, 0.7, 0.6, 0.5)
COSINE_LEVELS = (0.995, 0.985, 0.97, 0.96, 0.94, 0.9)


def shingles(words: list[str], ngram: int) -> set[str]:
    """Word n-gram shingles, as `dedup.minhash` builds them (a short text is one shingle)."""
    if len(words) < ngram:
        return {" ".join(words)} if words else set()
    return {" ".join(words[i:i + ngram]) for i in range(len(words) - ngram + 1)}


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if (a or b) else 1.0


@dataclass
class MinhashCorpus:
    texts: list[str]
    #: planted pairs ``(row_a, row_b, jaccard)`` (every pair within a planted group, measured)
    pairs: list[tuple[int, int, float]]
    ngram: int
    levels: dict[float, int] = field(default_factory=dict)


def _vocabulary(rng: np.random.Generator, size: int) -> np.ndarray:
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    lengths = rng.integers(2, 11, size=size)
    words = {"".join(rng.choice(letters, n)) for n in lengths}
    return rng.permutation(np.array(sorted(words)))


def minhash_corpus(n_docs: int, *, seed: int = 0, ngram: int = 5, dup_fraction: float = 0.25,
                   levels: tuple[float, ...] = JACCARD_LEVELS, chain_fraction: float = 0.2,
                   vocab_size: int = 50_000, mean_words: int = 120) -> MinhashCorpus:
    """``n_docs`` texts; about ``dup_fraction`` of them are planted variants of other rows."""
    rng = np.random.default_rng(seed)
    vocab = _vocabulary(rng, vocab_size)
    ranks = np.arange(1, len(vocab) + 1)
    probs = 1.0 / ranks ** 1.05
    probs /= probs.sum()
    cdf = np.cumsum(probs)
    n_variants = int(n_docs * dup_fraction)
    n_base = n_docs - n_variants
    lengths = np.clip(rng.lognormal(np.log(mean_words), 0.5, n_base).astype(int), 30, 2000)
    flat = np.minimum(np.searchsorted(cdf, rng.random(int(lengths.sum()))), len(vocab) - 1)
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    docs: list[list[str]] = [list(vocab[flat[bounds[i]:bounds[i + 1]]]) for i in range(n_base)]

    groups: dict[int, list[int]] = {}
    level_count = {lv: 0 for lv in levels}
    sources = rng.choice(n_base, size=n_variants, replace=True)
    for k in range(n_variants):
        base = int(sources[k])
        members = groups.setdefault(base, [base])
        parent = members[-1] if (len(members) > 1 and rng.random() < chain_fraction) else base
        target = float(levels[k % len(levels)])
        level_count[target] += 1
        docs.append(_edit_to_jaccard(docs[parent], target, ngram, vocab, cdf, rng))
        members.append(len(docs) - 1)

    pairs: list[tuple[int, int, float]] = []
    sets = {}
    for members in groups.values():
        for m in members:
            sets[m] = shingles(docs[m], ngram)
        for i, a in enumerate(members):
            for b in members[i + 1:]:
                pairs.append((a, b, _jaccard(sets[a], sets[b])))

    order = rng.permutation(len(docs))  # row r holds doc order[r]
    row_of = np.empty(len(docs), dtype=np.int64)
    row_of[order] = np.arange(len(docs))
    noisy = rng.random(len(docs)) < 0.5
    texts = []
    for d in order:
        words = docs[d]
        texts.append(_noise(words, rng) if (noisy[d] and d >= n_base) else " ".join(words))
    pairs = [(int(row_of[a]), int(row_of[b]), j) for a, b, j in pairs]
    return MinhashCorpus(texts, pairs, ngram, level_count)


def _edit_to_jaccard(words: list[str], target: float, ngram: int, vocab: np.ndarray, cdf: np.ndarray,
                     rng: np.random.Generator) -> list[str]:
    """Apply the longest prefix of a random edit sequence that keeps the Jaccard with ``words`` at
    or above ``target`` (binary search over the prefix length)."""
    original = shingles(words, ngram)
    n_edits = max(8, len(words) // 2)
    positions = rng.random(n_edits)
    ops = rng.random(n_edits)
    fresh = vocab[np.minimum(np.searchsorted(cdf, rng.random(n_edits)), len(vocab) - 1)]

    def apply(k: int) -> list[str]:
        out = list(words)
        for pos, op, new in zip(positions[:k], ops[:k], fresh[:k]):
            i = int(pos * len(out))
            if op < 0.7:
                out[i] = str(new)
            elif op < 0.85 and len(out) > ngram + 1:
                del out[i]
            else:
                out.insert(i, str(new))
        return out

    lo, hi = 0, n_edits  # apply(lo) meets the target; find the largest such prefix
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _jaccard(original, shingles(apply(mid), ngram)) >= target:
            lo = mid
        else:
            hi = mid - 1
    return apply(lo)


def _noise(words: list[str], rng: np.random.Generator) -> str:
    """Case and punctuation changes that `dedup.minhash`'s normalization undoes."""
    out = []
    marks = rng.random(len(words))
    for w, m in zip(words, marks):
        if m < 0.05:
            w = w.capitalize()
        elif m < 0.08:
            w = w + ","
        elif m < 0.09:
            w = w + ". "
        out.append(w)
    return "  ".join(out) if rng.random() < 0.3 else " ".join(out)


def truth_removed(corpus: MinhashCorpus, threshold: float) -> set[int]:
    """Rows a perfect dedup at ``threshold`` removes: in each connected component of planted pairs
    with Jaccard >= threshold, every row but the first in input order."""
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        while parent.get(x, x) != x:
            parent[x] = parent.get(parent[x], parent[x])
            x = parent[x]
        return x

    for a, b, j in corpus.pairs:
        if j >= threshold:
            ra, rb = find(a), find(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    members = {x for a, b, j in corpus.pairs if j >= threshold for x in (a, b)}
    return {x for x in members if find(x) != x}


@dataclass
class EmbeddingCorpus:
    embeddings: np.ndarray  # (n, dim) float32, unit rows
    #: planted pairs ``(base_row, dup_row, cosine)``
    pairs: np.ndarray  # (m, 2) int64
    cosines: np.ndarray  # (m,) float32


def synthetic_embeddings(n: int, dim: int = 384, *, seed: int = 0, dup_fraction: float = 0.05,
                         levels: tuple[float, ...] = COSINE_LEVELS, n_topics: int | None = None,
                         spread: float = 1.0) -> EmbeddingCorpus:
    """Unit vectors around ``n_topics`` random centres (cosine to the centre about
    ``1/sqrt(1+spread^2)``), of which ``dup_fraction`` are planted copies of another row at an exact
    cosine from ``levels``: ``c*base + sqrt(1-c^2)*u`` with ``u`` a random unit vector orthogonal to
    ``base``."""
    rng = np.random.default_rng(seed)
    n_topics = n_topics or max(16, n // 400)
    centres = rng.standard_normal((n_topics, dim), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    out = np.empty((n, dim), dtype=np.float32)
    n_dup = int(n * dup_fraction)
    n_base = n - n_dup
    step = 65_536
    for s in range(0, n_base, step):
        e = min(n_base, s + step)
        topic = rng.integers(0, n_topics, e - s)
        x = centres[topic] + rng.standard_normal((e - s, dim), dtype=np.float32) * np.float32(spread / np.sqrt(dim))
        out[s:e] = x / np.linalg.norm(x, axis=1, keepdims=True)
    base = rng.integers(0, n_base, n_dup)
    cos = np.asarray(levels, dtype=np.float64)[np.arange(n_dup) % len(levels)]
    for s in range(0, n_dup, step):
        e = min(n_dup, s + step)
        b = out[base[s:e]].astype(np.float64)
        u = rng.standard_normal((e - s, dim))
        u -= (u * b).sum(1, keepdims=True) * b
        u /= np.linalg.norm(u, axis=1, keepdims=True)
        c = cos[s:e, None]
        v = c * b + np.sqrt(1 - c ** 2) * u
        out[n_base + s:n_base + e] = (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)
    order = rng.permutation(n)
    row_of = np.empty(n, dtype=np.int64)
    row_of[order] = np.arange(n)
    emb = out[order]
    pairs = np.stack([row_of[base], row_of[n_base + np.arange(n_dup)]], axis=1)
    return EmbeddingCorpus(emb, pairs, cos.astype(np.float32))


_TOPICS = (
    "black holes", "the French Revolution", "photosynthesis", "machine learning", "the stock market",
    "climate change", "the Roman Empire", "quantum computing", "honey bees", "volcanoes", "jazz music",
    "the human heart", "electric cars", "the Great Wall of China", "vaccines", "coral reefs",
    "cryptocurrency", "the printing press", "plate tectonics", "the Olympic Games", "sourdough bread",
    "the immune system", "solar panels", "chess openings", "the Amazon rainforest", "renewable energy",
    "ancient Egypt", "neural networks", "the water cycle", "impressionist painting", "gravity",
    "the internet", "antibiotics", "urban gardening", "the moon landing", "deep sea creatures",
    "inflation", "the Renaissance", "earthquakes", "coffee", "marathon training", "recycling",
    "DNA", "the Cold War", "origami", "tea ceremonies", "hurricanes", "the periodic table",
    "penguins", "public transport", "meditation", "3D printing", "the Silk Road", "rainbows",
    "glaciers", "the Byzantine Empire", "nuclear fusion", "octopuses", "the blockchain", "baroque music",
    "the human brain", "wind turbines", "the Eiffel Tower", "malaria", "mangrove forests", "stock options",
    "the Gutenberg Bible", "continental drift", "the Tour de France", "kimchi", "the nervous system",
    "hydrogen fuel cells", "poker strategy", "the Sahara desert", "geothermal energy", "the Maya civilization",
    "transformers in deep learning", "ocean currents", "cubism", "magnetism", "the telephone", "insulin",
    "rooftop farming", "the Apollo program", "bioluminescence", "interest rates", "the Enlightenment",
    "tsunamis", "espresso", "ultramarathons", "composting", "RNA vaccines", "the Korean War", "bonsai",
    "wine tasting", "tornadoes", "the speed of light", "wolves", "high-speed rail", "yoga", "robotics",
)

_SUFFIXES = ("", " Keep it under 100 words.", " Use simple language.", " Format the answer as a bulleted list.",
             " Write for a professional audience.", " Add a short title.")

# (canonical template, paraphrases of it)
_TASKS = (
    ("Write a short poem about {t}.", ("Compose a brief poem about {t}.", "Write a little poem on the topic of {t}.")),
    ("Explain {t} to a ten-year-old.", ("Explain {t} in a way a ten year old child would understand.",
                                        "How would you explain {t} to a 10-year-old?")),
    ("List three surprising facts about {t}.", ("Give me three surprising facts about {t}.",
                                                "What are three facts about {t} that most people don't know?")),
    ("Summarize the history of {t} in one paragraph.", ("Give a one-paragraph summary of the history of {t}.",
                                                        "In a single paragraph, summarize how {t} developed "
                                                        "over time.")),
    ("What are the main advantages and disadvantages of {t}?", ("What are the pros and cons of {t}?",
                                                                "List the benefits and drawbacks of {t}.")),
    ("Write a quiz with five questions about {t}.", ("Create a five-question quiz about {t}.",
                                                     "Make a short quiz of 5 questions on {t}.")),
    ("Describe {t} in exactly three sentences.", ("Use exactly three sentences to describe {t}.",
                                                  "In three sentences, describe {t}.")),
    ("Write a tweet announcing a new documentary about {t}.", ("Draft a tweet promoting a new documentary on {t}.",
                                                               "Compose a tweet to announce a documentary about {t}.")),
)


def paraphrase_texts(n: int, *, seed: int = 0, dup_fraction: float = 0.2
                     ) -> tuple[list[str], list[tuple[int, int, str]]]:
    """Up to ``n`` prompts (at most ~6,000 distinct bases: task x topic x format); about
    ``dup_fraction`` of them are planted paraphrases (``kind`` =
    ``paraphrase``) or near-copies (``near_copy``: case, punctuation, a polite word) of another
    row. Returns the texts and ``(base_row, dup_row, kind)``."""
    rng = np.random.default_rng(seed)
    combos = [(ti, t, sfx) for ti in range(len(_TASKS)) for t in _TOPICS for sfx in _SUFFIXES]
    n_dup = int(n * dup_fraction)
    n_base = min(n - n_dup, len(combos))
    picked = rng.permutation(len(combos))[:n_base]
    base_texts = [_TASKS[combos[i][0]][0].format(t=combos[i][1]) + combos[i][2] for i in picked]
    docs = list(base_texts)
    planted = []
    for _ in range(n_dup):
        b = int(rng.integers(0, n_base))
        ti, topic, sfx = combos[picked[b]]
        if rng.random() < 0.5:
            alts = _TASKS[ti][1]
            text, kind = alts[int(rng.integers(0, len(alts)))].format(t=topic) + sfx, "paraphrase"
        else:
            text, kind = _near_copy(base_texts[b], rng), "near_copy"
        docs.append(text)
        planted.append((b, len(docs) - 1, kind))
    order = rng.permutation(len(docs))
    row_of = np.empty(len(docs), dtype=np.int64)
    row_of[order] = np.arange(len(docs))
    texts = [docs[i] for i in order]
    return texts, [(int(row_of[a]), int(row_of[b]), kind) for a, b, kind in planted]


def _near_copy(text: str, rng: np.random.Generator) -> str:
    choice = int(rng.integers(0, 4))
    if choice == 0:
        return "Please " + text[0].lower() + text[1:]
    if choice == 1:
        return text.lower().rstrip(".?") + "!"
    if choice == 2:
        return text.replace(" ", "  ", 2) + " Thanks."
    return text.upper()
