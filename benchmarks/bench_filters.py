"""filter.quality (polars + numpy, whole batches) versus the same rules as a per-row Python loop.

Both run over one generated corpus in the same process, batch by batch; the script prints
rows/second of each (wall-clock and CPU time, all threads), the ratios, and how many rows the
two disagree on (it must be 0: the loop is the reference the vectorized rules are checked
against).

Both stop early the same way: the reason names only the first failing rule, so the loop returns
at the first rule that fails and measures the n-grams only for texts that pass every cheaper
rule, and filter.quality measures the n-grams only for those texts too (and stops measuring a
text at its first failing n-gram rule). With `write_stats` filter.quality measures every value
of every row; that is not what is timed here.

    python benchmarks/bench_filters.py              # 200k rows
    python benchmarks/bench_filters.py --rows 20000 # quicker
"""

from __future__ import annotations

import argparse
import re
import time
from collections import Counter

import numpy as np
import polars as pl

from curate_filters._textstats import BULLETS
from curate_filters.quality import QualityFilter, QualityParams, rules


# --- the per-row reference ------------------------------------------------------------------
def _repeats(items: list[str]) -> tuple[int, int]:
    """Occurrences after the first, and their characters."""
    seen: set[str] = set()
    count = chars = 0
    for item in items:
        if item in seen:
            count += 1
            chars += len(item)
        else:
            seen.add(item)
    return count, chars


def python_quality(p: QualityParams):
    """The rules of ``p`` as a per-row function: text -> label of the first failing rule (as
    filter.quality names it) or None."""
    checks = {r.label: (r.op, r.threshold) for r in rules(p)}
    stop = re.compile(r"(?i)\b(?:" + "|".join(map(re.escape, p.stop_words)) + r")\b")
    symbols = re.compile(r"#|\.\.\.|…")
    top_ns, dup_ns = list(p.max_top_ngram_char_ratio or {}), list(p.max_dup_ngram_char_ratio or {})

    def fails(label: str, value: float | None) -> bool:
        if label not in checks or value is None:
            return False
        op, threshold = checks[label]
        return value < threshold if op == "<" else value > threshold

    def reason(text: str) -> str | None:
        words = text.split()
        n = len(words)
        lengths = [len(w) for w in words]
        word_chars = sum(lengths)
        for label in ("min_words", "max_words"):
            if fails(label, n):
                return label
        mean = word_chars / n if n else None
        for label in ("min_mean_word_length", "max_mean_word_length"):
            if fails(label, mean):
                return label
        if fails("max_symbol_word_ratio", len(symbols.findall(text)) / n if n else None):
            return "max_symbol_word_ratio"
        lines = [s for s in (line.strip() for line in text.split("\n")) if s]
        nl = len(lines)
        if fails("max_bullet_lines_ratio", sum(s.startswith(BULLETS) for s in lines) / nl if nl else None):
            return "max_bullet_lines_ratio"
        if fails("max_ellipsis_lines_ratio", sum(s.endswith(("...", "…")) for s in lines) / nl if nl else None):
            return "max_ellipsis_lines_ratio"
        alpha = sum(1 for w in words if any(c.isalpha() for c in w))
        if fails("min_alpha_words_ratio", alpha / n if n else None):
            return "min_alpha_words_ratio"
        if fails("min_stop_words", len(stop.findall(text))):
            return "min_stop_words"
        dup_lines, dup_chars = _repeats(lines)
        if fails("max_dup_line_ratio", dup_lines / nl if nl else None):
            return "max_dup_line_ratio"
        line_chars = sum(map(len, lines))
        if fails("max_dup_line_char_ratio", dup_chars / line_chars if line_chars else None):
            return "max_dup_line_char_ratio"
        if not word_chars:
            return None
        for k in top_ns:
            counts = Counter(tuple(words[i:i + k]) for i in range(n - k + 1))
            best = max((c * sum(map(len, g)) for g, c in counts.items() if c > 1), default=0)
            if fails(f"max_top_ngram_char_ratio[{k}]", min(best / word_chars, 1.0)):
                return f"max_top_ngram_char_ratio[{k}]"
        for k in dup_ns:
            grams = [tuple(words[i:i + k]) for i in range(n - k + 1)]
            counts = Counter(grams)
            covered = bytearray(n)
            for i, g in enumerate(grams):
                if counts[g] > 1:
                    covered[i:i + k] = b"\x01" * k
            chars = sum(length for length, c in zip(lengths, covered) if c)
            if fails(f"max_dup_ngram_char_ratio[{k}]", chars / word_chars):
                return f"max_dup_ngram_char_ratio[{k}]"
        return None

    return reason


# --- corpus ---------------------------------------------------------------------------------
def corpus(rows: int, seed: int = 0) -> list[str]:
    """Zipf-distributed words in lines of 6-24 words, 5-400 words a text; about one text in five
    is made to fail one rule (repeated lines or phrases, bullets, ellipses, hashtags, numbers,
    long or short words, no stop words)."""
    rng = np.random.default_rng(seed)
    letters = np.array(list("etaoinshrdlcumwfgypbvkjxqz"))
    vocab = ["the", "of", "and", "to", "a", "in", "is", "that", "for", "it", "with", "as", "was", "on", "be"]
    vocab += ["".join(rng.choice(letters, size=int(rng.integers(1, 11)))) for _ in range(20_000)]
    vocab += ["2024", "3.14", "$5", "—", "(1)", "Ünïcödé", "naïve", "日本語"]
    weights = 1.0 / np.arange(1, len(vocab) + 1) ** 1.05
    n_words = rng.integers(5, 400, size=rows)
    picks = rng.choice(len(vocab), size=int(n_words.sum()), p=weights / weights.sum())
    texts, offset = [], 0
    for i in range(rows):
        words = [vocab[j] for j in picks[offset:offset + n_words[i]]]
        offset += int(n_words[i])
        kind = rng.random()
        if kind < 0.01:
            words = [w for w in words if w not in ("the", "be", "to", "of", "and", "that", "have", "with")]
        elif kind < 0.02:
            words = [str(j * 7919 % 100_000) if j % 3 else w for j, w in enumerate(words)]
        elif kind < 0.03:
            words = [w * 4 for w in words]
        elif kind < 0.04:
            words = [w[:1] for w in words]
        lines, j = [], 0
        while j < len(words):
            k = int(rng.integers(6, 25))
            lines.append(" ".join(words[j:j + k]))
            j += k
        if kind < 0.04:
            pass
        elif kind < 0.08:
            lines += lines[: len(lines) // 2 + 1]
        elif kind < 0.10:
            lines = ["- " + line for line in lines]
        elif kind < 0.12:
            lines = [line + "..." for line in lines]
        elif kind < 0.14:
            lines = [line + " #tag #x" for line in lines]
        elif kind < 0.17:
            phrase = " ".join(words[:int(rng.integers(2, 12))])
            lines = [f"{line} {phrase}" if rng.random() < 0.5 else line for line in lines]
        texts.append(("\n\n" if rng.random() < 0.3 else "\n").join(lines))
    return texts


def label(reason: str | None) -> str | None:
    return None if reason is None else re.match(r"quality: (\S+) ", reason).group(1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    texts = corpus(args.rows, args.seed)
    df = pl.DataFrame({"response": texts})
    params = QualityParams()  # every rule on, Gopher's thresholds
    flt = QualityFilter(params)
    python_reason = python_quality(params)
    words = sum(len(t.split()) for t in texts[:10_000]) / min(len(texts), 10_000)
    print(f"corpus: {len(texts)} rows, ~{words:.0f} words per row; filter.quality with {len(rules(params))} "
          f"rules, batches of {flt.batch_size}")

    # Batch by batch, the filter then the loop on the same rows, so that both see the same load
    # on a shared machine; wall-clock and CPU seconds (all threads) are summed separately.
    reasons: list[str | None] = []
    expected: list[str | None] = []
    vector_s = loop_s = vector_cpu = loop_cpu = 0.0
    for start in range(0, df.height, flt.batch_size):
        batch = df.slice(start, flt.batch_size)
        wall, cpu = time.perf_counter(), time.process_time()
        reasons += flt.drop_reason(batch).to_list()
        vector_s += time.perf_counter() - wall
        vector_cpu += time.process_time() - cpu
        wall, cpu = time.perf_counter(), time.process_time()
        expected += [python_reason(t) for t in batch["response"]]
        loop_s += time.perf_counter() - wall
        loop_cpu += time.process_time() - cpu

    got = [label(r) for r in reasons]
    mismatches = sum(a != b for a, b in zip(got, expected))
    print(f"failing rows: {sum(e is not None for e in expected)}; by rule: {dict(Counter(e for e in expected if e))}")
    print(f"filter.quality (polars):  {len(texts) / vector_s:>10,.0f} rows/s  ({vector_s:.2f} s, "
          f"{vector_cpu:.2f} CPU s)")
    print(f"per-row Python loop:      {len(texts) / loop_s:>10,.0f} rows/s  ({loop_s:.2f} s, {loop_cpu:.2f} CPU s)")
    print(f"speed-up: {loop_s / vector_s:.1f}x wall-clock, {loop_cpu / vector_cpu:.1f}x CPU time   "
          f"disagreements: {mismatches}")
    if mismatches:
        raise SystemExit("the vectorized rules and the per-row reference disagree")


if __name__ == "__main__":
    main()
