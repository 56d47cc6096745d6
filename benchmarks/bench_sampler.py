"""Time and peak memory of weighted_permutation vs torch.multinomial(replacement=False).

Each size runs in a fresh subprocess so that its peak resident memory (ru_maxrss, minus the
process's baseline after importing torch and creating the weights) is its own. Both methods draw a
full permutation of N items from the same random weights; torch.multinomial refuses N > 2**24.

Usage: python benchmarks/bench_sampler.py [--sizes 1e4 1e5 ...] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, resource, sys, time, torch
from mmbss import weighted_permutation
method, n, repeats = sys.argv[1], int(float(sys.argv[2])), int(sys.argv[3])
torch.set_num_threads(torch.get_num_threads())
w = torch.rand(n, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) + 0.01
if method == "multinomial":
    w = w.float()   # what the reference passes
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
g = torch.Generator().manual_seed(1)
times = []
try:
    for _ in range(repeats):
        t0 = time.perf_counter()
        if method == "multinomial":
            p = torch.multinomial(w, n, replacement=False, generator=g)
        else:
            p = weighted_permutation(w, generator=g)
        times.append(time.perf_counter() - t0)
        del p
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base
    print(json.dumps({"ok": True, "seconds": min(times), "peak_mib": peak / 1024}))
except RuntimeError as e:
    print(json.dumps({"ok": False, "error": str(e).splitlines()[0][:60]}))
"""


def run(method: str, n: float, repeats: int) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, method, str(n), str(repeats)],
                         capture_output=True, text=True)
    if out.returncode != 0:
        return {"ok": False, "error": (out.stderr.strip().splitlines() or ["crashed"])[-1][:60]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def _cell(r: dict) -> str:
    if r["ok"]:
        return f"{r['seconds']:>10.4f} {r['peak_mib']:>13.1f}"
    return f"{'refused: ' + r['error'][:15]:>24}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", type=float, default=[1e4, 1e5, 1e6, 1e7, 2**24, 1e8])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    print(f"{'N':>12} | {'weighted_permutation':>24} | {'torch.multinomial':>24} | time ratio mult/wp")
    print(f"{'':>12} | {'s':>10} {'peak MiB':>13} | {'s':>10} {'peak MiB':>13} |")
    for n in args.sizes:
        reps = 1 if n >= 5e7 else args.repeats
        wp = run("wp", n, reps)
        mu = run("multinomial", n, reps)
        ratio = f"{mu['seconds'] / wp['seconds']:.2f}x" if wp["ok"] and mu["ok"] else "-"
        print(f"{int(n):>12,} | {_cell(wp)} | {_cell(mu)} | {ratio}", flush=True)


if __name__ == "__main__":
    main()
