"""Throughput of ``judge.reward_model`` with the ``transformers-reward`` engine, side by side with a
bare transformers loop over the same pairs, on the same tiny reward model, at the same batch size.

The pipeline is a whole run (``read.parquet`` -> ``judge.reward_model`` with the HelpSteer2
preset, fresh run directory, so every pair is scored and stored in the request cache); its
figure is the judge stage's own seconds (``RunResult.stats``: the engine is loaded before the
stage starts, as the baseline's model is). The baselines are what one would write by hand:
``apply_chat_template`` per pair, batches of ``--batch-size`` padded on the right, one forward pass
per batch, logits to Python floats. ``bare`` takes the pairs in input order; ``bare-sorted`` first
sorts them by length (what the engine does), the strictest comparison.

    python benchmarks/bench_reward.py                      # 1,024 pairs, batch 16, 3 repeats
    python benchmarks/bench_reward.py --rows 4096 --batch-size 32 --repeats 5 --threads 1

Prints rows/s of each (best run and median) and ``ratio = pipeline rows/s / bare rows/s`` (goal
>= 0.9). On a busy machine the best-of figures are the steadier ones.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

import polars as pl

from curate.testing.tiny_model import HELPSTEER2_LABELS, TRAINING_TEXT, build_tiny_reward_model


def make_pairs(n: int, seed: int = 0) -> pl.DataFrame:
    """Prompts and responses of mixed lengths cut from the tiny model's training prose."""
    words = TRAINING_TEXT.split()
    rng = random.Random(seed)

    def text(lo: int, hi: int) -> str:
        start = rng.randrange(len(words) - hi)
        return " ".join(words[start:start + rng.randint(lo, hi)])

    return pl.DataFrame({"id": [f"p{i}" for i in range(n)], "prompt": [text(5, 40) for _ in range(n)],
                         "response": [text(10, 120) for _ in range(n)]})


def bench_pipeline(model: Path, data: Path, batch_size: int, workdir: Path) -> tuple[float, int]:
    import curate

    recipe = curate.Recipe.model_validate({
        "name": "bench-reward",
        "engines": {"rm": {"use": "transformers-reward", "model": str(model), "batch_size": batch_size,
                           "device": "cpu"}},
        "stages": [{"use": "read.parquet", "with": {"path": str(data)}},
                   {"id": "rm", "use": "judge.reward_model", "with": {"engine": "rm", "weights_preset": "helpsteer2"}}],
    })
    result = curate.run(recipe, run_dir=workdir / f"run-{time.time_ns()}")
    stats = result.stats["rm"]
    return stats.seconds, stats.rows_out


def bench_bare(model, tokenizer, df: pl.DataFrame, batch_size: int, sort: bool) -> tuple[float, int]:
    import torch

    t0 = time.perf_counter()
    encoded = []
    for prompt, response in zip(df["prompt"].to_list(), df["response"].to_list()):
        ids = tokenizer.apply_chat_template([{"role": "user", "content": prompt},
                                             {"role": "assistant", "content": response}], tokenize=True)
        encoded.append(list(ids["input_ids"] if hasattr(ids, "keys") else ids))
    if sort:
        encoded.sort(key=len)
    pad = model.config.pad_token_id
    scores = []
    for start in range(0, len(encoded), batch_size):
        batch = encoded[start:start + batch_size]
        width = max(map(len, batch))
        input_ids = torch.tensor([ids + [pad] * (width - len(ids)) for ids in batch])
        attention = torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for ids in batch])
        with torch.inference_mode():
            scores.extend(model(input_ids=input_ids, attention_mask=attention).logits.float().tolist())
    return time.perf_counter() - t0, len(scores)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice); 1 is steadier on a "
                                                    "busy machine")
    parser.add_argument("--model", type=Path, help="a reward model folder (default: build the tiny 5-attribute one)")
    args = parser.parse_args()

    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    if args.threads:
        torch.set_num_threads(args.threads)  # the same process runs both, so both get it
    with tempfile.TemporaryDirectory(prefix="bench-reward-") as tmp:
        work = Path(tmp)
        model_dir = args.model or build_tiny_reward_model(work / "tiny-rm", num_labels=5,
                                                          id2label=dict(enumerate(HELPSTEER2_LABELS)))
        df = make_pairs(args.rows)
        data = work / "pairs.parquet"
        df.write_parquet(data)
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        model = AutoModelForSequenceClassification.from_pretrained(model_dir, dtype=torch.float32).eval()

        bench_pipeline(model_dir, data, args.batch_size, work)  # warm-up: imports, first forward passes
        bench_bare(model, tokenizer, df.head(64), args.batch_size, sort=False)
        times: dict[str, list[float]] = {"pipeline": [], "bare": [], "bare-sorted": []}
        for _ in range(args.repeats):  # interleaved, so drifting machine load hits each alike
            seconds, rows = bench_pipeline(model_dir, data, args.batch_size, work)
            assert rows == args.rows, f"the judge kept {rows} of {args.rows} rows"
            times["pipeline"].append(seconds)
            times["bare"].append(bench_bare(model, tokenizer, df, args.batch_size, sort=False)[0])
            times["bare-sorted"].append(bench_bare(model, tokenizer, df, args.batch_size, sort=True)[0])

    print(f"{args.rows} pairs, batch size {args.batch_size}, {args.repeats} repeats, torch threads "
          f"{torch.get_num_threads()}")
    for name, runs in times.items():
        best, median = args.rows / min(runs), args.rows / statistics.median(runs)
        print(f"  {name:12s} best {best:7.1f} rows/s, median {median:7.1f}"
              f"   (runs: {', '.join(f'{args.rows / t:.1f}' for t in runs)})")
    for base in ("bare", "bare-sorted"):
        best = min(times[base]) / min(times["pipeline"])
        median = statistics.median(times[base]) / statistics.median(times["pipeline"])
        print(f"ratio pipeline / {base:11s} = {best:.2f} best-of, {median:.2f} median"
              + ("   (goal >= 0.9)" if base == "bare" else ""))


if __name__ == "__main__":
    main()
