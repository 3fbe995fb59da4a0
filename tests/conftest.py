"""Shared fixtures. Tests never load the user's third-party plugins unless they ask."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def write_jsonl(tmp_path):
    """Write rows (dicts, or raw strings for corrupt lines) to a JSONL file under tmp_path."""

    def write(rows, name="data.jsonl"):
        path = tmp_path / name
        with path.open("w") as f:
            for row in rows:
                f.write((row if isinstance(row, str) else json.dumps(row)) + "\n")
        return path

    return write


@pytest.fixture
def write_recipe(tmp_path):
    def write(text, name="recipe.yaml"):
        path = tmp_path / name
        path.write_text(text)
        return path

    return write
