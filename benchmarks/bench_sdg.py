"""The whole ``recipes/nemotron4-prompts.yaml`` against the fault server: how close the request rate
comes to what the server allows, and whether memory stays flat as the prompt set grows.

The server (``python -m curate.testing.fault_server --json-schema``) runs in its own process,
answers every request after ``--latency`` seconds and every structured request with a valid
instance of its JSON schema (made-up words, different per request, so no stage starves for lack
of distinct items). The recipe runs unchanged except for its ``engines:`` block (the ``openai``
engine, ``--in-flight`` requests at once) and its sizes (``--set``-style overrides scaled to about
``--requests`` requests; closed Q&A reads a generated documents file of the right size).

Two ideals, both lower bounds of the wall time:

* ``requests x latency / in_flight``: every request of the recipe overlapped with every other;
* the **critical path**: the runner runs stages one after another and a stage's passes depend on
  each other (questions, then their revisions; keywords, the screen, then problems), so each
  *wave* (one ``generate`` call) of ``n`` requests takes at least ``ceil(n / in_flight) x latency``
  and waves cannot overlap. The sum over the waves is the best any client could do with this
  recipe graph; it is the headline ideal.

``ratio = ideal / wall`` (= achieved / ideal request rate). The rest is broken down: time in the
engine beyond each wave's ideal (client overhead, the last partial wave), time in stages outside
the engine (rendering, parsing, provenance, frames, checkpoints; the dedup stages apart), and time
outside stages (planning, engine start, stage boundaries, ``run.json``).

Memory: each size runs in a fresh process; its peak RSS is reported with the rows it made.

    python benchmarks/bench_sdg.py                          # ~20,000 requests, then a quarter of it
    python benchmarks/bench_sdg.py --requests 5000 --sizes 1
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "recipes" / "nemotron4-prompts.yaml"
MODEL = "bench-model"
ARRAY_ITEMS = 10  # items in every list the server answers (stages take what they asked for)
REFERENCE_REQUESTS = 5000  # size of the bare-engine wave measured after each run


# --- sizing ------------------------------------------------------------------------------------

def plan(scale: float, documents: Path) -> tuple[dict[str, Any], int]:
    """Overrides that size the recipe, and the requests they should cost (no failures, no re-asks)."""
    domains = max(2, round(26 * scale))
    topics, subtopics = domains * 10, domains * 10 * 5
    open_qa = round(4000 * scale)
    writing = round(4000 * scale)
    docs = max(1, round(1000 * scale))
    two_turn = max(1, round(1250 * scale))
    overrides = {
        "stages.topics.with.domains": [f"domain number {i}" for i in range(domains)],
        "stages.topics.with.topics_per_domain": 10, "stages.topics.with.subtopics_per_topic": 5,
        "stages.open-qa.with.questions_per_topic": 4, "stages.open-qa.with.limit": open_qa,
        "stages.writing.with.types_per_topic": 4, "stages.writing.with.limit": writing,
        "stages.documents.with.path": str(documents), "stages.closed-qa.with.limit": None,
        "stages.math.with.keywords_per_level": 10, "stages.math.with.limit": None,
        "stages.python.with.keywords_per_level": 10, "stages.python.with.limit": None,
        "stages.two-turn-questions.with.limit": two_turn,
    }
    requests = (domains + topics                              # topics, subtopics
                + min(subtopics, math.ceil(open_qa / 4)) + open_qa  # questions (4 per topic), revisions
                + 2 * writing                                   # tasks (1 per topic x type), revisions
                + docs                                          # closed Q&A instructions
                + 4 + 40 + 40 * 3                               # math: keywords, screen, problems
                + 3 + 30 + 30 * 3                               # python
                + 4 * min(subtopics, two_turn))                 # questions, revisions, answers, next turns
    return overrides, requests


def write_documents(path: Path, n: int) -> None:
    words = ("river mill harbour lantern orchard quarry meadow bridge chapel market ferry granary forge "
             "almanac ledger").split()
    with path.open("w") as f:
        for i in range(n):
            text = " ".join(words[(i * 7 + k * 3) % len(words)] for k in range(60)) + f" (record {i})."
            f.write(json.dumps({"id": f"doc-{i}", "text": text}) + "\n")


# --- one size, in this process ----------------------------------------------------------------

def recording_engine(inner: Any) -> Any:
    """The openai engine, recording each ``generate`` call (a wave): its size and duration."""
    import curate

    class Recording(curate.ChatEngine):
        name = inner.name
        supports_json_schema = inner.supports_json_schema

        def __init__(self) -> None:
            self.params = inner.params
            self.waves: list[tuple[int, float]] = []

        def identity(self) -> dict[str, Any]:
            return inner.identity()

        def start(self) -> None:
            inner.start()

        def close(self) -> None:
            inner.close()

        def generate(self, requests, on_result=None):
            t0 = time.perf_counter()
            out = inner.generate(requests, on_result)
            self.waves.append((len(requests), time.perf_counter() - t0))
            return out

    return Recording()


def run_size(scale: float, latency: float, in_flight: int) -> dict[str, Any]:
    import polars as pl

    import curate
    from curate.testing.fault_server import FaultServerProcess
    from curate_openai import OpenAIEngine

    with tempfile.TemporaryDirectory(prefix="bench-sdg-") as tmp:
        tmp_path = Path(tmp)
        overrides, expected = plan(scale, tmp_path / "documents.jsonl")
        write_documents(tmp_path / "documents.jsonl", max(1, round(1000 * scale)))
        with FaultServerProcess(latency=latency, models=[MODEL], json_schema=True,
                                json_array_items=ARRAY_ITEMS) as server:
            engine = recording_engine(OpenAIEngine(model=MODEL, base_url=server.base_url, api_key_env=None,
                                                   max_in_flight=in_flight))
            t0 = time.perf_counter()
            result = curate.run(RECIPE, run_dir=tmp_path / "run", overrides=overrides, engines={"default": engine})
            wall = time.perf_counter() - t0
            stats = server.stats()
            n_ref = min(stats["chat_requests"], REFERENCE_REQUESTS)
            reference = bare_engine(server.base_url, n_ref, in_flight)
            reference_cached = bare_engine(server.base_url, n_ref, in_flight, tmp_path / "reference.sqlite")
        # What the local executor holds: every stage's output frame (later stages may read any).
        held = sum(pl.read_parquet(f).estimated_size() for f in (tmp_path / "run" / "stages").glob("*/output.parquet"))
    rows = result.outputs["prompts"].height
    stages = {sid: {"seconds": st.seconds, "rows_out": st.rows_out, "requests": st.counters.get("requests_sent", 0),
                    "kind": "dedup" if st.component.startswith("dedup.") else
                    ("write" if st.component.startswith("write.") else "other")}
              for sid, st in result.stats.items()}
    return {"scale": scale, "wall": wall, "requests": stats["chat_requests"], "expected_requests": expected,
            "reference": reference, "reference_cached": reference_cached, "held_mb": held / 2**20,
            "max_in_flight": stats["max_in_flight"], "waves": engine.waves, "stages": stages, "rows": rows,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def bare_engine(base_url: str, n: int, in_flight: int, cache: Path | None = None) -> tuple[int, float]:
    """The same client with nothing around it: one wave of ``n`` structured requests (no recipe,
    no parsing; with ``cache``, through the request cache as in a run) against the same server.
    What this machine lets any recipe reach."""
    from curate import ChatRequest, SamplingParams
    from curate.engines.cache import CachedEngine
    from curate_openai import OpenAIEngine

    schema = {"type": "object", "properties": {"items": {"type": "array", "items": {"type": "string"}}},
              "required": ["items"]}
    engine: Any = OpenAIEngine(model=MODEL, base_url=base_url, api_key_env=None, max_in_flight=in_flight)
    if cache is not None:
        engine = CachedEngine(engine, cache)
    requests = [ChatRequest(f"ref-{i}", [{"role": "user", "content": f"List ten things about subject {i}."}],
                            SamplingParams(max_tokens=512), schema) for i in range(n)]
    t0 = time.perf_counter()
    engine.generate(requests, lambda result: None)
    seconds = time.perf_counter() - t0
    engine.close()
    return n, seconds


# --- report ------------------------------------------------------------------------------------

def report(r: dict[str, Any], latency: float, in_flight: int) -> None:
    wall, requests = r["wall"], r["requests"]
    simple = requests * latency / in_flight
    waves = r["waves"]
    critical = sum(math.ceil(n / in_flight) * latency for n, _ in waves if n)
    in_engine = sum(s for _, s in waves)
    stage_total = sum(s["seconds"] for s in r["stages"].values())
    dedup = sum(s["seconds"] for s in r["stages"].values() if s["kind"] == "dedup")
    write = sum(s["seconds"] for s in r["stages"].values() if s["kind"] == "write")
    print(f"\nscale {r['scale']}: {requests} requests (plan said {r['expected_requests']}), {len(waves)} waves, "
          f"max {r['max_in_flight']} in flight at the server; {r['rows']} prompts written; wall {wall:.1f} s")
    print(f"  ideal, all requests overlapped: {simple:6.1f} s   ratio {simple / wall:.3f}")
    print(f"  ideal, critical path of waves:  {critical:6.1f} s   ratio {critical / wall:.3f}   <- headline")
    gen_wall = wall - dedup - write
    print(f"  request-making part only (wall minus dedup and write stages): ratio {critical / gen_wall:.3f} "
          f"(critical path) / {simple / gen_wall:.3f} (overlapped)")
    n_ref, ref_seconds = r["reference"]
    ref_ratio = math.ceil(n_ref / in_flight) * latency / ref_seconds
    cached_ratio = math.ceil(n_ref / in_flight) * latency / r["reference_cached"][1]
    print(f"  side by side, one wave of {n_ref} structured requests: the bare openai engine ratio {ref_ratio:.3f}, "
          f"through the request cache {cached_ratio:.3f}; the request-making part reaches "
          f"{critical / gen_wall / cached_ratio:.2f} of the latter")
    print("  where the wall time goes:")
    rows = [("waves at their ideal (the critical path)", critical),
            ("engine calls beyond each wave's ideal (client CPU, cache writes, tails)", in_engine - critical),
            ("stage work outside the engine, dedup and writers excluded", stage_total - in_engine - dedup - write),
            ("dedup stages (exact, MinHash, semantic: CPU, no requests)", dedup),
            ("writers (JSONL, HF dataset)", write),
            ("outside stages (plan, engine start, boundaries, run.json)", wall - stage_total)]
    for label, seconds in rows:
        print(f"    {label:72} {seconds:7.2f} s  {seconds / wall:6.1%}")
    print("  per stage (seconds, requests): " + ", ".join(
        f"{sid} {s['seconds']:.1f}" + (f"/{s['requests']}" if s["requests"] else "") for sid, s in r["stages"].items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20_000, help="about this many requests at the largest size")
    parser.add_argument("--sizes", type=float, nargs="+", default=[1.0, 0.25],
                        help="fractions of --requests to run, each in a fresh process (for peak RSS)")
    parser.add_argument("--latency", type=float, default=0.2, help="server latency per request, seconds")
    parser.add_argument("--in-flight", type=int, default=128)
    parser.add_argument("--child", type=float, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    _, per_unit = plan(1.0, Path("x"))
    if args.child is not None:
        print("RESULT " + json.dumps(run_size(args.child, args.latency, args.in_flight)), flush=True)
        return 0
    print(f"nemotron4-prompts against the fault server (own process): {args.latency * 1000:.0f} ms per request, "
          f"{args.in_flight} in flight; ideal {args.in_flight / args.latency:.0f} req/s", flush=True)
    results = []
    for size in args.sizes:
        scale = size * args.requests / per_unit
        proc = subprocess.run([sys.executable, __file__, "--child", str(scale), "--latency", str(args.latency),
                               "--in-flight", str(args.in_flight)], capture_output=True, text=True)
        line = next((l for l in proc.stdout.splitlines() if l.startswith("RESULT ")), None)
        if proc.returncode != 0 or line is None:
            print(proc.stderr[-4000:], file=sys.stderr)
            return 1
        results.append(json.loads(line[len("RESULT "):]))
        report(results[-1], args.latency, args.in_flight)
    if len(results) > 1:
        print("\nmemory (peak RSS of a fresh process per size):")
        for r in sorted(results, key=lambda r: r["rows"]):
            print(f"  {r['requests']:6d} requests, {r['rows']:6d} prompts: {r['peak_rss_mb']:7.0f} MiB "
                  f"(stage outputs held in memory: {r['held_mb']:.0f} MiB)")
        small, big = sorted(results, key=lambda r: r["rows"])[::len(results) - 1]
        if big["rows"] > small["rows"]:
            per_row = (big["peak_rss_mb"] - small["peak_rss_mb"]) * 1024 / (big["rows"] - small["rows"])
            print(f"  growth: {per_row:.1f} KiB per extra prompt "
                  f"({big['peak_rss_mb'] / small['peak_rss_mb']:.2f}x RSS for {big['rows'] / small['rows']:.1f}x rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
