"""The curate-filters plugin registered for every test here, installed or not."""

from __future__ import annotations

from typing import Iterator

import pytest


@pytest.fixture(autouse=True)
def filters_registered() -> Iterator[None]:
    import curate_filters
    from curate.plugins import registry, temporary_plugin

    if registry().find("filter.quality", ("filter",)) is not None:
        yield
        return
    with temporary_plugin(curate_filters, "filters-under-test", package="curate-filters"):
        yield
