"""Live vs. batch cost of a generation stage, from the figures the engine reports.

Runs the same 1,000-prompt `generate.responses` stage twice through the `openai` engine: live
against `curate.testing.FaultServer`, and with `batch: true` against `curate.testing.BatchServer`
(both answer with the same echo, so the tokens match). It reads the token counts and cost from
the stage stats (`StageStats.engines`), and scales them to 1M requests. Prices are EXAMPLES (list
prices per 1M tokens as of this writing); pass your own with --prompt-price/--completion-price.

    python benchmarks/batch_cost.py [--requests 1000] [--prompt-price 0.15] [--completion-price 0.60]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path

import curate
from curate.testing import BatchServer
from curate.testing.fault_server import FaultServer

WORDS = ("the of and to in is that for it as was with be by on not he this are or his from at which but have an "
         "they you were her she there been one all we their has would when if so no what up out who them some "
         "explain write a short story about describe compare summarize list reasons why how does").split()


def prompts(n: int, seed: int = 0) -> list[str]:
    """Prompts of 20 to 200 words (a mix of short questions and longer instructions)."""
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 200))) + f" (#{i})" for i in range(n)]


def run_stage(base_url: str, batch: bool, rows: list[str], pricing: dict[str, float], folder: Path) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "prompts.jsonl").write_text("".join(json.dumps({"prompt": p}) + "\n" for p in rows))
    engine = {"use": "openai", "model": "echo", "base_url": base_url, "api_key_env": None, "batch": batch,
              "batch_poll_interval": 0.05, "pricing": pricing}
    recipe = folder / "recipe.yaml"
    recipe.write_text(f"""\
name: batch-cost
engines:
  default: {json.dumps(engine)}
stages:
  - use: read.jsonl
    with: {{path: prompts.jsonl}}
  - id: answers
    use: generate.responses
    with: {{engines: [default], max_tokens: 512, temperature: 0.7}}
""")
    result = curate.run(recipe, run_dir=folder / "run")
    return result.stats["answers"].engines["default"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--prompt-price", type=float, default=0.15, help="USD per 1M prompt tokens, live")
    parser.add_argument("--completion-price", type=float, default=0.60, help="USD per 1M completion tokens, live")
    args = parser.parse_args()
    pricing = {"prompt_per_mtok": args.prompt_price, "completion_per_mtok": args.completion_price}
    rows = prompts(args.requests)
    with tempfile.TemporaryDirectory() as tmp:
        with FaultServer() as live_server:
            live = run_stage(live_server.base_url, False, rows, pricing, Path(tmp) / "live")
        with BatchServer(polls_to_complete=2) as batch_server:
            batch = run_stage(batch_server.base_url, True, rows, pricing, Path(tmp) / "batch")
    scale = 1_000_000 / args.requests
    print(f"{args.requests:,} requests, prices (example): ${args.prompt_price}/1M prompt, "
          f"${args.completion_price}/1M completion tokens; batch at the engine's batch rates (default half)")
    print(f"{'':8} {'requests':>9} {'batch':>6} {'prompt tok':>11} {'compl. tok':>11} {'cost':>10} "
          f"{'cost at 1M requests':>20}")
    for name, s in (("live", live), ("batch", batch)):
        print(f"{name:8} {int(s['requests_sent']):>9,} {int(s.get('batch_requests', 0)):>6,} "
              f"{int(s['prompt_tokens']):>11,} {int(s['completion_tokens']):>11,} ${s['cost_usd']:>9.4f} "
              f"${s['cost_usd'] * scale:>19,.2f}")
    if live["cost_usd"]:
        print(f"batch / live cost: {batch['cost_usd'] / live['cost_usd']:.3f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
