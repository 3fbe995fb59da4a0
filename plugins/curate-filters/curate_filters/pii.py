"""`filter.pii`: redact e-mail addresses, phone numbers, IP addresses, credit-card numbers and
API keys with typed placeholders, counting them per row. It drops nothing unless
``drop_if_found``.

Each type is one regular expression (Rust syntax, as polars runs it), applied in a fixed order
(API keys, e-mails, credit cards, IPs, phones) so that a later, looser pattern never sees what an
earlier one replaced. Credit-card candidates (13-19 digits, spaces or dashes allowed) are
replaced only when they pass the Luhn check and start like a card (2-6); the check runs on the
batch's distinct candidates only."""

from __future__ import annotations

from typing import Literal

import polars as pl
from pydantic import Field

import curate
from curate_filters import _common

PIIType = Literal["api_key", "email", "credit_card", "ip", "phone"]
ORDER: tuple[str, ...] = ("api_key", "email", "credit_card", "ip", "phone")
PLACEHOLDERS = {"api_key": "[API_KEY]", "email": "[EMAIL]", "credit_card": "[CREDIT_CARD]", "ip": "[IP]",
                "phone": "[PHONE]"}

_HEX = "[0-9A-Fa-f]{1,4}"
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
PATTERNS = {
    # group 1 keeps a `key = ` prefix of a generic secret assignment
    "api_key": "|".join([
        r"\bsk-(?:proj-|ant-(?:api[0-9]{2}-)?)?[A-Za-z0-9_\-]{20,}",  # OpenAI, Anthropic
        r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",                              # AWS access key id
        r"\bgh[pousr]_[A-Za-z0-9]{36,}\b", r"\bgithub_pat_[A-Za-z0-9_]{22,}",  # GitHub
        r"\bglpat-[A-Za-z0-9_\-]{20,}",                                # GitLab
        r"\bxox[abprs]-[A-Za-z0-9\-]{10,}",                            # Slack
        r"\bAIza[0-9A-Za-z_\-]{35}",                                   # Google
        r"\b(?:sk|pk|rk)_(?:live|test)_[0-9A-Za-z]{16,}",              # Stripe
        r"\bhf_[A-Za-z0-9]{30,}",                                      # Hugging Face
        r"((?i:api[_\-]?key|secret[_\-]?key|access[_\-]?token|auth[_\-]?token|client[_\-]?secret|password|"
        r"secret|token)[\"']?\s*[:=]\s*[\"']?)[A-Za-z0-9_\-+/=.]{16,}",  # key = value
    ]),
    "email": r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}\b",
    "credit_card": r"\b(?:[0-9][ \-]?){12,18}[0-9]\b",  # candidates; Luhn decides
    "ip": "|".join([
        rf"\b(?:{_OCTET}\.){{3}}{_OCTET}\b",
        rf"\b(?:{_HEX}:){{7}}{_HEX}\b",                      # full IPv6
        rf"\b(?:{_HEX}:){{1,6}}(?::{_HEX}){{1,6}}\b",        # compressed, :: inside
        rf"\b(?:{_HEX}:){{2,7}}:",                           # compressed, :: at the end
        rf"::(?:{_HEX}:){{0,6}}{_HEX}\b",                    # compressed, :: first (::1)
    ]),
    "phone": "|".join([
        r"(?:\+1[ .\-]?)?(?:\([0-9]{3}\)[ .\-]?|\b[0-9]{3}[ .\-]?)[0-9]{3}[ .\-][0-9]{4}\b",   # NANP
        r"\+[0-9]{1,3}[ .\-]?\(?[0-9]{1,4}\)?(?:[ .\-]?[0-9]{2,4}){2,4}\b",               # +CC ...
    ]),
}


def luhn_valid(candidates: pl.Series) -> pl.Series:
    """Whether each candidate's digits pass the Luhn check, number 13-19 digits and start
    with 2-6 (the card networks' ranges)."""
    digits = candidates.str.replace_all(r"[^0-9]", "")
    d = pl.element().cast(pl.Int64)
    doubled = pl.when(d * 2 > 9).then(d * 2 - 9).otherwise(d * 2)
    checksum = (digits.str.reverse().str.split("")
                .list.eval(pl.when(pl.int_range(pl.len()) % 2 == 1).then(doubled).otherwise(d)).list.sum())
    return pl.select((pl.lit(checksum) % 10 == 0) & pl.lit(digits).str.len_chars().is_between(13, 19)
                     & pl.lit(digits).str.slice(0, 1).is_in(["2", "3", "4", "5", "6"])).to_series()


class PIIParams(curate.FilterParams):
    columns: _common.DistinctColumns = Field(["prompt", "response"], min_length=1,
                               description="Columns to redact: text columns, or messages columns (their "
                                           "`content` is redacted).")
    types: list[PIIType] = Field(list(ORDER), min_length=1, description="Kinds of PII to redact.")
    placeholders: dict[PIIType, str] = Field(default_factory=dict,
                                             description="Replacement text by type, overriding the defaults "
                                                         "([EMAIL], [PHONE], [IP], [CREDIT_CARD], [API_KEY]).")
    counts_column: str = Field("pii_counts", description="Struct column with the number redacted per type.")
    drop_if_found: bool = Field(False, description="Fail rows that contained any PII (they are still redacted).")

    def placeholder(self, kind: str) -> str:
        return self.placeholders.get(kind, PLACEHOLDERS[kind])


class PIIFilter(curate.Filter):
    """Redact e-mails, phone numbers, IPs, credit-card numbers (Luhn-checked) and API keys with
    typed placeholders and count them per row; drops only with `drop_if_found`."""

    name = "filter.pii"
    Params = PIIParams

    def input_columns(self) -> list[str | tuple[str, ...]]:
        return list(self.params.columns)

    def output_columns(self) -> list[str]:
        return [self.params.counts_column, *super().output_columns()]

    def _kinds(self) -> list[str]:
        return [k for k in ORDER if k in self.params.types]

    def annotate(self, df: pl.DataFrame) -> pl.DataFrame:
        p = self.params
        messages = []
        for column in p.columns:
            dtype = df.schema[column]
            if curate.is_messages(dtype):
                messages.append(column)
            elif dtype == pl.Null:  # all null: nothing to redact, but keep the column a text one
                df = df.with_columns(pl.col(column).cast(pl.String))
            elif dtype != pl.String:
                raise curate.DataError(f"column {column!r} has type {dtype}, which is not text or messages",
                                       where=self.where, hint="list only text or messages columns in `columns`")

        def texts(column: str) -> pl.Expr:
            """The column's strings: itself, or its messages' contents (a list)."""
            if column in messages:
                return pl.col(column).list.eval(pl.element().struct.field("content"))
            return pl.col(column)

        def apply(column: str, step) -> pl.Expr:
            """``step`` (a str-expression function) applied to the column's strings."""
            if column in messages:
                return pl.col(column).list.eval(pl.element().struct.with_fields(
                    step(pl.element().struct.field("content"))))
            return step(pl.col(column))

        counts = {}
        for kind in self._kinds():
            if kind == "credit_card":
                patterns = self._valid_cards(df, [texts(c) for c in p.columns])
            else:
                patterns = [PATTERNS[kind]]
            replacement = p.placeholder(kind).replace("$", "$$")
            if kind == "api_key":
                replacement = "${1}" + replacement  # keeps the `key = ` of an assignment
            found = []
            for pattern in patterns:
                for column in p.columns:
                    n = (texts(column).list.eval(pl.element().str.count_matches(pattern)).list.sum()
                         if column in messages else pl.col(column).str.count_matches(pattern))
                    found.append(n.fill_null(0).cast(pl.Int64))
                df = df.with_columns(
                    *[apply(c, lambda e: e.str.replace_all(pattern, replacement)).alias(c) for c in p.columns],
                    pl.sum_horizontal(found).alias(f"__pii_{kind}"),
                )
                found = [pl.col(f"__pii_{kind}")]
            counts[kind] = pl.col(f"__pii_{kind}") if patterns else pl.lit(0, pl.Int64)
        struct = pl.struct([counts[k].alias(k) for k in self._kinds()]).alias(p.counts_column)
        return df.with_columns(struct).drop([f"__pii_{k}" for k in self._kinds()], strict=False)

    @staticmethod
    def _valid_cards(df: pl.DataFrame, texts: list[pl.Expr], chunk: int = 500) -> list[str]:
        """Patterns matching exactly the batch's Luhn-valid card candidates (a few hundred
        numbers each, to keep every regex small)."""
        strings = []
        for text in texts:
            values = df.select(text.alias("text"))["text"]
            strings.append((values.explode() if isinstance(values.dtype, pl.List) else values).cast(pl.String))
        candidates = (pl.concat(strings).drop_nulls().str.extract_all(PATTERNS["credit_card"])
                      .explode().drop_nulls().unique())
        valid = candidates.filter(luhn_valid(candidates)).to_list() if len(candidates) else []
        literal = [v.replace("-", r"\-").replace(" ", r"\x20") for v in sorted(valid, key=len, reverse=True)]
        return [r"\b(?:" + "|".join(literal[i:i + chunk]) + r")\b" for i in range(0, len(literal), chunk)]

    def drop_reason(self, df: pl.DataFrame) -> pl.Expr:
        if not self.params.drop_if_found:
            return pl.lit(None, pl.String)
        counts = pl.col(self.params.counts_column).struct.field
        parts = [pl.when(counts(k) > 0).then(pl.format(f"{k}={{}}", counts(k))) for k in self._kinds()]
        total = pl.sum_horizontal(counts(k) for k in self._kinds())
        return pl.when(total > 0).then(pl.format("contains PII: {}", pl.concat_str(parts, separator=", ",
                                                                                     ignore_nulls=True)))
