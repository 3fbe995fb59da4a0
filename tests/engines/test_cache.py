"""Request-level resume: completed requests persist in short batches; reruns send only the rest;
a crash loses at most the last write window."""

import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

from curate.engine import ChatRequest, ChatResult, Completion, SamplingParams
from curate.engines.cache import CachedEngine, RequestCache
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


# --- batched writes ---------------------------------------------------------------------------

def _on_disk(db):
    with sqlite3.connect(db) as conn:
        return {k for (k,) in conn.execute("SELECT key FROM results")}


def _result(i):
    return ChatResult(f"r{i}", [Completion(f"answer {i}", "stop")], prompt_tokens=3, completion_tokens=2)


def _wait(cond, seconds=10.0):
    deadline = time.monotonic() + seconds
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def _cache_with_one_commit(db, window):
    """A cache whose first result is committed (the first one is, at once), so later ones wait."""
    cache = RequestCache(db, window=window)
    cache.put("k0", _result(0))
    _wait(lambda: cache.commits >= 1)
    return cache


def test_buffered_results_are_visible_before_they_are_committed(tmp_path):
    db = tmp_path / "requests.sqlite"
    cache = _cache_with_one_commit(db, window=600)
    for i in range(1, 50):
        cache.put(f"k{i}", _result(i))
    assert _on_disk(db) == {"k0"}  # buffered, not committed yet...
    found = cache.get_many([f"k{i}" for i in range(60)])
    assert sorted(found) == sorted(f"k{i}" for i in range(50))  # ...but a lookup sees them
    assert found["k7"]["completions"][0]["text"] == "answer 7"
    cache.close()


def test_buffer_is_committed_on_close(tmp_path):
    db = tmp_path / "requests.sqlite"
    cache = _cache_with_one_commit(db, window=600)
    for i in range(1, 50):
        cache.put(f"k{i}", _result(i))
    cache.close()
    assert _on_disk(db) == {f"k{i}" for i in range(50)}


def test_buffer_is_committed_on_a_timer_without_close(tmp_path):
    db = tmp_path / "requests.sqlite"
    cache = _cache_with_one_commit(db, window=0.1)
    commits = cache.commits
    for i in range(1, 50):
        cache.put(f"k{i}", _result(i))
    _wait(lambda: len(_on_disk(db)) == 50)  # nobody flushes but the timer
    assert cache.commits - commits <= 2  # in one (or two) transactions, not 49
    cache.close()


def test_a_full_buffer_commits_without_waiting_for_the_window(tmp_path):
    db = tmp_path / "requests.sqlite"
    cache = _cache_with_one_commit(db, window=600)
    cache.batch = 20
    for i in range(1, 21):
        cache.put(f"k{i}", _result(i))
    _wait(lambda: len(_on_disk(db)) >= 20)
    cache.close()


def test_generate_returns_with_its_answers_on_disk(tmp_path):
    db = tmp_path / "requests.sqlite"
    engine = CachedEngine(ScriptedEngine(default="ok"), db)
    engine.generate(_requests(30))
    assert len(_on_disk(db)) == 30  # committed at the end of the call, cache still open
    engine.close_cache()


CHILD = textwrap.dedent("""\
    import sys, time
    from pathlib import Path
    from curate.engine import ChatResult, Completion
    from curate.engines.cache import RequestCache

    cache = RequestCache(Path(sys.argv[1]), window=0.2)
    def put(i):
        cache.put(f"k{i}", ChatResult(f"r{i}", [Completion(f"answer {i}")]))
    for i in range(100):          # early answers: well over a window before the kill
        put(i)
    print("EARLY", flush=True)
    time.sleep(1.5)
    for i in range(100, 200):     # the last answers: the kill follows at once
        put(i)
    print("LATE", flush=True)
    time.sleep(600)
    """)


def test_sigkill_loses_at_most_the_last_window(tmp_path):
    db = tmp_path / "requests.sqlite"
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(db)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "EARLY"
        assert proc.stdout.readline().strip() == "LATE"
        proc.send_signal(signal.SIGKILL)  # no close, no atexit: only what was committed survives
        proc.wait(timeout=30)
    finally:
        proc.kill()
        proc.wait()
    kept = _on_disk(db)
    assert {f"k{i}" for i in range(100)} <= kept  # everything older than a window was committed
    assert len(kept) <= 200


def test_request_keys_equal_each_requests_own_fingerprint():
    from curate.engine import ScoreRequest
    from curate.engines.cache import request_keys

    shared = SamplingParams(temperature=0.3, stop=["\n\n", "Ende"], seed=7, n=2)
    requests = [
        ChatRequest("a", [{"role": "user", "content": "héllo ✓ \"quoted\""}]),
        ChatRequest("b", [{"role": "system", "content": "be brief"}, {"role": "user", "content": "x"}], shared),
        ChatRequest("c", [{"role": "user", "content": "y"}], shared, json_schema={"type": "object", "b": 1, "a": [2]}),
        ChatRequest("d", [{"role": "user", "content": "y"}], SamplingParams(logprobs=3, max_tokens=9)),
        ScoreRequest("e", [{"role": "user", "content": "q"}], "a response ✓"),
    ]
    identity = {"backend": "x", "model": "m", "extra_body": {"top_k": 20, "a": None}, "path": "ü"}
    assert request_keys(requests, identity) == [r.fingerprint(identity) for r in requests]
    assert len(set(request_keys(requests, identity))) == len(requests)
