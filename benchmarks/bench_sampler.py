"""Time and peak memory of weighted_permutation vs torch.randperm and torch.multinomial.

Each (method, size) runs in a fresh subprocess, so that its peak resident memory is its own:
the growth of the peak (VmHWM) over the resident size just before the call, after the weights
exist and after a small warm-up call (thread pools, kernel set-up: a fixed cost, not per item).
Reported as bytes per item. weighted_permutation and torch.multinomial(replacement=False) draw a
full weighted permutation of N items from the same random weights (multinomial refuses
N > 2**24); torch.randperm draws an unweighted one, the floor to compare against.
Targets (issue 12): weighted_permutation within 2x randperm's time and 16 bytes per item at
N = 10**8 and 2 * 10**8.

Usage: python benchmarks/bench_sampler.py [--sizes 1e4 1e5 ...] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, sys, time, numpy, torch
from mmbss import weighted_permutation
method, n, repeats = sys.argv[1], int(float(sys.argv[2])), int(sys.argv[3])
def kib(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1])
w = torch.rand(n, dtype=torch.float64, generator=torch.Generator().manual_seed(0)).add_(0.01)
if method == "multinomial":
    w = w.float()   # what the reference passes
weighted_permutation(torch.rand(300000, dtype=torch.float64).add_(0.01)); torch.randperm(10)
base = kib("VmRSS")
g = torch.Generator().manual_seed(1)
times = []
try:
    for _ in range(repeats):
        t0 = time.perf_counter()
        if method == "multinomial":
            p = torch.multinomial(w, n, replacement=False, generator=g)
        elif method == "randperm":
            p = torch.randperm(n, generator=g)
        else:
            p = weighted_permutation(w, generator=g)
        times.append(time.perf_counter() - t0)
        del p
    peak = (kib("VmHWM") - base) * 1024 / n
    print(json.dumps({"ok": True, "seconds": min(times), "bytes": peak}))
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
        return f"{r['seconds']:>9.3f} {r['bytes']:>7.1f}"
    return f"{'refused: ' + r['error'][:8]:>17}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", type=float, default=[1e4, 1e5, 1e6, 1e7, 2**24, 1e8, 2e8])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    print(f"{'N':>12} | {'weighted_permutation':>17} | {'torch.randperm':>17} | {'torch.multinomial':>17} |"
          f" time wp/randperm | time multinomial/wp")
    print(f"{'':>12} | {'s':>9} {'B/item':>7} | {'s':>9} {'B/item':>7} | {'s':>9} {'B/item':>7} |")
    for n in args.sizes:
        reps = 1 if n >= 5e7 else args.repeats
        wp, rp, mu = (run(m, n, reps) for m in ("wp", "randperm", "multinomial"))
        vs_rp = f"{wp['seconds'] / rp['seconds']:.2f}x" if wp["ok"] and rp["ok"] else "-"
        vs_mu = f"{mu['seconds'] / wp['seconds']:.2f}x" if wp["ok"] and mu["ok"] else "-"
        print(f"{int(n):>12,} | {_cell(wp)} | {_cell(rp)} | {_cell(mu)} | {vs_rp:>16} | {vs_mu}",
              flush=True)


if __name__ == "__main__":
    main()
