"""Slurm benchmark: a real Slurm of N nodes on this machine (tests/slurm/cluster.py); how long the health
check takes (it must end well inside slurmd's 60 s), and `check --slurm` over all nodes as one srun step.

    python3 benchmarks/slurm.py              # N = 3 and 6, 3 runs each
    python3 benchmarks/slurm.py --sizes 4 --runs 5

All nodes share this machine's cores, so the srun figure is mostly N probes competing for them.
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


def timed(cluster: SlurmCluster, args: list[str], runs: int) -> tuple[int, list[float]]:
    secs = []
    rc = None
    for _ in range(runs):
        t0 = time.monotonic()
        r = subprocess.run([sys.executable, "-m", "envdoctor", *args], env=dict(cluster.env, SLURMD_NODENAME="n1"),
                           capture_output=True, text=True, cwd=ROOT)
        secs.append(time.monotonic() - t0)
        rc = r.returncode
    return rc, secs


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
                    _, secs = timed(c, args, a.runs)
                    print(f"{what:46} {n:5} {statistics.median(secs):9.1f} {max(secs):7.1f}")


if __name__ == "__main__":
    main()
