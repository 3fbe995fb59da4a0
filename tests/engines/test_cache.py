"""Request-level resume: completed requests persist as they complete; reruns send only the rest."""

import pytest

from curate.engine import ChatRequest, SamplingParams
from curate.engines.cache import CachedEngine
from curate.testing import ScriptedEngine


class Crash(BaseException):
    """Simulates the process dying mid-batch (not an Exception, so nothing catches it)."""


def _requests(n, **sampling):
    return [ChatRequest(f"r{i}", [{"role": "user", "content": f"prompt {i}"}], SamplingParams(**sampling)) for i in range(n)]


def test_crash_midway_then_only_missing_requests_are_sent(tmp_path):
    db = tmp_path / "requests.sqlite"
    calls = []

    def reply(req):
        calls.append(req.id)
        if len(calls) == 7:
            raise Crash()
        return "answer to " + req.messages[0]["content"]

    inner = ScriptedEngine(default=reply)
    with pytest.raises(Crash):
        CachedEngine(inner, db).generate(_requests(10))
    assert len(calls) == 7
    calls.clear()
    engine = CachedEngine(ScriptedEngine(default=lambda r: calls.append(r.id) or "answer to " + r.messages[0]["content"]), db)
    results = engine.generate(_requests(10))
    assert calls == ["r6", "r7", "r8", "r9"]
    assert engine.hits == 6 and engine.misses == 4
    assert [r.completions[0].text for r in results] == [f"answer to prompt {i}" for i in range(10)]
    assert [r.cached for r in results] == [True] * 6 + [False] * 4


def test_sampling_or_model_change_misses(tmp_path):
    db = tmp_path / "requests.sqlite"
    CachedEngine(ScriptedEngine(default="x", model="a"), db).generate(_requests(2, temperature=0.5))
    again = CachedEngine(ScriptedEngine(default="y", model="a"), db)
    assert [r.completions[0].text for r in again.generate(_requests(2, temperature=0.5))] == ["x", "x"]
    assert again.hits == 2
    other_sampling = CachedEngine(ScriptedEngine(default="y", model="a"), db)
    other_sampling.generate(_requests(2, temperature=0.6))
    assert other_sampling.hits == 0 and other_sampling.misses == 2
    other_model = CachedEngine(ScriptedEngine(default="y", model="b"), db)
    other_model.generate(_requests(2, temperature=0.5))
    assert other_model.hits == 0


def test_failures_are_not_cached(tmp_path):
    db = tmp_path / "requests.sqlite"
    inner = ScriptedEngine([ValueError("boom")], default="ok")
    first = CachedEngine(inner, db).generate(_requests(1))
    assert first[0].error and "boom" in first[0].error
    second = CachedEngine(inner, db).generate(_requests(1))
    assert second[0].ok and second[0].completions[0].text == "ok" and not second[0].cached


def test_torn_database_write_is_survivable(tmp_path):
    # SQLite in WAL mode: a second connection sees rows committed by the first as they complete.
    db = tmp_path / "requests.sqlite"
    inner = ScriptedEngine(default="ok")
    a = CachedEngine(inner, db)
    a.generate(_requests(3))
    b = CachedEngine(inner, db)
    b.generate(_requests(3))
    assert b.hits == 3
