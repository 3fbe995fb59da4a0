"""The curate-dedup plugin registered for every test here, installed or not."""

from __future__ import annotations

from typing import Iterator

import pytest

from ..conftest import registered


@pytest.fixture(autouse=True)
def dedup_registered() -> Iterator[None]:
    import curate_dedup

    with registered(curate_dedup, "dedup.minhash", "dedup", "curate-dedup"):
        yield
