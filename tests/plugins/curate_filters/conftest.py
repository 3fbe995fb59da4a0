"""The curate-filters plugin registered for every test here, installed or not."""

from __future__ import annotations

from typing import Iterator

import pytest

from ..conftest import registered


@pytest.fixture(autouse=True)
def filters_registered() -> Iterator[None]:
    import curate_filters

    with registered(curate_filters, "filter.quality", "filter", "curate-filters"):
        yield
