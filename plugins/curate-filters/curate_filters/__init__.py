"""curate-filters: quality, safety and hygiene filters for post-training data.

Install with ``pip install -e plugins/curate-filters``; ``curate plugins`` then lists:

* ``filter.quality`` — Gopher-style heuristics (word count, word length, symbols, bullets,
  ellipses, letters, stop words, repeated lines and n-grams), each threshold a param;
* ``filter.response`` — empty, truncated (``finish_reason: length``), prompt-repeating and
  refusal/boilerplate responses;
* ``filter.turns`` — conversation structure (system?, user, assistant, ..., ending with assistant);
* ``filter.threshold`` — keep rows whose score column lies within ``min``/``max``;
* ``filter.language`` — language identification with py3langid (writes ``language``);
* ``filter.decontaminate`` — exact and n-gram overlap with benchmark prompts;
* ``filter.pii`` — redact e-mails, phones, IPs, credit cards and API keys.

Every filter takes ``action: drop`` (default; removed rows are kept aside with a reason) or
``action: flag`` (rows stay, the reason goes to ``<filter>_reason``). A recipe::

    stages:
      - use: read.jsonl
        with: {path: data/sft.jsonl}
      - use: filter.pii
        with: {columns: [prompt, response]}
      - use: filter.response
      - use: filter.quality
        with: {column: response, min_words: 5}
      - use: filter.decontaminate
        with: {benchmarks: [benchmarks/gsm8k.jsonl], benchmark_column: question}
      - use: write.jsonl
        with: {path: clean.jsonl, format: sft}

Params, columns and reasons of each: ``curate describe filter.quality`` and docs/plugins/filters.md.
"""

from curate import hookimpl

from curate_filters.decontaminate import DecontaminateFilter
from curate_filters.language import LanguageFilter
from curate_filters.pii import PIIFilter
from curate_filters.quality import QualityFilter
from curate_filters.response import ResponseFilter
from curate_filters.threshold import ThresholdFilter
from curate_filters.turns import TurnsFilter

__all__ = ["DecontaminateFilter", "LanguageFilter", "PIIFilter", "QualityFilter", "ResponseFilter",
           "ThresholdFilter", "TurnsFilter"]


@hookimpl
def curate_register_filters(register):
    for cls in (QualityFilter, ResponseFilter, TurnsFilter, ThresholdFilter, LanguageFilter,
                DecontaminateFilter, PIIFilter):
        register(cls)
