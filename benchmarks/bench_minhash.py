"""dedup.minhash vs datasketch (MinHash + MinHashLSH), side by side on one generated corpus.

Both get the same normalized texts (the stage's normalization: lowercase, punctuation to spaces,
single spaces), the same word n-gram shingles, number of permutations and threshold (hence the
same bands x rows), and the same post-processing: candidate pairs, optionally verified by the
exact Jaccard of the shingle sets, merged by union-find, the first row of each cluster kept.
Precision and recall are of the removed rows against the planted truth (``_corpus.py``).

    python benchmarks/bench_minhash.py                     # 20k docs, a couple of minutes
    python benchmarks/bench_minhash.py --docs 100000 --datasketch-docs 20000

With ``--datasketch-docs`` below ``--docs``, datasketch runs on the first rows only: its docs/sec
is measured there (and said so); precision/recall are then compared on that subset.

curate's time is the stage's two parts, as the runner calls them (in a run folder, under a
temporary directory): ``prepare_batch`` (row-local: shingles, signatures, band keys and, with
verification, the shingle sets written to the stage folder; a distributed executor runs it in
parallel) then ``find_duplicates`` (all rows: candidates, verification, clusters); both are printed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _corpus  # noqa: E402
import curate  # noqa: E402
from curate_dedup import MinHashDedup  # noqa: E402
from curate_dedup._minhash_core import normalize  # noqa: E402


def run_curate(texts: list[str], params: dict, repeat: int = 1) -> tuple[set[int], float, MinHashDedup]:
    """Rows removed, best seconds of ``repeat`` runs, and the stage (``stage.parts``: the seconds
    of prepare_batch and find_duplicates in the best run)."""
    df = pl.DataFrame({"id": [str(i) for i in range(len(texts))], "text": texts})
    stage = MinHashDedup({"column": "text", **params})
    best = (float("inf"), float("inf"))
    with tempfile.TemporaryDirectory(prefix="bench-minhash-") as tmp:
        run = Path(tmp)
        stage.setup(curate.StageContext(curate.StageInfo(stage_id="minhash", recipe_name="bench", recipe_dir=run,
                                                         run_dir=run, stage_dir=run / "stage")))
        for _ in range(repeat):
            t0 = time.perf_counter()
            prepared = stage.prepare_batch(df)
            t1 = time.perf_counter()
            found = stage.find_duplicates(prepared)
            t2 = time.perf_counter()
            if t2 - t0 < sum(best):
                best = (t1 - t0, t2 - t1)
    stage.parts = best
    removed = set(np.flatnonzero(found["duplicate_of"].is_not_null().to_numpy()).tolist())
    return removed, sum(best), stage


def run_datasketch(texts: list[str], ngram: int, num_perm: int, threshold: float, seed: int,
                   verify: bool) -> tuple[set[int], dict[str, float], tuple[int, int], int]:
    from datasketch import MinHash, MinHashLSH

    t = {}
    t0 = time.perf_counter()
    norm = normalize(pl.Series(texts), lowercase=True, strip_punctuation=True).to_list()
    t["normalize"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    sets = [_corpus.shingles(s.split(" ") if s else [], ngram) for s in norm]
    encoded = [[s.encode() for s in sh] for sh in sets]
    t["shingle"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    hashes = MinHash.bulk(encoded, num_perm=num_perm, seed=seed)
    t["minhash"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    with lsh.insertion_session() as session:
        for i, (m, sh) in enumerate(zip(hashes, sets)):
            if sh:
                session.insert(i, m)
    pairs = set()
    for i, (m, sh) in enumerate(zip(hashes, sets)):
        if sh:
            pairs.update((j, i) for j in lsh.query(m) if j < i)
    t["lsh"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    n_candidates = len(pairs)
    if verify:
        pairs = {(a, b) for a, b in pairs if len(sets[a] & sets[b]) / len(sets[a] | sets[b]) >= threshold}
    parent = list(range(len(texts)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    removed = {i for i in range(len(texts)) if find(i) != i}
    t["verify+union"] = time.perf_counter() - t0
    return removed, t, (lsh.b, lsh.r), n_candidates


def score(removed: set[int], truth: set[int]) -> tuple[float, float]:
    tp = len(removed & truth)
    return (tp / len(removed) if removed else 1.0), (tp / len(truth) if truth else 1.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=20_000)
    ap.add_argument("--datasketch-docs", type=int, default=None, help="run datasketch on the first N docs only")
    ap.add_argument("--threshold", type=float, default=0.8)
    ap.add_argument("--ngram", type=int, default=5)
    ap.add_argument("--num-perm", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0, help="corpus and permutation seed")
    ap.add_argument("--repeat", type=int, default=3, help="time each method this many times, keep the best")
    ap.add_argument("--recall-seeds", type=int, default=3,
                    help="also average recall over this many permutation seeds (verify=True), both methods: "
                         "near the threshold LSH recall is a coin flip per pair, so one seed is noisy")
    args = ap.parse_args()
    ds_docs = min(args.docs, args.datasketch_docs or args.docs)

    t0 = time.perf_counter()
    corpus = _corpus.minhash_corpus(args.docs, seed=args.seed, ngram=args.ngram)
    truth = _corpus.truth_removed(corpus, args.threshold)
    sub_truth = {r for r in _corpus.truth_removed(
        _corpus.MinhashCorpus(corpus.texts[:ds_docs], [p for p in corpus.pairs if max(p[0], p[1]) < ds_docs],
                              corpus.ngram), args.threshold)}
    chars = sum(map(len, corpus.texts))
    print(f"corpus: {args.docs} docs ({chars / args.docs:.0f} chars/doc), {len(corpus.pairs)} planted pairs, "
          f"{len(truth)} rows to remove at Jaccard >= {args.threshold} (word {args.ngram}-grams); "
          f"generated in {time.perf_counter() - t0:.1f}s")

    params = {"ngram": args.ngram, "num_perm": args.num_perm, "threshold": args.threshold, "seed": args.seed}
    # Warm up both (regex compilation, power tables, imports) on a few docs.
    run_curate(corpus.texts[:500], params)
    run_datasketch(corpus.texts[:200], args.ngram, args.num_perm, args.threshold, args.seed, True)

    rows = []
    for verify in (True, False):
        removed, secs, stage = run_curate(corpus.texts, {**params, "verify": verify}, args.repeat)
        p, r = score(removed, truth)
        rows.append((f"curate dedup.minhash verify={verify}", args.docs, secs, len(removed), p, r))
        print(f"curate verify={verify} parts (s): prepare_batch {stage.parts[0]:.2f}, "
              f"find_duplicates {stage.parts[1]:.2f}")
        if ds_docs < args.docs:
            sub, sub_secs, _ = run_curate(corpus.texts[:ds_docs], {**params, "verify": verify}, args.repeat)
            sp, sr = score(sub, sub_truth)
            rows.append((f"  same, first {ds_docs} docs, verify={verify}", ds_docs, sub_secs, len(sub), sp, sr))
        bands_rows = stage.bands_rows()
        best = None
        for _ in range(args.repeat):
            removed, parts, ds_bands_rows, n_cand = run_datasketch(corpus.texts[:ds_docs], args.ngram, args.num_perm,
                                                                    args.threshold, args.seed, verify)
            if best is None or sum(parts.values()) < sum(best.values()):
                best = parts
        parts = best
        secs = sum(parts.values())
        p, r = score(removed, sub_truth)
        rows.append((f"datasketch verify={verify}", ds_docs, secs, len(removed), p, r))
        print(f"datasketch verify={verify} phases (s): " + ", ".join(f"{k} {v:.2f}" for k, v in parts.items())
              + f"; {n_cand} candidate pairs")
        assert bands_rows == ds_bands_rows, (bands_rows, ds_bands_rows)
    # Not a comparison: with verification on, weighting false negatives higher buys recall for
    # a few more candidate pairs to verify (precision stays 1 because every pair is checked).
    tuned = {**params, "false_positive_weight": 0.2, "false_negative_weight": 0.8}
    removed, secs, tuned_stage = run_curate(corpus.texts, tuned, args.repeat)
    p, r = score(removed, truth)
    b, rr = tuned_stage.bands_rows()
    rows.append((f"curate verify=True, fn weight 0.8 ({b}x{rr})", args.docs, secs, len(removed), p, r))
    print(f"bands x rows: {bands_rows[0]} x {bands_rows[1]} (both; num_perm={args.num_perm}); "
          f"seconds: best of {args.repeat} runs; {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f} at the end\n")

    print(f"{'method':40s} {'docs':>7s} {'seconds':>8s} {'docs/s':>9s} {'removed':>8s} {'precision':>9s} "
          f"{'recall':>7s}")
    for name, n, secs, k, p, r in rows:
        print(f"{name:40s} {n:7d} {secs:8.2f} {n / secs:9.0f} {k:8d} {p:9.4f} {r:7.4f}")
    print()
    by_name = {name.strip(): (n, secs, p, r) for name, n, secs, k, p, r in rows}
    for verify in (True, False):
        cn, cs, cp, cr = by_name[f"curate dedup.minhash verify={verify}"]
        dn, ds, dp, dr = by_name[f"datasketch verify={verify}"]
        speed = (cn / cs) / (dn / ds)
        note = f" (datasketch measured on the first {dn} docs, per-doc rate extrapolated)" if dn < cn else ""
        if dn < cn:  # compare quality on the docs both saw
            _, _, cp, cr = by_name[f"same, first {ds_docs} docs, verify={verify}"]
        print(f"verify={verify}: speed {speed:.1f}x datasketch{note}; recall {cr:.4f} vs {dr:.4f} "
              f"({cr - dr:+.4f}); precision {cp:.4f} vs {dp:.4f}")
    if args.recall_seeds > 1:
        ours, theirs = [], []
        for seed in range(args.recall_seeds):
            removed, _, _ = run_curate(corpus.texts[:ds_docs], {**params, "seed": seed})
            ours.append(score(removed, sub_truth)[1])
            removed, *_ = run_datasketch(corpus.texts[:ds_docs], args.ngram, args.num_perm, args.threshold, seed, True)
            theirs.append(score(removed, sub_truth)[1])
        print(f"recall over permutation seeds 0..{args.recall_seeds - 1} (verify=True, {ds_docs} docs): "
              f"curate {np.mean(ours):.4f} +- {np.std(ours):.4f} {np.round(ours, 4).tolist()}, "
              f"datasketch {np.mean(theirs):.4f} +- {np.std(theirs):.4f} {np.round(theirs, 4).tolist()}")


if __name__ == "__main__":
    main()
