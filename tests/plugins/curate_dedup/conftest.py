"""The curate-dedup plugin registered for every test here, installed or not."""

from __future__ import annotations

from typing import Iterator

import pytest


@pytest.fixture(autouse=True)
def dedup_registered() -> Iterator[None]:
    import curate_dedup

    from curate.plugins import registry, temporary_plugin

    if registry().find("dedup.minhash", ("dedup",)) is not None:
        yield
        return
    with temporary_plugin(curate_dedup, "dedup-under-test", package="curate-dedup"):
        yield
