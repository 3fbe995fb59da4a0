"""The `vllm` engine through a whole recipe versus a bare `vllm.LLM.chat` call on the same prompts.

Prints framework throughput / raw throughput (goal: >= 0.97). Both sides share one loaded model,
prefix caching is off (so neither side warms the other), the order alternates between repeats,
and each recipe run gets a fresh run directory (so the request cache never answers).
The recipe side includes everything: reading JSONL, building requests, the request cache,
checkpoints and writing the SFT file.

Run in the vLLM venv (CPU here, unchanged on a GPU machine):

    VLLM_CPU_KVCACHE_SPACE=4 .venvs/vllm/bin/python benchmarks/bench_vllm_engine.py --prompts 2000
    .venvs/vllm/bin/python benchmarks/bench_vllm_engine.py --model /models/Llama-3.1-8B-Instruct  # GPU
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="model folder (default: a tiny random Llama built here)")
    ap.add_argument("--prompts", type=int, default=2000)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    import vllm

    import curate
    from curate_vllm import VLLMEngine

    work = Path(tempfile.mkdtemp(prefix="bench-vllm-"))
    model = args.model
    if model is None:
        from curate.testing.tiny_model import build_tiny_llama

        model = str(build_tiny_llama(work / "tiny-llama"))
    prompts = [f"Question {i}: describe the city library, the bakery and the river in a few words." for i in range(args.prompts)]
    (work / "prompts.jsonl").write_text("\n".join(json.dumps({"prompt": p}) for p in prompts))

    engine = VLLMEngine(model=model, max_model_len=512, enforce_eager=True, seed=0,
                        engine_args={"enable_prefix_caching": False})
    engine.start()
    llm = engine._llm
    # Greedy: identical outputs on both sides. (Seeded sampling of large batches crashes vllm-cpu 0.32:
    # "CPU Generator does not use offset"; see docs/notes/vllm-cpu.md.)
    sampling = vllm.SamplingParams(n=1, temperature=0.0, max_tokens=args.max_tokens)
    conversations = [[{"role": "user", "content": p}] for p in prompts]

    def bare() -> tuple[float, int]:
        t0 = time.perf_counter()
        outs = llm.chat(conversations, sampling, use_tqdm=False)
        return time.perf_counter() - t0, sum(len(o.outputs[0].token_ids) for o in outs)

    recipe = curate.Recipe(name="bench", stages=[
        curate.Stage(use="read.jsonl", **{"with": {"path": "prompts.jsonl"}}),
        curate.Stage(use="generate.responses", **{"with": {"n": 1, "temperature": 0.0, "max_tokens": args.max_tokens}}),
        curate.Stage(use="write.jsonl", **{"with": {"path": "sft.jsonl", "format": "sft"}}),
    ]).with_base_dir(work)

    def framework(k: int) -> tuple[float, int]:
        t0 = time.perf_counter()
        curate.run(recipe, run_dir=work / f"run-{k}", engines={"default": engine})
        seconds = time.perf_counter() - t0
        rows = [json.loads(line) for line in (work / f"run-{k}" / "sft.jsonl").read_text().splitlines()]
        tokens = len(rows)  # token counts are taken from the bare run (greedy, same prompts: same outputs)
        return seconds, tokens

    bare()  # warm-up (first batch allocates and compiles nothing with enforce_eager, but pays page faults)
    ratios, raw_tps, fw_tps = [], [], []
    for k in range(args.repeats):
        order = ["bare", "framework"] if k % 2 == 0 else ["framework", "bare"]
        timings = {}
        for side in order:
            timings[side] = bare() if side == "bare" else framework(k)
        raw_seconds, tokens = timings["bare"]
        fw_seconds, rows = timings["framework"]
        assert rows == len(prompts), f"framework wrote {rows} rows for {len(prompts)} prompts"
        raw_tps.append(tokens / raw_seconds)
        fw_tps.append(tokens / fw_seconds)
        ratios.append(raw_seconds / fw_seconds)
        print(f"repeat {k}: bare {raw_seconds:.2f}s ({tokens / raw_seconds:,.0f} tok/s)  "
              f"recipe {fw_seconds:.2f}s ({tokens / fw_seconds:,.0f} tok/s)  ratio {raw_seconds / fw_seconds:.3f}")
    print(f"\n{args.prompts} prompts x {args.max_tokens} max tokens, model {model}")
    print(f"framework / raw throughput: median {statistics.median(ratios):.3f} "
          f"(runs: {', '.join(f'{r:.3f}' for r in ratios)}); goal >= 0.97")


if __name__ == "__main__":
    main()
