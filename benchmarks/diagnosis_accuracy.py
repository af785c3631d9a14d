"""Diagnosis accuracy on the real-case corpus: for each labelled paste, is the cause class that
`envdoctor check --from` names first the one the thread concluded? Prints accuracy per class, the
misses, and the false alarms on healthy outputs (a healthy paste with a named cause or a failed check).

    python benchmarks/diagnosis_accuracy.py [-v]
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from envdoctor.catalog import load_catalog  # noqa: E402
from tests.corpus import corpus_body, labelled_cases  # noqa: E402
from tests.test_corpus_cases import EXCLUDED  # noqa: E402


def main() -> None:
    verbose = "-v" in sys.argv
    checks = load_catalog()
    from tests.corpus import diagnose_paste

    per: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    misses, false_alarms = [], []
    t0 = time.perf_counter()
    cases = {k: v for k, v in labelled_cases().items() if k not in EXCLUDED}
    for rel, want in sorted(cases.items()):
        named, failing, _ = diagnose_paste(corpus_body(rel), checks)
        per[want][1] += 1
        if named == want:
            per[want][0] += 1
        else:
            misses.append((rel, want, named))
        if want == "healthy" and (named != "healthy" or failing):
            false_alarms.append((rel, named, failing))
    secs = time.perf_counter() - t0
    total = sum(n for _, n in per.values())
    right = sum(r for r, _ in per.values())
    print(f"{'class':30} right/cases")
    for cls in sorted(per):
        r, n = per[cls]
        print(f"{cls:30} {r:3d}/{n:<3d} {100 * r / n:5.1f}%")
    print(f"{'ALL':30} {right:3d}/{total:<3d} {100 * right / total:5.1f}%   ({len(EXCLUDED)} excluded, {secs:.1f} s)")
    print(f"false alarms on healthy outputs: {len(false_alarms)}")
    for rel, named, failing in false_alarms:
        print(f"  {rel}: named {named}, failing checks {failing}")
    if verbose or len(misses) <= 40:
        print("misses:")
        for rel, want, named in misses:
            print(f"  {rel}: want {want}, named {named}")


if __name__ == "__main__":
    main()
