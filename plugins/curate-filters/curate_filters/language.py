"""`filter.language`: language identification with py3langid (offline); writes the language and
its probability, and drops rows not in ``languages`` or below ``min_score``."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import polars as pl
from pydantic import Field, field_validator

import curate
from curate_filters import _common


@lru_cache(maxsize=1)
def identifier() -> Any:
    """py3langid's identifier with probabilities normalized to 0..1 (loaded once per process)."""
    try:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier
    except ImportError:  # pragma: no cover - a declared dependency
        raise ImportError("filter.language needs py3langid: pip install py3langid") from None
    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


class LanguageParams(curate.FilterParams):
    column: str = Field("response", description="Text to identify: a column, or `prompt`, `response` or "
                                                "`conversation`.")
    languages: list[str] | None = Field(
        ["en"], description="ISO 639-1 codes to keep, e.g. [en, de]; `null` keeps every language (annotate only).")
    min_score: float | None = Field(None, ge=0, le=1, description="Rows whose language probability is below "
                                                                "this fail.")
    min_confidence: float = Field(0.0, ge=0, le=1, description="A language outside `languages` removes the row "
                                  "only when its probability is at least this; less certain identifications (typically "
                                  "very short texts such as `12 * 13 = 156`) are kept.")
    max_chars: int = Field(1000, ge=1, description="Identify from the first this many characters (speed; "
                                                   "a few hundred characters are plenty).")
    language_column: str = Field("language", description="Column for the language code (null: no text).")
    score_column: str = Field("language_score", description="Column for the language's probability (0..1).")

    @field_validator("languages")
    @classmethod
    def _known(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            known = set(identifier().labels)
            unknown = [code for code in value if code not in known]
            if unknown:
                raise ValueError(f"unknown language code(s) {unknown}; py3langid knows: {', '.join(sorted(known))}")
        return value


def identify(texts: pl.Series, max_chars: int) -> pl.DataFrame:
    """``language`` and ``score`` for each text (null for blank ones). The model runs once per
    distinct text of the batch."""
    clipped = texts.fill_null("").str.slice(0, max_chars).alias("text")
    distinct = clipped.unique()
    distinct = distinct.filter(distinct.str.strip_chars() != "")
    model = identifier()
    found = [model.classify(t) for t in distinct.to_list()]  # the model, once per distinct text
    lookup = pl.DataFrame({"text": distinct, "language": [lang for lang, _ in found],
                           "score": [float(score) for _, score in found]},
                          schema={"text": pl.String, "language": pl.String, "score": pl.Float64})
    return clipped.to_frame().join(lookup, on="text", how="left", maintain_order="left").drop("text")


class LanguageFilter(curate.Filter):
    """Identify each row's language with py3langid; drop rows not in `languages` (or below
    `min_score`)."""

    name = "filter.language"
    Params = LanguageParams

    def input_columns(self) -> list[str | tuple[str, ...]]:
        return curate.text_columns(self.params.column)

    def output_columns(self) -> list[str]:
        return [self.params.language_column, self.params.score_column, *super().output_columns()]

    def setup(self, ctx) -> None:
        super().setup(ctx)
        identifier()  # load before the first batch

    def annotate(self, df: pl.DataFrame) -> pl.DataFrame:
        p = self.params
        found = identify(curate.text_of(df, p.column, where=self.where), p.max_chars)
        return df.with_columns(found["language"].alias(p.language_column), found["score"].alias(p.score_column))

    def drop_reason(self, df: pl.DataFrame) -> pl.Expr:
        p = self.params
        language, score = pl.col(p.language_column), pl.col(p.score_column)
        rules = []
        if p.languages is not None or p.min_score is not None:
            rules.append((language.is_null(), pl.lit("no text to identify the language of")))
        if p.languages is not None:
            rules.append((~language.is_in(p.languages) & (score >= p.min_confidence), pl.format(
                f"language '{{}}' ({{}}) is not one of {', '.join(p.languages)}", language, score.round(3))))
        if p.min_score is not None:
            rules.append((score < p.min_score, pl.format(
                f"language '{{}}' score {{}} < min_score {p.min_score}", language, score.round(3))))
        return _common.first_reason(rules)
