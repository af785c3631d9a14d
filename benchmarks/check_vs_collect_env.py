"""Time `envdoctor check` on this machine against `python -m torch.utils.collect_env`.

collect_env gathers less (no limits, containers, kernel log, checks or verdict) but is what users run
today; the target is that envdoctor is no slower. Prints the median wall time of each and the ratio.

    python benchmarks/check_vs_collect_env.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def timed(argv: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    runs = {
        "envdoctor check --no-proof": [sys.executable, "-m", "envdoctor", "check", "--json", "--no-proof"],
        "torch.utils.collect_env": [sys.executable, "-m", "torch.utils.collect_env"],
    }
    if "--no-proof" not in subprocess.run([sys.executable, "-m", "envdoctor", "check", "--help"],
                                          capture_output=True, text=True).stdout:
        runs["envdoctor check --no-proof"] = runs["envdoctor check --no-proof"][:-1]
    timed(runs["torch.utils.collect_env"])  # warm the page cache for both (same torch import)
    results = {}
    for name, argv in runs.items():
        samples = [timed(argv) for _ in range(args.repeat)]
        results[name] = statistics.median(samples)
        print(f"{name:32s} median {results[name]:6.2f} s   runs: {', '.join(f'{s:.2f}' for s in samples)}")
    a, b = results.values()
    print(f"ratio envdoctor / collect_env: {a / b:.2f}x  (target: <= 1.0x)")


if __name__ == "__main__":
    main()
