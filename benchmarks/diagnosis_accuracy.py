"""Diagnosis accuracy on the real-case corpus: for each labelled paste, is the cause class that
`envdoctor check --from` names first the one the thread concluded? Per split (tuned: the cases the
knowledge base was built on; r2: the second round; blind-N: collected by collectors the tuners did not
read - blind-1 and blind-2 were measured once at the round-2 freeze and tuned on in round 3, blind-3 and
blind-4 are the round-3 blind splits, see tests/corpus.py BLIND_NOW), prints accuracy per class, the
cases left "undetermined" (a recognised failure whose cause is not determined: honest, not right), the
confident-wrong ones (failed on a cause the thread did not conclude), and the false alarms on healthy
outputs (a named cause or a failed check). Runs without pytest.

    python benchmarks/diagnosis_accuracy.py [-v] [--split tuned|r2|blind-1|...]
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from envdoctor.diagnosis.catalog import load_catalog  # noqa: E402
from tests.corpus import EXCLUDED, corpus_body, diagnose_paste, labelled_cases, split_of  # noqa: E402


def measure(cases: dict[str, str], checks) -> dict:
    per: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    out = {"per": per, "misses": [], "false_alarms": [], "undetermined": [], "confident_wrong": []}
    for rel, want in sorted(cases.items()):
        named, failing, report = diagnose_paste(corpus_body(rel), checks)
        per[want][1] += 1
        if named == want:
            per[want][0] += 1
        else:
            out["misses"].append((rel, want, named))
            if named == "undetermined":
                out["undetermined"].append((rel, want))
            elif want != "healthy" and named != "healthy" and report.root_cause.status.value == "fail":
                out["confident_wrong"].append((rel, want, named))
        if want == "healthy" and (named != "healthy" or failing):
            out["false_alarms"].append((rel, named, failing))
    return out


def show(name: str, m: dict, verbose: bool) -> None:
    per = m["per"]
    total = sum(n for _, n in per.values())
    if not total:
        print(f"== {name}: no cases")
        return
    right = sum(r for r, _ in per.values())
    labelled = total - per.get("healthy", [0, 0])[1]
    print(f"== {name}: {total} cases")
    print(f"{'class':30} right/cases")
    for cls in sorted(per):
        r, n = per[cls]
        print(f"{cls:30} {r:3d}/{n:<3d} {100 * r / n:5.1f}%")
    print(f"{'ALL':30} {right:3d}/{total:<3d} {100 * right / total:5.1f}%")
    print(f"undetermined (recognised, cause not determined): {len(m['undetermined'])}")
    print(f"confident-wrong (failed on a cause the thread did not conclude): {len(m['confident_wrong'])}"
          f" = {100 * len(m['confident_wrong']) / max(labelled, 1):.1f}% of {labelled} labelled with a cause")
    print(f"false alarms on healthy outputs: {len(m['false_alarms'])}")
    for rel, named, failing in m["false_alarms"]:
        print(f"  {rel}: named {named}, failing checks {failing}")
    if verbose:
        print("confident-wrong:")
        for rel, want, named in m["confident_wrong"]:
            print(f"  {rel}: want {want}, named {named}")
        print("misses:")
        for rel, want, named in m["misses"]:
            print(f"  {rel}: want {want}, named {named}")


def main() -> None:
    verbose = "-v" in sys.argv
    only = sys.argv[sys.argv.index("--split") + 1] if "--split" in sys.argv else None
    checks = load_catalog()
    cases = {k: v for k, v in labelled_cases().items() if k not in EXCLUDED}
    t0 = time.perf_counter()
    splits: dict[str, dict[str, str]] = defaultdict(dict)
    for rel, want in cases.items():
        splits[split_of(rel)][rel] = want
    for name in sorted(splits, key=lambda n: ({"tuned": 0, "r2": 1}.get(n, 2), n)):
        if only and name != only:
            continue
        show(name, measure(splits[name], checks), verbose)
    if not only:
        show("whole corpus", measure(cases, checks), False)
    print(f"({len(EXCLUDED)} excluded, {time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    main()
