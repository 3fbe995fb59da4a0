"""`filter.response`: responses that are empty, truncated, a copy of the prompt, or a refusal or
boilerplate phrase."""

from __future__ import annotations

import numpy as np
import polars as pl
from pydantic import Field, field_validator

import curate
from curate_filters import _common, _textstats

#: Refusals and AI boilerplate (matched case-insensitively, curly apostrophes as straight ones).
REFUSAL_PHRASES = (
    "as an ai language model", "as a language model", "as an ai model", "as an ai assistant",
    "i'm just an ai", "i am just an ai", "i'm an ai language model", "i am an ai language model",
    "i'm sorry, but i can't", "i'm sorry, but i cannot", "i am sorry, but i cannot", "i'm sorry, i can't",
    "i'm sorry, i cannot", "i apologize, but i cannot", "i apologize, but i can't",
    "i can't assist with that", "i cannot assist with that", "i can't help with that", "i cannot help with that",
    "i'm unable to help with", "i am unable to help with", "i'm not able to help with", "i am not able to help with",
    "i cannot fulfill", "i can't fulfill", "i cannot comply", "i can't comply", "i cannot provide assistance",
    "i can't provide assistance", "my knowledge cutoff", "as of my last knowledge update", "as of my last update",
    "i don't have access to real-time", "i do not have access to real-time", "openai's content policy",
    "against my programming", "i'm not programmed to", "it is not appropriate for me to",
    "it's not appropriate for me to",
)
_OVERLAP_N = 3  # word n-grams compared between response and prompt


class ResponseParams(curate.FilterParams):
    column: str = Field("response", description="The response text column.")
    prompt_column: str = Field("prompt", description="The prompt, for `max_prompt_overlap`: a column, or "
                                                     "`prompt` (user turns of `messages` when there is no `prompt`).")
    empty: bool = Field(True, description="Fail null, empty and whitespace-only responses.")
    truncated: bool = Field(True, description="Fail responses whose `finish_reason_column` is `length` (cut off "
                                              "by the token limit); a no-op when that column is absent.")
    finish_reason_column: str = Field("finish_reason", description="Column with the engine's finish reason.")
    max_prompt_overlap: float | None = Field(
        0.9, ge=0, le=1,
        description=f"Fail responses equal to the prompt (ignoring case, punctuation and spacing) or whose word "
                    f"{_OVERLAP_N}-grams are more than this fraction in the prompt; `null` disables.")
    phrases: list[str] | None = Field(
        None, description="Refusal/boilerplate phrases that fail a response (substring, any case); `null` uses "
                          "the built-in list (see docs), a list replaces it, `[]` turns the check off.")
    extra_phrases: list[str] = Field(default_factory=list, description="Phrases added to `phrases`.")

    @field_validator("phrases", "extra_phrases")
    @classmethod
    def _non_empty(cls, value: list[str] | None) -> list[str] | None:
        if value and any(not p.strip() for p in value):
            raise ValueError("phrases must not be empty")
        return value

    def phrase_list(self) -> list[str]:
        base = REFUSAL_PHRASES if self.phrases is None else self.phrases
        return sorted({_fold(p) for p in (*base, *self.extra_phrases)})


def _fold(text: str) -> str:
    return " ".join(text.replace("\u2019", "'").replace("\u2018", "'").lower().split())


def _folded(text: pl.Expr) -> pl.Expr:
    """Lowercase, curly apostrophes straight, whitespace runs as one space (as :func:`_fold`)."""
    return text.str.to_lowercase().str.replace_many(["\u2019", "\u2018"], ["'", "'"]) \
        .str.replace_all(r"\s+", " ").str.strip_chars()


def prompt_overlap(response: pl.Series, prompt: pl.Series, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row: whether the normalized response equals the normalized prompt (and has a word),
    and the fraction of the response's distinct word n-grams that are in the prompt (NaN when
    the response has fewer than n words). Words are normalized as in filter.decontaminate."""
    n_rows = len(response)
    r_rows, r_words = _textstats.normalized_words(response)
    p_rows, p_words = _textstats.normalized_words(prompt)
    r_text = _textstats.text_hashes(r_rows, r_words, n_rows)
    same = (r_text != 0) & (r_text == _textstats.text_hashes(p_rows, p_words, n_rows))

    r_gram_rows, r_grams = _textstats.ngram_hashes(r_rows, r_words, n)
    r_keys = r_grams ^ _textstats.row_mix(r_gram_rows)  # an n-gram of the same row
    r_distinct = _textstats.first_of_each(r_keys)
    p_gram_rows, p_grams = _textstats.ngram_hashes(p_rows, p_words, n)
    p_keys = np.sort(p_grams ^ _textstats.row_mix(p_gram_rows))
    in_prompt = np.zeros(len(r_keys), dtype=bool)
    if len(p_keys):
        at = np.minimum(np.searchsorted(p_keys, r_keys), len(p_keys) - 1)
        in_prompt = p_keys[at] == r_keys
    total = np.bincount(r_gram_rows[r_distinct], minlength=n_rows)
    overlap = np.full(n_rows, np.nan)
    np.divide(np.bincount(r_gram_rows[r_distinct & in_prompt], minlength=n_rows), total, out=overlap,
              where=total > 0)
    return same, overlap


class ResponseFilter(curate.Filter):
    """Drop empty, truncated (`finish_reason: length`), prompt-repeating and refusal or
    boilerplate responses."""

    name = "filter.response"
    Params = ResponseParams

    def input_columns(self) -> list[str | tuple[str, ...]]:
        cols: list[str | tuple[str, ...]] = [self.params.column]
        if self.params.max_prompt_overlap is not None:
            cols += curate.text_columns(self.params.prompt_column)
        return cols

    def drop_reason(self, df: pl.DataFrame) -> pl.Expr:
        p = self.params
        text = curate.text_of(df, p.column, where=self.where).fill_null("")
        response = pl.lit(text)
        rules = []
        if p.empty:
            rules.append((response.str.strip_chars() == "", pl.lit("empty response")))
        if p.truncated and p.finish_reason_column in df.columns:
            finish = pl.col(p.finish_reason_column).cast(pl.String)
            rules.append((finish == "length", pl.lit("truncated response (finish_reason: length)")))
        if p.max_prompt_overlap is not None:
            prompt = curate.text_of(df, p.prompt_column, where=self.where).fill_null("")
            same, overlap = prompt_overlap(text, prompt, _OVERLAP_N)
            overlap = pl.lit(pl.Series(overlap).fill_nan(None))
            rules.append((pl.lit(pl.Series(same)), pl.lit("response repeats the prompt")))
            rules.append((overlap > p.max_prompt_overlap,
                          pl.format(f"response repeats the prompt ({{}} of its word {_OVERLAP_N}-grams are in "
                                    f"the prompt > {p.max_prompt_overlap})", overlap.round(3))))
        phrases = p.phrase_list()
        if phrases:
            found = _folded(response).str.extract_many(phrases).list.first()
            rules.append((found.is_not_null(), pl.format("refusal or boilerplate: '{}'", found)))
        return _common.first_reason(rules)
