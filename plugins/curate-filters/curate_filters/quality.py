"""`filter.quality`: Gopher-style heuristic quality rules (as Llama 3 uses them), each with its
threshold as a param; the reason names the first failing rule and the value measured."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Literal

import numpy as np
import polars as pl
from pydantic import Field, field_validator, model_validator

import curate
from curate_filters import _common, _textstats

#: Gopher's stop words: a document needs at least two of them (counted with repeats).
GOPHER_STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")
STATS_PREFIX = "quality_"
_SYMBOLS = r"#|\.\.\.|…"


class QualityParams(curate.FilterParams):
    column: str = Field("response", description="Text to check: a column, or `prompt`, `response` or "
                                                "`conversation` derived from the working columns.")
    min_words: int | None = Field(50, ge=0, description="Fewer words than this fail (`null` disables).")
    max_words: int | None = Field(100_000, ge=0, description="More words than this fail.")
    min_mean_word_length: float | None = Field(3.0, ge=0, description="Mean word length (characters) below this fails.")
    max_mean_word_length: float | None = Field(10.0, ge=0, description="Mean word length above this fails.")
    max_symbol_word_ratio: float | None = Field(
        0.1, ge=0, description="`#` and ellipses (`...`, `…`) per word above this fail.")
    max_bullet_lines_ratio: float | None = Field(
        0.9, ge=0, le=1, description="Fraction of non-blank lines starting with a bullet (-, *, •, ...) above this fails.")
    max_ellipsis_lines_ratio: float | None = Field(
        0.3, ge=0, le=1, description="Fraction of non-blank lines ending in `...` or `…` above this fails.")
    min_alpha_words_ratio: float | None = Field(
        0.8, ge=0, le=1, description="Fraction of words with at least one letter below this fails.")
    min_stop_words: int | None = Field(
        2, ge=0, description="Fewer occurrences of `stop_words` (whole words, any case) than this fail.")
    stop_words: list[str] = Field(list(GOPHER_STOP_WORDS), min_length=1,
                                  description="The stop-word list `min_stop_words` counts (default: Gopher's).")
    max_dup_line_ratio: float | None = Field(
        0.3, ge=0, le=1, description="Fraction of non-blank lines repeating an earlier line above this fails.")
    max_dup_line_char_ratio: float | None = Field(
        0.2, ge=0, le=1, description="Fraction of line characters in repeated lines above this fails.")
    max_top_ngram_char_ratio: dict[int, float] | None = Field(
        {2: 0.20, 3: 0.18, 4: 0.16},
        description="{n: threshold}: fraction of word characters in the most repeated word n-gram "
                    "(`count * characters`, over n-grams seen at least twice) above the threshold fails.")
    max_dup_ngram_char_ratio: dict[int, float] | None = Field(
        {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10},
        description="{n: threshold}: fraction of word characters inside word n-grams that occur at least "
                    "twice above the threshold fails.")
    write_stats: bool = Field(False, description="Also write every measured value as a `quality_<stat>` column.")

    @field_validator("max_top_ngram_char_ratio", "max_dup_ngram_char_ratio")
    @classmethod
    def _ngram_thresholds(cls, value: dict[int, float] | None) -> dict[int, float] | None:
        for n, threshold in (value or {}).items():
            if not 1 <= n <= 50:
                raise ValueError(f"n-gram size {n} is outside 1..50")
            if not 0 <= threshold <= 1:
                raise ValueError(f"threshold {threshold} for n={n} is outside 0..1")
        return dict(sorted(value.items())) if value else value

    @field_validator("stop_words")
    @classmethod
    def _words(cls, value: list[str]) -> list[str]:
        if any(not w.strip() or any(c.isspace() for c in w) for w in value):
            raise ValueError("stop words must be single non-empty words")
        return value

    @model_validator(mode="after")
    def _bounds(self) -> "QualityParams":
        if not rules(self):
            raise ValueError("every rule is disabled; enable at least one threshold")
        for low, high in (("min_words", "max_words"), ("min_mean_word_length", "max_mean_word_length")):
            lo, hi = getattr(self, low), getattr(self, high)
            if lo is not None and hi is not None and lo > hi:
                raise ValueError(f"`{low}` ({lo}) is greater than `{high}` ({hi})")
        return self


@dataclass(frozen=True)
class Rule:
    label: str          # the param, as the reason names it
    stat: str           # the measured value (``quality_<stat>`` with write_stats)
    op: Literal["<", ">"]
    threshold: float

    def failed(self) -> pl.Expr:
        value = pl.col(self.stat)
        return value < self.threshold if self.op == "<" else value > self.threshold

    def reason(self) -> pl.Expr:
        return pl.format(f"quality: {self.label} ({{}} {self.op} {self.threshold})", pl.col(self.stat).round(3))


def rules(p: QualityParams) -> list[Rule]:
    """The enabled rules, in the order they are checked (cheap ones first)."""
    table = [
        ("min_words", "words", "<"), ("max_words", "words", ">"),
        ("min_mean_word_length", "mean_word_length", "<"), ("max_mean_word_length", "mean_word_length", ">"),
        ("max_symbol_word_ratio", "symbol_word_ratio", ">"),
        ("max_bullet_lines_ratio", "bullet_lines_ratio", ">"),
        ("max_ellipsis_lines_ratio", "ellipsis_lines_ratio", ">"),
        ("min_alpha_words_ratio", "alpha_words_ratio", "<"),
        ("min_stop_words", "stop_words", "<"),
        ("max_dup_line_ratio", "dup_line_ratio", ">"),
        ("max_dup_line_char_ratio", "dup_line_char_ratio", ">"),
    ]
    out = [Rule(param, stat, op, getattr(p, param)) for param, stat, op in table if getattr(p, param) is not None]
    for n, threshold in (p.max_top_ngram_char_ratio or {}).items():
        out.append(Rule(f"max_top_ngram_char_ratio[{n}]", f"top_{n}gram_char_ratio", ">", threshold))
    for n, threshold in (p.max_dup_ngram_char_ratio or {}).items():
        out.append(Rule(f"max_dup_ngram_char_ratio[{n}]", f"dup_{n}gram_char_ratio", ">", threshold))
    return out


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den``, NaN where ``den`` is 0 (nothing to measure: the rule passes)."""
    out = np.full(len(num), np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


#: Texts are measured about this many bytes at a time: the arrays of one piece stay (mostly)
#: in the CPU caches, and are reused from piece to piece.
CHUNK_BYTES = 4 << 20


def measure(texts: pl.Series, p: QualityParams, *, every_row: bool,
            work: _textstats.Workspace | None = None) -> pl.DataFrame:
    """The stats the enabled rules need, one row per text (null: not measurable), measured
    :data:`CHUNK_BYTES` of text at a time by :func:`_measure`. ``work``: arrays to reuse from
    one call to the next."""
    work = _textstats.Workspace() if work is None else work
    piece = np.cumsum(texts.str.len_bytes().to_numpy(), dtype=np.int64) // CHUNK_BYTES
    bounds = [0, *(np.flatnonzero(np.diff(piece)) + 1).tolist(), len(texts)]
    if len(bounds) == 2:
        return _measure(texts, p, every_row=every_row, work=work)
    # (one chunk: polars 2.1 can panic formatting strings over a frame of many small chunks)
    return pl.concat([_measure(texts.slice(a, b - a), p, every_row=every_row, work=work)
                      for a, b in zip(bounds, bounds[1:])], rechunk=True)


def _measure(texts: pl.Series, p: QualityParams, *, every_row: bool, work: _textstats.Workspace) -> pl.DataFrame:
    """The stats the enabled rules need, one row per text (null: not measurable).

    The texts are split into words once (:class:`_textstats.Words`); every word- and line-based
    stat comes from that, and what depends only on a word (letters, stop words) is measured
    once per distinct word. The n-gram stats, the costliest, are computed only for texts that
    pass every other rule unless ``every_row``, and a text stops being measured at its first
    failing n-gram rule (the reason names only the first failure)."""
    enabled = rules(p)
    needed = {r.stat for r in enabled}
    n_rows = len(texts)
    text = pl.col("text")
    frame = texts.to_frame("text")
    symbols = [text.str.count_matches(_SYMBOLS).alias("symbols")] if "symbol_word_ratio" in needed else []
    per_text = frame.select((text.str.len_bytes() != text.str.len_chars()).alias("non_ascii"), *symbols)
    words = _textstats.Words.of(texts, per_text["non_ascii"].to_numpy(), work)
    w = words.sums(n_rows)
    stats = {"words": w["words"], "mean_word_length": _ratio(w["word_chars"], w["words"])}
    if "symbol_word_ratio" in needed:
        stats["symbol_word_ratio"] = _ratio(per_text["symbols"].to_numpy().astype(np.float64), w["words"])
    # A stop word never holds whitespace, so its whole-word matches lie inside single words.
    stop = (r"(?i)\b(?:" + "|".join(map(re.escape, p.stop_words)) + r")\b") if "stop_words" in needed else None
    tokens = words.token_sums(n_rows, alpha="alpha_words_ratio" in needed, pattern=stop)
    if "pattern_matches" in tokens:
        stats["stop_words"] = tokens["pattern_matches"]
    if "alpha_words" in tokens:
        stats["alpha_words_ratio"] = _ratio(tokens["alpha_words"], w["words"])
    if needed & {"bullet_lines_ratio", "ellipsis_lines_ratio", "dup_line_ratio", "dup_line_char_ratio"}:
        lines = words.line_sums(n_rows)
        stats["bullet_lines_ratio"] = _ratio(lines["bullet_lines"], lines["lines"])
        stats["ellipsis_lines_ratio"] = _ratio(lines["ellipsis_lines"], lines["lines"])
        stats["dup_line_ratio"] = _ratio(lines["dup_lines"], lines["lines"])
        stats["dup_line_char_ratio"] = _ratio(lines["dup_line_chars"], lines["line_chars"])

    top = tuple((p.max_top_ngram_char_ratio or {}).keys())
    dup = tuple((p.max_dup_ngram_char_ratio or {}).keys())
    if top or dup:
        pending = None
        cheap = [r for r in enabled if r.stat in stats]
        if cheap and not every_row:
            pending = np.ones(n_rows, dtype=bool)
            for r in cheap:  # as the reason does: null (NaN) passes
                value = stats[r.stat]
                pending &= ~(value < r.threshold if r.op == "<" else value > r.threshold)
        thresholds = {**{f"top_{n}": t for n, t in (p.max_top_ngram_char_ratio or {}).items()},
                      **{f"dup_{n}": t for n, t in (p.max_dup_ngram_char_ratio or {}).items()}}

        def ratio(name: str, chars: np.ndarray) -> np.ndarray:
            value = _ratio(chars, w["word_chars"])
            return np.minimum(value, 1.0) if name.startswith("top") else value

        def give_up(name: str, chars: np.ndarray) -> np.ndarray:  # failed already: stop measuring
            return ratio(name, chars) > thresholds[name]

        grams = _textstats.ngram_repetition(words, n_rows, top, dup, None if every_row else give_up, pending)
        for name, chars in grams.items():
            kind, n = name.split("_")
            stats[f"{kind}_{n}gram_char_ratio"] = ratio(name, chars)
    return _frame({k: v for k, v in stats.items() if k in needed})


def _frame(stats: dict[str, np.ndarray]) -> pl.DataFrame:
    frame = pl.DataFrame(stats).fill_nan(None)
    ints = [c for c in ("words", "stop_words") if c in frame.columns]
    return frame.with_columns(pl.col(ints).cast(pl.Int64)) if ints else frame


class QualityFilter(curate.Filter):
    """Drop texts failing Gopher-style quality heuristics (word count, word length, symbols,
    bullets, ellipses, letters, stop words, repeated lines and n-grams)."""

    name = "filter.quality"
    Params = QualityParams

    def input_columns(self) -> list[str | tuple[str, ...]]:
        return curate.text_columns(self.params.column)

    def output_columns(self) -> list[str]:
        cols = super().output_columns()
        if self.params.write_stats:
            cols += [STATS_PREFIX + r.stat for r in self._unique_stats()]
        return cols

    def _work(self) -> _textstats.Workspace:
        """Arrays kept from one batch to the next (one set per thread)."""
        local = self.__dict__.setdefault("_local", threading.local())
        if not hasattr(local, "work"):
            local.work = _textstats.Workspace()
        return local.work

    def _unique_stats(self) -> list[Rule]:
        seen: dict[str, Rule] = {}
        for r in rules(self.params):
            seen.setdefault(r.stat, r)
        return list(seen.values())

    def text(self, df: pl.DataFrame) -> pl.Series:
        return curate.text_of(df, self.params.column, where=self.where).fill_null("")

    def annotate(self, df: pl.DataFrame) -> pl.DataFrame:
        if not self.params.write_stats:
            return df
        stats = measure(self.text(df), self.params, every_row=True, work=self._work())
        return df.with_columns(stats.select(pl.all().name.prefix(STATS_PREFIX)))

    def drop_reason(self, df: pl.DataFrame) -> pl.Series:
        if self.params.write_stats:
            stats = df.select(pl.col(STATS_PREFIX + r.stat).alias(r.stat) for r in self._unique_stats())
        else:
            stats = measure(self.text(df), self.params, every_row=False, work=self._work())
        enabled = rules(self.params)
        reason = _common.first_reason((r.failed(), r.reason()) for r in enabled)
        # the reason (formatted text) only for the rows that fail a rule
        failing = stats.with_row_index("_row").filter(pl.any_horizontal(r.failed() for r in enabled))
        out = pl.Series("reason", [None] * stats.height, dtype=pl.String)
        if failing.height:
            out = out.scatter(failing["_row"], failing.select(reason).to_series())
        return out
