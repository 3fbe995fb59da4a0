"""The openai engine keeps one event loop and one connection pool across generate calls."""

from __future__ import annotations

import pickle
import threading

from curate.engine import ChatRequest
from curate.testing.fault_server import FaultServer
from curate_openai import OpenAIEngine


def requests(tag: str, n: int = 12) -> list[ChatRequest]:
    return [ChatRequest(f"{tag}{i}", [{"role": "user", "content": f"{tag} {i}"}]) for i in range(n)]


def loop_threads() -> int:
    return sum(t.name == "curate-http-loop" and t.is_alive() for t in threading.enumerate())


def test_connections_are_reused_across_generate_calls():
    with FaultServer(latency=0.02) as srv:
        engine = OpenAIEngine(model="echo", base_url=srv.base_url, api_key_env=None, max_in_flight=4)
        before = loop_threads()
        for call in range(3):
            results = engine.generate(requests(f"c{call}-"))
            assert [r.completions[0].text for r in results] == [f"c{call}- {i}" for i in range(12)]
        connections = srv.stats()["connections"]
        assert loop_threads() == before + 1  # one loop for all three calls
        engine.close()
        assert loop_threads() == before
        again = engine.generate(requests("after-close-", 2))  # a closed engine starts a fresh loop
        assert all(r.ok for r in again)
        engine.close()
    assert connections <= 4  # 3 calls × 4 in flight would be 12 with a pool per call


def test_a_pickled_engine_gets_its_own_loop():
    with FaultServer() as srv:
        engine = OpenAIEngine(model="echo", base_url=srv.base_url, api_key_env=None, max_in_flight=2)
        engine.generate(requests("a", 2))
        copy = pickle.loads(pickle.dumps(engine))
        assert all(r.ok for r in copy.generate(requests("b", 2)))
        assert copy._loop is not engine._loop
        copy.close()
        engine.close()
