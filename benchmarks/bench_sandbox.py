"""curate-sandbox: sandboxed runs per second against plain `subprocess.run` of the same programs,
and the pool's scaling from 1 to 2 workers.

The programs are small stdin/stdout solutions of the kind `judge.code` checks (a + b, sorting,
a prime sieve, a DP, word counts): a few ms to ~100 ms of work each, so start-up costs matter as
they do in practice. Three ways to run each one, interleaved round by round so that the
machine's load falls on all alike:

* ``sandbox`` — ``Sandbox(workers=1).run(...)``: bubblewrap (or the tier named), limits,
  capped output, the launcher;
* ``plain -I -S`` — ``subprocess.run([python, "-I", "-S", file])``: the same interpreter with
  the same flags, no isolation. The ratio against it is the cost of the sandbox itself;
* ``plain`` — ``subprocess.run([python, file])``: how a program is usually run, `site` and
  all (slow where many packages are installed editable).

Every output is compared with the others (mismatches must be 0). Then the pool: the same jobs
through ``Sandbox(workers=1)`` and ``Sandbox(workers=2).run_many``.

    python benchmarks/bench_sandbox.py               # 5 rounds of 6 programs
    python benchmarks/bench_sandbox.py --rounds 20 --tier rlimits --allow-degraded
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

from curate_sandbox import Sandbox, SandboxJob

PROGRAMS = {
    "a_plus_b": ("a, b = map(int, input().split())\nprint(a + b)\n", "20 22\n"),
    "sort": ("import sys\nnums = sorted(map(int, sys.stdin.read().split()))\nprint(nums[0], nums[-1], len(nums))\n",
             " ".join(str((i * 7919) % 100003) for i in range(20000)) + "\n"),
    "sieve": ("n = int(input())\nsieve = bytearray([1]) * (n + 1)\nsieve[0:2] = b'\\x00\\x00'\n"
              "for i in range(2, int(n ** 0.5) + 1):\n    if sieve[i]:\n        sieve[i*i::i] = bytes(len(sieve[i*i::i]))\n"
              "print(sum(sieve))\n", "300000\n"),
    "lcs_dp": ("a, b = input(), input()\nprev = [0] * (len(b) + 1)\nfor x in a:\n    cur = [0]\n"
               "    for j, y in enumerate(b):\n        cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[-1]))\n"
               "    prev = cur\nprint(prev[-1])\n",
               "".join("acgt"[(i * i) % 4] for i in range(250)) + "\n" + "".join("acgt"[(i * 3) % 4] for i in range(250)) + "\n"),
    "word_count": ("import sys\nfrom collections import Counter\nc = Counter(sys.stdin.read().split())\n"
                   "for w, n in c.most_common(3):\n    print(w, n)\n",
                   " ".join(f"w{(i * i) % 997}" for i in range(40000)) + "\n"),
    "fib_memo": ("from functools import lru_cache\n@lru_cache(None)\ndef fib(n):\n    return n if n < 2 else fib(n-1) + fib(n-2)\n"
                 "print(fib(int(input())) % 1000000007)\n", "400\n"),
}


def plain_runner(folder: str, flags: list[str]):
    paths = {}
    for name, (code, _) in PROGRAMS.items():
        paths[name] = os.path.join(folder, f"{name}.py")
        with open(paths[name], "w") as f:
            f.write(code)

    def run(name: str) -> str:
        done = subprocess.run([sys.executable, *flags, paths[name]], input=PROGRAMS[name][1], capture_output=True,
                              text=True, timeout=60, cwd=folder)
        return done.stdout

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds of every program (default 5)")
    parser.add_argument("--tier", default=None, help="force a tier (bubblewrap, unshare, rlimits)")
    parser.add_argument("--allow-degraded", action="store_true", help="accept a degraded tier")
    args = parser.parse_args()

    folder = tempfile.mkdtemp(prefix="bench-sandbox-")
    plain_isolated = plain_runner(folder, ["-I", "-S"])
    plain_usual = plain_runner(folder, [])
    with Sandbox(workers=1, timeout_s=60, tier=args.tier, allow_degraded=args.allow_degraded) as sandbox:
        print(f"python {sandbox.python_version} ({sys.executable}), tier {sandbox.tier}, {os.cpu_count()} CPUs, "
              f"uid {os.geteuid()}, {args.rounds} rounds x {len(PROGRAMS)} programs")

        def sandboxed(name: str) -> str:
            code, stdin = PROGRAMS[name]
            result = sandbox.run(code, stdin=stdin)
            assert result.ok, (name, result)
            return result.stdout

        ways = {"sandbox": sandboxed, "plain -I -S": plain_isolated, "plain": plain_usual}
        for run in ways.values():  # warm caches and the tier probe
            run("a_plus_b")
        seconds = dict.fromkeys(ways, 0.0)
        per_program = {name: dict.fromkeys(ways, 0.0) for name in PROGRAMS}
        mismatches = 0
        for _ in range(args.rounds):
            for name in PROGRAMS:
                outputs = set()
                for way, run in ways.items():
                    started = time.perf_counter()
                    outputs.add(run(name))
                    spent = time.perf_counter() - started
                    seconds[way] += spent
                    per_program[name][way] += spent
                mismatches += len(outputs) != 1
        runs = args.rounds * len(PROGRAMS)
        print(f"\n{'sequential':<14} {'runs/s':>8} {'ms/run':>8}")
        for way, spent in seconds.items():
            print(f"{way:<14} {runs / spent:8.2f} {1000 * spent / runs:8.1f}")
        print(f"\nratio sandbox / plain -I -S (same interpreter and flags): {seconds['plain -I -S'] / seconds['sandbox']:.2f}")
        print(f"ratio sandbox / plain (python file.py, site included):     {seconds['plain'] / seconds['sandbox']:.2f}")
        print("per program, sandbox / plain -I -S:", ", ".join(
            f"{name} {t['plain -I -S'] / t['sandbox']:.2f}" for name, t in per_program.items()))
        print(f"output mismatches: {mismatches}")

    jobs = [SandboxJob(code, stdin=stdin) for code, stdin in PROGRAMS.values()] * args.rounds
    print(f"\n{'pool':<14} {'runs/s':>8}   ({len(jobs)} jobs)")
    rates = {}
    for workers in (1, 2):
        with Sandbox(workers=workers, timeout_s=60, tier=args.tier, allow_degraded=args.allow_degraded) as pool:
            pool.run("pass")
            started = time.perf_counter()
            results = pool.run_many(jobs)
            rates[workers] = len(jobs) / (time.perf_counter() - started)
            assert all(r.ok for r in results)
        print(f"{f'{workers} worker(s)':<14} {rates[workers]:8.2f}")
    print(f"scaling 2 workers / 1 worker: {rates[2] / rates[1]:.2f} (on {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
