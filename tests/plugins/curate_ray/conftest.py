"""A real local Ray cluster for the curate-ray tests: started once per session (a few seconds),
sized for a small shared machine, and shut down at the end."""

from __future__ import annotations

import os
from typing import Iterator

import pytest


@pytest.fixture(scope="session")
def s3_store() -> Iterator[object]:
    """An S3-compatible server for the whole session, started before the Ray cluster so that the
    cluster's workers inherit its AWS_* variables (as real nodes get credentials from theirs)."""
    try:
        import moto.server  # noqa: F401
        import s3fs  # noqa: F401
    except ImportError:
        yield None
        return
    from curate.testing.object_store import ObjectStoreServer

    with ObjectStoreServer(bucket="curate-ray") as store:
        yield store


@pytest.fixture(scope="session")
def ray_local(s3_store) -> Iterator[object]:
    """``ray.init`` with 2 CPUs and a 600 MB object store (Ray's default, 30% of RAM, is too
    big next to other jobs), no dashboard, workers' logs kept out of the test output."""
    ray = pytest.importorskip("ray")
    os.environ.setdefault("RAY_DATA_DISABLE_PROGRESS_BARS", "1")
    if ray.is_initialized():  # another fixture or test started one: use it
        yield ray
        return
    # address="local": a new cluster of our own, even when another process ran `ray start` here.
    ray.init(address="local", num_cpus=2, object_store_memory=600 * 1024 * 1024, include_dashboard=False,
             log_to_driver=False, configure_logging=False)
    try:
        import ray.data

        ray.data.DataContext.get_current().enable_progress_bars = False
        yield ray
    finally:
        ray.shutdown()
