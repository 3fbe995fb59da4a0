"""Request rate of ``judge.pairwise`` against an OpenAI-compatible server with a fixed latency, side
by side with the bare ``openai`` engine sending the same number of requests in the same run.

The server (``curate.testing.fault_server``) runs in its own process (``FaultServerProcess``, as
``python -m curate.testing.fault_server --latency 0.2``), so the client's CPU is not shared with
its event loop. It answers every chat request ``--latency`` seconds later, so the ideal rate is
``in_flight / latency`` requests per second (640 for 128 in flight at 200 ms). Every pair is
asked in both orders (``swap: true``), and both orders count as requests. The figure reported
is ``ratio = achieved req/s / ideal`` (goal: at least 0.9 for the stage).

A server process cannot take a Python responder (``FaultServerProcess`` has latency and models
only), so the judge's verdicts come from the echo: the stage's ``template`` is
``"{{ response_a }} ~ {{ response_b }}"``, the echo returns it, and a custom ``verdict_pattern``
``{A: "^good", B: "~ good"}`` reads which position holds the good answer. Each prompt's responses
are ``good-<n>`` and ``weak-<n>``, so both orders name the good answer and every pair comes out
consistent, which the script checks (it fails otherwise).

Timings: ``stage`` is the stage's own time as the runner records it (rendering, the engine call
through the request cache, building the rows); ``whole run`` is the one-stage run around it
(planning, reading the input, checkpoints). ``openai engine alone`` is ``OpenAIEngine.generate``
on as many requests; ``+ request cache`` is the same behind the run's request cache
(``CachedEngine``), which is how a stage gets its engine, so ``stage / engine + request cache`` is
the cost of the stage itself.

    python benchmarks/bench_pairwise.py                    # 1,000 pairs = 2,000 requests, 128 in flight, 200 ms
    python benchmarks/bench_pairwise.py --pairs 2500 --in-flight 256 --latency 0.1 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

from curate import ChatRequest, SamplingParams
from curate.testing import run_stage
from curate.testing.fault_server import FaultServerProcess

MODEL = "echo"
TEMPLATE = "{{ response_a }} ~ {{ response_b }}"
VERDICT_PATTERN = {"A": "^good", "B": "~ good"}


def engine(base_url: str, in_flight: int):
    from curate_openai import OpenAIEngine

    return OpenAIEngine(model=MODEL, base_url=base_url, max_in_flight=in_flight, api_key_env=None)


def bench_stage(base_url: str, pairs: int, in_flight: int) -> tuple[float, float, int]:
    """(stage seconds, whole run seconds, requests) of judge.pairwise over ``pairs`` pairs."""
    tag = time.time_ns()
    df = pl.DataFrame({"id": [f"p{i}" for i in range(pairs)], "prompt": [f"question {i}" for i in range(pairs)],
                       "responses": [[f"good-{tag}-{i}", f"weak-{tag}-{i}"] for i in range(pairs)]})
    t0 = time.perf_counter()
    out = run_stage("judge.pairwise", df, engines={"judge": engine(base_url, in_flight)}, template=TEMPLATE,
                    verdict_pattern=VERDICT_PATTERN, system_prompt=None, max_tokens=32)
    wall = time.perf_counter() - t0
    stats = out.result.stats["stage"]
    counters = stats.counters
    if counters.get("consistent") != pairs or counters.get("requests_sent") != 2 * pairs or \
            out.kept["winner"].to_list() != ["a"] * pairs:
        raise SystemExit(f"judge.pairwise did not judge every pair consistently: {counters}")
    return stats.seconds, wall, counters["requests_sent"]


def bench_engine(base_url: str, requests: int, in_flight: int, cached: bool = False) -> float:
    """Seconds of the bare engine (or the engine behind the request cache, as a stage gets it) on
    ``requests`` requests like the stage's."""
    tag = time.time_ns()
    sampling = SamplingParams(n=1, temperature=0.0, max_tokens=32)
    reqs = [ChatRequest(str(i), [{"role": "user", "content": f"good-{tag}-{i} ~ weak-{tag}-{i}"}], sampling)
            for i in range(requests)]
    eng = engine(base_url, in_flight)
    with tempfile.TemporaryDirectory() as tmp:
        if cached:
            from curate.engines.cache import CachedEngine

            eng = CachedEngine(eng, Path(tmp) / "requests.sqlite")
        eng.start()
        t0 = time.perf_counter()
        results = eng.generate(reqs, lambda result: None)
        seconds = time.perf_counter() - t0
        eng.close()
    if not all(r.ok for r in results):
        raise SystemExit("the bare engine had failed requests")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=1000, help="pairs judged per run (2 requests each)")
    parser.add_argument("--in-flight", type=int, default=128)
    parser.add_argument("--latency", type=float, default=0.2, help="server latency per request, seconds")
    parser.add_argument("--repeats", type=int, default=3, help="runs per client (the median is reported)")
    args = parser.parse_args(argv)
    ideal = args.in_flight / args.latency
    requests = 2 * args.pairs
    print(f"{args.pairs} pairs x 2 orders = {requests} requests, {args.in_flight} in flight, server latency "
          f"{args.latency * 1000:.0f} ms (separate process); ideal {ideal:.1f} req/s", flush=True)
    rates: dict[str, list[float]] = {"judge.pairwise (stage)": [], "judge.pairwise (whole run)": [],
                                     "openai engine alone": [], "openai engine + request cache": []}
    with FaultServerProcess(latency=args.latency, models=[MODEL]) as server:
        bench_engine(server.base_url, min(256, requests), args.in_flight)  # warm the server up
        for _ in range(args.repeats):  # interleaved, so drift hits both alike
            stage_s, wall_s, sent = bench_stage(server.base_url, args.pairs, args.in_flight)
            rates["judge.pairwise (stage)"].append(sent / stage_s)
            rates["judge.pairwise (whole run)"].append(sent / wall_s)
            rates["openai engine alone"].append(requests / bench_engine(server.base_url, requests, args.in_flight))
            rates["openai engine + request cache"].append(
                requests / bench_engine(server.base_url, requests, args.in_flight, cached=True))
        stats = server.stats()
    print(f"{'client':30} {'req/s':>8} {'ratio':>6}   runs (req/s)")
    for name, runs in rates.items():
        med = statistics.median(runs)
        print(f"{name:30} {med:8.1f} {med / ideal:6.3f}   {', '.join(f'{r:.1f}' for r in runs)}")
    stage = statistics.median(rates["judge.pairwise (stage)"])
    alone = statistics.median(rates["openai engine alone"])
    cached = statistics.median(rates["openai engine + request cache"])
    print(f"judge.pairwise stage / engine alone: {stage / alone:.3f}; / engine + request cache: {stage / cached:.3f}")
    print(f"server: {stats['chat_requests']} chat requests, max {stats['max_in_flight']} in flight, "
          f"{stats['connections']} connections")
    met = stage / ideal >= 0.9
    print(f"goal (stage ratio >= 0.9): {'met' if met else 'MISSED'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
