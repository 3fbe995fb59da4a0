"""Throughput of the ``openai`` engine against a server with a fixed latency, side by side in the
same run with: the engine through the request cache (what every recipe uses), a whole ``curate
run`` of ``generate.responses`` (read, generate, checkpoint, write), and two baselines, the openai
SDK's default ``AsyncOpenAI`` client and a plain aiohttp session, all at the same concurrency.

The server (``curate.testing.fault_server``) runs in a separate process so that the clients'
CPU is not shared with its event loop. It answers every chat request after ``--latency`` seconds,
so the ideal throughput is ``in_flight / latency`` requests per second; the figure reported is
``ratio = achieved req/s / ideal`` (1.0 is perfect; the last partial wave of requests caps it
slightly below 1). The goal for the request cache: ``cached ÷ bare engine`` of at least 0.95.
The ``curate run`` figure is timed from ``curate.run`` to its return (plan, engine start, read,
generate, checkpoints, write), with the plugins imported once beforehand; its fixed cost weighs
more with fewer requests.

    python benchmarks/bench_openai_engine.py                     # 2,000 requests, 128 in flight, 200 ms
    python benchmarks/bench_openai_engine.py --requests 5000 --in-flight 256 --latency 0.1 --repeats 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from curate.engine import ChatRequest, SamplingParams
from curate.testing.fault_server import FaultServerProcess

MODEL = "echo"


def make_requests(n: int, tag: str) -> list[ChatRequest]:
    sampling = SamplingParams(max_tokens=64, temperature=0.7)
    return [ChatRequest(f"{tag}-{i}", [{"role": "user", "content": f"{tag} request {i}: say something short"}],
                        sampling) for i in range(n)]


def bench_engine(base_url: str, n: int, in_flight: int, cached: bool = False) -> tuple[float, int]:
    from curate_openai import OpenAIEngine

    engine = OpenAIEngine(model=MODEL, base_url=base_url, max_in_flight=in_flight, api_key_env=None)
    done = 0

    def on_result(result: Any) -> None:
        nonlocal done
        done += result.ok

    requests = make_requests(n, f"engine{'-cached' if cached else ''}-{time.time_ns()}")
    with tempfile.TemporaryDirectory() as tmp:
        if cached:
            from curate.engines.cache import CachedEngine

            engine = CachedEngine(engine, Path(tmp) / "requests.sqlite")  # type: ignore[assignment]
        engine.start()
        t0 = time.perf_counter()
        engine.generate(requests, on_result)
        seconds = time.perf_counter() - t0
        engine.close()
    return seconds, done


def bench_curate_run(base_url: str, n: int, in_flight: int) -> tuple[float, int]:
    """The whole run, timed from ``curate.run`` to its return: planning, engine start, reading the
    prompts, generating through the request cache, checkpoints and the JSONL writer."""
    import curate

    tag = f"run-{time.time_ns()}"
    engine = {"use": "openai", "model": MODEL, "base_url": base_url, "max_in_flight": in_flight, "api_key_env": None}
    recipe = {"name": "bench-openai", "engines": {"default": engine}, "stages": [
        {"use": "read.jsonl", "with": {"path": "prompts.jsonl"}},
        {"use": "generate.responses", "with": {"engines": ["default"], "max_tokens": 64, "temperature": 0.7}},
        {"use": "write.jsonl", "with": {"path": "out.jsonl", "format": "sft"}}]}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "prompts.jsonl").write_text("".join(json.dumps({"prompt": r.messages[0]["content"]}) + "\n"
                                                      for r in make_requests(n, tag)))
        (folder / "recipe.yaml").write_text(json.dumps(recipe))  # JSON is YAML
        t0 = time.perf_counter()
        result = curate.run(folder / "recipe.yaml", run_dir=folder / "run")
        seconds = time.perf_counter() - t0
    return seconds, result.stats["generate.responses"].rows_out


def bench_openai_sdk(base_url: str, n: int, in_flight: int) -> tuple[float, int]:
    from openai import AsyncOpenAI

    requests = make_requests(n, f"sdk-{time.time_ns()}")

    async def main() -> int:
        client = AsyncOpenAI(base_url=base_url, api_key="not-needed")  # the default client otherwise
        sem = asyncio.Semaphore(in_flight)
        ok = 0

        async def one(req: ChatRequest) -> None:
            nonlocal ok
            async with sem:
                resp = await client.chat.completions.create(
                    model=MODEL, messages=req.messages, max_tokens=req.sampling.max_tokens,  # type: ignore[arg-type]
                    temperature=req.sampling.temperature)
                ok += bool(resp.choices[0].message.content)

        await asyncio.gather(*(one(r) for r in requests))
        await client.close()
        return ok

    t0 = time.perf_counter()
    ok = asyncio.run(main())
    return time.perf_counter() - t0, ok


def bench_aiohttp(base_url: str, n: int, in_flight: int) -> tuple[float, int]:
    import json

    import aiohttp

    requests = make_requests(n, f"aiohttp-{time.time_ns()}")
    url = f"{base_url}/chat/completions"

    async def main() -> int:
        ok = 0
        sem = asyncio.Semaphore(in_flight)
        connector = aiohttp.TCPConnector(limit=in_flight)
        async with aiohttp.ClientSession(connector=connector) as session:
            async def one(req: ChatRequest) -> None:
                nonlocal ok
                async with sem:
                    body = {"model": MODEL, "messages": req.messages, "max_tokens": req.sampling.max_tokens,
                            "temperature": req.sampling.temperature}
                    async with session.post(url, json=body) as resp:
                        data = json.loads(await resp.read())
                        ok += bool(data["choices"][0]["message"]["content"])

            await asyncio.gather(*(one(r) for r in requests))
        return ok

    t0 = time.perf_counter()
    ok = asyncio.run(main())
    return time.perf_counter() - t0, ok


CLIENTS: dict[str, Callable[[str, int, int], tuple[float, int]]] = {
    "curate openai engine": bench_engine,
    "curate openai engine + request cache": lambda u, n, k: bench_engine(u, n, k, cached=True),
    "curate run (generate.responses)": bench_curate_run,
    "openai SDK AsyncOpenAI (default)": bench_openai_sdk,
    "plain aiohttp session": bench_aiohttp,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--in-flight", type=int, default=128)
    parser.add_argument("--latency", type=float, default=0.2, help="server latency per request, seconds")
    parser.add_argument("--repeats", type=int, default=1, help="runs per client (the median is reported)")
    parser.add_argument("--only", action="append", help="run only clients whose name contains this")
    args = parser.parse_args(argv)
    ideal = args.in_flight / args.latency
    clients = {k: v for k, v in CLIENTS.items() if not args.only or any(o in k for o in args.only)}
    print(f"{args.requests} requests, {args.in_flight} in flight, server latency {args.latency * 1000:.0f} ms "
          f"(separate process); ideal {ideal:.1f} req/s", flush=True)
    with FaultServerProcess(latency=args.latency, models=[MODEL]) as server:
        bench_aiohttp(server.base_url, min(256, args.requests), args.in_flight)  # warm the server up
        if "curate run (generate.responses)" in clients:  # plugins load once per process, not per run
            from curate.plugins import registry

            registry()
        figures: dict[str, list[float]] = {k: [] for k in clients}
        for _ in range(args.repeats):
            for name, fn in clients.items():  # interleaved, so drift hits every client alike
                seconds, ok = fn(server.base_url, args.requests, args.in_flight)
                if ok != args.requests:
                    print(f"{name}: only {ok}/{args.requests} requests succeeded", file=sys.stderr)
                    return 1
                figures[name].append(args.requests / seconds)
        stats = server.stats()
    print(f"{'client':40} {'req/s':>8} {'ratio':>6}   runs (req/s)")
    for name, rates in figures.items():
        med = statistics.median(rates)
        print(f"{name:40} {med:8.1f} {med / ideal:6.3f}   {', '.join(f'{r:.1f}' for r in rates)}")
    print(f"server: {stats['chat_requests']} chat requests, max {stats['max_in_flight']} in flight, "
          f"{stats['connections']} connections")
    bare, cached = figures.get("curate openai engine"), figures.get("curate openai engine + request cache")
    if bare and cached:
        ratio = statistics.median(cached) / statistics.median(bare)
        verdict = "met" if ratio >= 0.95 else "NOT met"
        print(f"request cache: cached ÷ bare engine = {ratio:.3f} (goal ≥ 0.95: {verdict})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
