"""dedup.semantic (SemDeDup: k-means, then cosine within clusters) vs exact brute force.

The brute force is a FAISS ``IndexFlatIP`` range search at the same threshold (cosine >= 1 - eps)
over every row: exact, O(n^2). Reported: time per phase (embed, cluster, compare) and recall of the
planted duplicates for both, plus the share of the brute-force pairs SemDeDup finds.

    python benchmarks/bench_semantic.py --rows 5000                       # real MiniLM embeddings
    python benchmarks/bench_semantic.py --rows 100000 --synthetic-embeddings
    python benchmarks/bench_semantic.py --rows 1000000 --synthetic-embeddings

With ``--synthetic-embeddings`` the vectors come from ``_corpus.synthetic_embeddings`` (topic
clusters plus planted near-duplicate vectors at exact cosines), because embedding a million texts
with MiniLM on two CPU cores takes hours; the embed phase is then timed on ``--embed-sample`` real
texts with the real model and extrapolated per row (said so in the output). Above
``--bf-full-max`` rows the brute force runs for ``--bf-queries`` query rows (planted duplicates and
random rows) against all rows; its full time is extrapolated linearly in the number of queries
(each query scans all rows), and both methods' recall is measured on those queries.

The stage embeds each batch of rows it is given (100,000 at a time from the local executor) into
its own file and reads them back as one array (``_semantic_core.StackedRows``); SemDeDup reads
the embeddings the same way here, split into ``--batches`` parts (default: as the stage would).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _corpus  # noqa: E402
from curate_dedup import _semantic_core as core  # noqa: E402


def timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def embed_real(texts: list[str]) -> tuple[np.ndarray, float, float]:
    """Embeddings of ``texts`` with the bundled MiniLM; (embeddings, load seconds, embed seconds)."""
    model, load_s = timed(core.load_model, core.resolve_model(core.DEFAULT_MODEL), "cpu")
    core.embed(pl.Series(texts[:64]), model, np.empty((min(64, len(texts)), 384), np.float32))  # warm-up
    out = np.empty((len(texts), model.get_embedding_dimension()), dtype=np.float32)
    _, embed_s = timed(core.embed, pl.Series(texts), model, out)
    return out, load_s, embed_s


def brute_force(emb: np.ndarray, queries: np.ndarray, threshold: float) -> tuple[dict[int, np.ndarray], float]:
    """Exact neighbours (cosine >= threshold, self excluded) of each query row, and the seconds."""
    import faiss

    t0 = time.perf_counter()
    index = faiss.IndexFlatIP(emb.shape[1])
    for s in range(0, len(emb), 262_144):
        index.add(np.ascontiguousarray(emb[s:s + 262_144], dtype=np.float32))
    found: dict[int, np.ndarray] = {}
    for s in range(0, len(queries), 4_096):
        q = queries[s:s + 4_096]
        lims, dist, ids = index.range_search(np.ascontiguousarray(emb[q], dtype=np.float32), threshold - 1e-4)
        for k, row in enumerate(q):
            hit = ids[lims[k]:lims[k + 1]][dist[lims[k]:lims[k + 1]] >= threshold]
            found[int(row)] = hit[hit != row]
    return found, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--synthetic-embeddings", action="store_true")
    ap.add_argument("--eps", type=float, default=0.05)
    ap.add_argument("--n-clusters", type=int, default=None, help="default: the stage's default for the row count")
    ap.add_argument("--embed-sample", type=int, default=2_000, help="texts embedded for real to time the embed phase")
    ap.add_argument("--bf-full-max", type=int, default=200_000, help="brute force over all rows up to this size")
    ap.add_argument("--bf-queries", type=int, default=5_000, help="query rows of the brute force above that size")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batches", type=int, default=None,
                    help="read the embeddings as this many files, as the stage does (default: one per 100,000 rows)")
    args = ap.parse_args()
    threshold = 1.0 - args.eps
    n = args.rows
    print(f"{n} rows, eps {args.eps} (cosine >= {threshold:.3f}); {os.cpu_count()} CPUs, FAISS GPUs: "
          f"{int(core.use_gpu())}")

    # --- embeddings ------------------------------------------------------------------------------
    if args.synthetic_embeddings:
        corpus, gen_s = timed(_corpus.synthetic_embeddings, n, seed=args.seed)
        emb, pairs, cosines = corpus.embeddings, corpus.pairs, corpus.cosines
        planted = cosines >= threshold
        texts, _ = _corpus.paraphrase_texts(args.embed_sample, seed=args.seed)
        texts = (texts * (args.embed_sample // max(1, len(texts)) + 1))[:args.embed_sample]
        _, load_s, sample_s = embed_real(texts)
        embed_s = sample_s / len(texts) * n
        embed_note = (f"ESTIMATED: MiniLM embedded {len(texts)} real texts in {sample_s:.1f}s "
                      f"({len(texts) / sample_s:.0f} texts/s), extrapolated to {n} rows; the vectors used are "
                      f"synthetic (generated in {gen_s:.1f}s)")
        levels = sorted({round(float(c), 3) for c in cosines})
        print(f"synthetic embeddings: {len(pairs)} planted pairs at cosines {levels}, "
              f"{int(planted.sum())} of them at or above the threshold")
    else:
        texts, planted_list = _corpus.paraphrase_texts(n, seed=args.seed)
        n = len(texts)
        (emb, load_s, embed_s) = embed_real(texts)
        pairs = np.array([(a, b) for a, b, _ in planted_list], dtype=np.int64).reshape(-1, 2)
        kinds = np.array([k for _, _, k in planted_list])
        cosines = np.einsum("ij,ij->i", emb[pairs[:, 0]], emb[pairs[:, 1]]) if len(pairs) else np.zeros(0)
        planted = cosines >= threshold
        embed_note = f"measured: MiniLM on {n} texts ({n / embed_s:.0f} texts/s)"
        for kind in ("near_copy", "paraphrase"):
            sel = kinds == kind
            print(f"planted {kind}s: {int(sel.sum())}, cosine median {np.median(cosines[sel]):.3f}, "
                  f"{int((planted & sel).sum())} at or above the threshold")
    print(f"model load {load_s:.1f}s (not counted)")

    # --- SemDeDup --------------------------------------------------------------------------------
    batches = max(1, args.batches or -(-n // 100_000))
    bounds = np.linspace(0, n, batches + 1).astype(np.int64)
    sizes = np.diff(bounds)
    files = emb if batches == 1 else core.StackedRows(
        [emb[a:b] for a, b in zip(bounds[:-1], bounds[1:])], np.repeat(np.arange(batches), sizes),
        np.concatenate([np.arange(size) for size in sizes]))
    print(f"SemDeDup reads the embeddings as {batches} file(s), as the stage reads {batches} prepared batch(es)")
    k = args.n_clusters or core.default_clusters(n)
    (centroids, labels), cluster_s = timed(core.kmeans, files, k, seed=args.seed)
    t0 = time.perf_counter()
    priority = -core.centroid_similarity(files, centroids, labels)
    found = core.compare_clusters(files, labels, threshold, priority)
    compare_s = time.perf_counter() - t0
    sizes = np.bincount(labels, minlength=len(centroids))
    group = found.kept  # rows in one duplicate group share their kept row

    # --- brute force -----------------------------------------------------------------------------
    rng = np.random.default_rng(args.seed)
    full = n <= args.bf_full_max
    if full:
        queries = np.arange(n)
    else:
        pick = rng.choice(np.flatnonzero(planted), min(args.bf_queries // 2, int(planted.sum())), replace=False)
        extra = rng.choice(n, args.bf_queries - len(pick), replace=False)
        queries = np.unique(np.r_[pairs[pick, 1], extra])
    bf, bf_s = brute_force(emb, queries, threshold)
    bf_full_s = bf_s * n / len(queries)

    # --- recall ----------------------------------------------------------------------------------
    in_queries = np.isin(pairs[:, 1], queries) & planted
    ev = pairs[in_queries]
    bf_hit = np.array([b in set(bf[int(d)].tolist()) for b, d in ev]) if len(ev) else np.zeros(0, bool)
    sem_hit = group[ev[:, 0]] == group[ev[:, 1]] if len(ev) else np.zeros(0, bool)
    bf_pairs = [(q, j) for q, hits in bf.items() for j in hits.tolist()]
    sem_of_bf = np.mean([group[q] == group[j] for q, j in bf_pairs]) if bf_pairs else 1.0

    sem_s = cluster_s + compare_s
    print(f"\nk-means: {len(centroids)} clusters (sizes: median {int(np.median(sizes))}, max {int(sizes.max())}); "
          f"{found.pairs:,} within-cluster similarities vs {n * (n - 1) // 2:,} all pairs")
    print(f"{'phase':34s} {'seconds':>9s}")
    print(f"{'embed':34s} {embed_s:9.1f}   {embed_note}")
    print(f"{'SemDeDup cluster (k-means)':34s} {cluster_s:9.1f}")
    print(f"{'SemDeDup compare (within clusters)':34s} {compare_s:9.1f}")
    print(f"{'SemDeDup total (cluster + compare)':34s} {sem_s:9.1f}")
    how = ("all rows as queries" if full else
           f"MEASURED {bf_s:.1f}s for {len(queries)} query rows, EXTRAPOLATED x{n / len(queries):.0f} to all {n}")
    print(f"{'brute force (FAISS IndexFlatIP)':34s} {bf_full_s:9.1f}   {how}")
    print()
    print(f"planted duplicates evaluated: {len(ev)} (cosine >= threshold{'' if full else ', among the queries'})")
    rb, rs = bf_hit.mean() if len(ev) else 1.0, sem_hit.mean() if len(ev) else 1.0
    print(f"recall of planted duplicates: brute force {rb:.4f}, SemDeDup {rs:.4f} (difference {rs - rb:+.4f})")
    print(f"brute-force pairs (from {len(queries)} queries): {len(bf_pairs)}; SemDeDup finds {sem_of_bf:.4f} of them")
    every = pairs[planted]
    print(f"SemDeDup recall over all {len(every)} planted pairs at or above the threshold: "
          f"{np.mean(group[every[:, 0]] == group[every[:, 1]]) if len(every) else 1.0:.4f}")
    print(f"rows removed by SemDeDup: {int((found.kept != np.arange(n)).sum())}")
    print(f"speed: SemDeDup {bf_full_s / sem_s:.1f}x faster than brute force (embedding excluded from both; "
          f"it is the same for both)")


if __name__ == "__main__":
    main()
