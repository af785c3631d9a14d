"""benchmarks/diagnosis_accuracy.py is a program for anyone with a checkout: it runs where pytest is not
installed (a subprocess in which `import pytest` fails), on the smallest split of the corpus."""

import subprocess
import sys
from collections import Counter
from pathlib import Path

from tests.corpus import labelled_cases, split_of

ROOT = Path(__file__).resolve().parents[2]

# pytest and its internals made unimportable, then the benchmark run as `python benchmarks/...` runs it
NO_PYTEST = ("import runpy, sys; sys.modules['pytest'] = None; sys.modules['_pytest'] = None; "
             "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')")


def test_the_accuracy_benchmark_runs_without_pytest():
    split, count = min(Counter(split_of(rel) for rel in labelled_cases()).items(), key=lambda kv: kv[1])
    r = subprocess.run([sys.executable, "-c", NO_PYTEST, str(ROOT / "benchmarks" / "diagnosis_accuracy.py"),
                        "--split", split], capture_output=True, text=True, timeout=600, cwd="/")
    assert r.returncode == 0, r.stderr[-2000:]
    assert f"== {split}: {count} cases" in r.stdout
    assert "ALL" in r.stdout and "false alarms on healthy outputs:" in r.stdout
