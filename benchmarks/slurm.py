"""Slurm benchmark: a real Slurm of N nodes on this machine (tests/slurm/cluster.py); how long the health
check takes (it must end well inside slurmd's 60 s), and `check --slurm` over all nodes as one srun step.

    python3 benchmarks/slurm.py              # N = 3 and 6, 3 runs each
    python3 benchmarks/slurm.py --sizes 4 --runs 5

All nodes share this machine's cores, so the srun figure is mostly N probes competing for them.
Exit 0 and 1 are complete runs (1: a check failed, e.g. no GPU here) and are timed; any other exit is a
failed run and is printed as the failure, never as a time.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.slurm.cluster import SlurmCluster  # noqa: E402


COMPLETE_RCS = (0, 1)  # README: 0 all pass or warn, 1 a check failed; 2 and 3 mean the run did not complete


def timed(cluster: SlurmCluster, args: list[str], runs: int) -> tuple[list[float], str | None]:
    """Times of the runs, or the first failed run's exit code and last stderr line."""
    secs = []
    for _ in range(runs):
        t0 = time.monotonic()
        r = subprocess.run([sys.executable, "-m", "envdoctor", *args], env=dict(cluster.env, SLURMD_NODENAME="n1"),
                           capture_output=True, text=True, cwd=ROOT)
        if r.returncode not in COMPLETE_RCS:
            last = (r.stderr.strip().splitlines() or ["(no stderr)"])[-1]
            return secs, f"failed: exit {r.returncode}: {last}"
        secs.append(time.monotonic() - t0)
    return secs, None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[3, 6])
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    print(f"{'what':46} {'nodes':>5} {'median s':>9} {'max s':>7}")
    for n in a.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.monotonic()
            with SlurmCluster(Path(tmp), nodes=n) as c:
                print(f"{'start munge + slurmctld + slurmd':46} {n:5} {time.monotonic() - t0:9.1f} {'':>7}")
                rows = [("health --check (torch imported)", ["health", "--check"]),
                        ("health --check --no-torch", ["health", "--check", "--no-torch"]),
                        ("check --slurm --no-proof --json (one srun step)",
                         ["check", "--slurm", "--no-proof", "--json", "--python", sys.executable])]
                for what, args in rows:
                    if what.startswith("health") and n != a.sizes[0]:
                        continue  # one node's health does not depend on the cluster's size
                    secs, failure = timed(c, args, a.runs)
                    if failure:
                        print(f"{what:46} {n:5} {failure}")
                    else:
                        print(f"{what:46} {n:5} {statistics.median(secs):9.1f} {max(secs):7.1f}")


if __name__ == "__main__":
    main()
