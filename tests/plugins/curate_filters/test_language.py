"""filter.language: py3langid writes `language`/`language_score`; rows outside `languages` or
below `min_score` fail."""

from __future__ import annotations

import polars as pl
import pytest

import curate
from curate.testing import run_stage

TEXTS = {
    "en": "The weather was lovely this morning, so we walked to the market and bought fresh bread.",
    "fr": "Il faisait beau ce matin, alors nous sommes allés au marché acheter du pain frais.",
    "de": "Das Wetter war heute Morgen schön, also sind wir zum Markt gegangen und haben Brot gekauft.",
}


def test_identifies_and_keeps_listed_languages():
    df = pl.DataFrame({"response": [TEXTS["en"], TEXTS["fr"], TEXTS["de"], TEXTS["en"]]})
    out = run_stage("filter.language", df, languages=["en", "de"])
    assert out.kept["language"].to_list() == ["en", "de", "en"]
    assert all(s > 0.9 for s in out.kept["language_score"])
    [reason] = out.removed["reason"].to_list()
    assert reason.startswith("language 'fr' (") and reason.endswith(") is not one of en, de")


def test_min_score_and_annotate_only():
    df = pl.DataFrame({"response": [TEXTS["en"], "ok"]})
    flagged = run_stage("filter.language", df, languages=None, min_score=0.9, action="flag").kept
    assert flagged["language_reason"][0] is None
    assert flagged["language_reason"][1].startswith(f"language '{flagged['language'][1]}' score ")
    annotated = run_stage("filter.language", df, languages=None).kept
    assert annotated.height == 2 and annotated["language"][0] == "en"


def test_blank_text_has_no_language():
    df = pl.DataFrame({"response": ["", None, "   ", TEXTS["en"]]}, schema={"response": pl.String})
    out = run_stage("filter.language", df, action="flag").kept
    assert out["language"].to_list() == [None, None, None, "en"]
    assert out["language_reason"].to_list() == ["no text to identify the language of"] * 3 + [None]


def test_long_text_is_clipped_and_messages_are_rendered():
    df = pl.DataFrame({"response": [TEXTS["fr"] * 5000]})  # ~400 kB
    assert run_stage("filter.language", df, languages=["fr"], max_chars=300).kept["language"].to_list() == ["fr"]
    conv = pl.DataFrame({"messages": [[{"role": "user", "content": TEXTS["de"]}]]})
    assert run_stage("filter.language", conv, column="messages", languages=["de"]).kept.height == 1


def test_unknown_language_code_fails_validation():
    with pytest.raises(curate.RecipeError, match=r"unknown language code\(s\) \['english'\]"):
        run_stage("filter.language", pl.DataFrame({"response": ["x"]}), languages=["english"])


def test_uncertain_identifications_are_kept_with_min_confidence():
    df = pl.DataFrame({"response": ["Solve 12 * 13.", "Ceci est une phrase en français, sans aucun doute possible."]})
    strict = run_stage("filter.language", df, languages=["en"])
    assert strict.kept.height == 0  # the short arithmetic text is misidentified with a low probability
    lenient = run_stage("filter.language", df, languages=["en"], min_confidence=0.5)
    assert lenient.kept["response"].to_list() == ["Solve 12 * 13."]
    assert lenient.removed["language"].to_list() == ["fr"]
