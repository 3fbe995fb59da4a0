"""filter.pii: typed placeholders, per-type counts, Luhn-checked cards, messages columns."""

from __future__ import annotations

import polars as pl
import pytest

import curate
from curate.testing import run_stage
from curate_filters.pii import luhn_valid

ZERO = {"api_key": 0, "email": 0, "credit_card": 0, "ip": 0, "phone": 0}


def redact(texts: list[str | None], **params) -> list[tuple[str | None, dict]]:
    df = pl.DataFrame({"id": [str(i) for i in range(len(texts))], "response": texts},
                      schema={"id": pl.String, "response": pl.String})
    out = run_stage("filter.pii", df, columns=["response"], **params).kept.sort(pl.col("id").cast(pl.Int64))
    return list(zip(out["response"].to_list(), out["pii_counts"].to_list()))


@pytest.mark.parametrize("text, redacted, kind, count", [
    ("mail john.doe+x@mail.example.co.uk now", "mail [EMAIL] now", "email", 1),
    ("call (555) 123-4567 or 555.123.4567", "call [PHONE] or [PHONE]", "phone", 2),
    ("ring +44 20 7946 0958 or +1-555-123-4567", "ring [PHONE] or [PHONE]", "phone", 2),
    ("host 192.168.1.10, not 999.1.1.1", "host [IP], not 999.1.1.1", "ip", 1),
    ("v6 2001:0db8:85a3:0000:0000:8a2e:0370:7334 fe80::1ff:fe23:4567:890a ::1",
     "v6 [IP] [IP] [IP]", "ip", 3),
    ("card 4111 1111 1111 1111 or 4111-1111-1111-1111", "card [CREDIT_CARD] or [CREDIT_CARD]", "credit_card", 2),
    ("amex 378282246310005", "amex [CREDIT_CARD]", "credit_card", 1),
    ("key sk-proj-abcdefghijklmnopqrstuvwxyz012345 AKIAIOSFODNN7EXAMPLE", "key [API_KEY] [API_KEY]", "api_key", 2),
    ("gh ghp_" + "a" * 36 + " hf_" + "b" * 34, "gh [API_KEY] [API_KEY]", "api_key", 2),
    ('{"api_key": "abcd1234abcd1234abcd"}', '{"api_key": "[API_KEY]"}', "api_key", 1),
])
def test_each_type(text, redacted, kind, count):
    assert redact([text]) == [(redacted, {**ZERO, kind: count})]


@pytest.mark.parametrize("text", [
    "order 4111 1111 1111 1112 (bad check digit)",  # fails Luhn
    "id 0000 0000 0000 0000",                        # Luhn-valid, but no card starts with 0
    "version 1.2.3, date 2024-01-15, time 12:30:45, std::vector, id 1234567890",
    "password: short",
    "a@b",
])
def test_lookalikes_are_left_alone(text):
    assert redact([text]) == [(text, ZERO)]


def test_luhn():
    assert luhn_valid(pl.Series(["4111111111111111", "4111 1111 1111 1112", "5555555555554444",
                                 "6011111111111117", "4111"])).to_list() == [True, False, True, True, False]


def test_messages_contents_and_several_columns():
    df = pl.DataFrame({
        "messages": [[{"role": "user", "content": "I am jane@x.org"}, {"role": "assistant", "content": "Hi Jane"}]],
        "response": ["Write to jane@x.org or 10.0.0.1"],
    })
    out = run_stage("filter.pii", df, columns=["messages", "response"]).kept
    assert out["messages"].to_list() == [[{"role": "user", "content": "I am [EMAIL]"},
                                          {"role": "assistant", "content": "Hi Jane"}]]
    assert out["response"].to_list() == ["Write to [EMAIL] or [IP]"]
    assert out["pii_counts"].to_list() == [{**ZERO, "email": 2, "ip": 1}]


def test_types_placeholders_and_drop_if_found():
    texts = ["a@b.io and 10.0.0.1", "nothing here", None, ""]
    assert redact(texts, types=["ip"], placeholders={"ip": "<ip>"})[0] == ("a@b.io and <ip>", {"ip": 1})
    df = pl.DataFrame({"response": texts})
    out = run_stage("filter.pii", df, columns=["response"], drop_if_found=True)
    assert out.kept["response"].to_list() == ["nothing here", None, ""]
    assert out.removed["response"].to_list() == ["[EMAIL] and [IP]"]
    assert out.removed["reason"].to_list() == ["contains PII: email=1, ip=1"]


def test_bad_input():
    with pytest.raises(curate.DataError, match="column 'response' has type Int64, which is not text or messages"):
        run_stage("filter.pii", pl.DataFrame({"response": [1]}), columns=["response"])
    with pytest.raises(curate.RecipeError, match="needs column 'prompt'"):
        run_stage("filter.pii", pl.DataFrame({"response": ["x"]}))
    big = ("lorem ipsum dolor " * 20_000) + " contact me: big@example.com"
    [(text, counts)] = redact([big])
    assert text.endswith("contact me: [EMAIL]") and counts == {**ZERO, "email": 1}


def test_many_distinct_cards_in_one_batch():
    def with_check_digit(body: str) -> str:
        total = 0
        for i, ch in enumerate(reversed(body + "0")):
            d = int(ch) * (2 if i % 2 else 1)
            total += d - 9 if d > 9 else d
        return body + str((10 - total % 10) % 10)

    cards = [with_check_digit(f"4{i:014d}") for i in range(1200)]  # more than one pattern's worth
    assert luhn_valid(pl.Series(cards)).all()
    redacted = redact([f"pay with {c} today" for c in cards])
    assert {text for text, _ in redacted} == {"pay with [CREDIT_CARD] today"}
    assert sum(counts["credit_card"] for _, counts in redacted) == 1200


@pytest.mark.parametrize("use", ["filter.pii", "filter.decontaminate"])
def test_a_column_listed_twice_is_a_recipe_error(use, tmp_path):
    bench = tmp_path / "b.jsonl"
    bench.write_text('{"prompt": "x y z"}\n')
    extra = {"benchmarks": [str(bench)]} if use == "filter.decontaminate" else {}
    with pytest.raises(curate.RecipeError, match="a column is listed twice"):
        run_stage(use, pl.DataFrame({"prompt": ["p"], "response": ["r"]}), columns=["prompt", "prompt"], **extra)
