"""Fixtures of the sandbox tests."""

import os

import pytest


@pytest.fixture(scope="session")
def bwrap_tier():
    """Skip (or, with CURATE_REQUIRE_SANDBOX=1, fail) when bubblewrap cannot run here."""
    import curate_sandbox

    try:
        return curate_sandbox.resolve_tier()
    except curate_sandbox.SandboxUnavailable as exc:
        if os.environ.get("CURATE_REQUIRE_SANDBOX") == "1":
            pytest.fail(f"CURATE_REQUIRE_SANDBOX=1 but {exc}")
        pytest.skip(f"bubblewrap cannot run here (scripts/setup-sandbox.sh installs it): {exc}")


@pytest.fixture
def fresh_tiers(monkeypatch):
    """Forget which tiers were probed, so a test can change what the machine offers."""
    from curate_sandbox import _sandbox

    monkeypatch.setattr(_sandbox, "_probes", {})
    monkeypatch.setattr(_sandbox, "_tier_objects", {})
    monkeypatch.setattr(_sandbox, "_warned", set())
