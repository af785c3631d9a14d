"""Fleet summary: a table of hosts x headline facts, and the drift — facts on which hosts disagree with
the golden host (`--golden HOST`) or, without one, with the majority. Pure: HostReports in, a Fleet out
(it goes into `Report.fleet`)."""

from __future__ import annotations

from collections import Counter

from envdoctor.errors import UserError
from envdoctor.models import Drift, Fleet, FleetBaseline, FleetRow, HostReport

COLUMNS = ["gpu", "gpu_count", "driver", "cuda_driver", "torch", "torch_cuda", "nccl", "container_toolkit"]

def _value(v) -> str | None:
    return None if v is None else str(v)


def fleet_summary(hosts: list[HostReport], golden: str | None = None) -> Fleet:
    """The table (a row per host: its status and headline facts), the baseline, the drift from it, the
    count per status and how many hosts were compared. Only evaluated hosts take part in the baseline
    and the drift; None ("unknown") differs from a value."""
    rows = [FleetRow(host=h.host, status=h.status, **{c: getattr(h.headline, c) for c in COLUMNS}) for h in hosts]
    evaluated = [h for h in hosts if h.status.evaluated]
    baseline = FleetBaseline(kind="majority", values={})
    if golden is not None:
        g = next((h for h in hosts if h.host == golden), None)
        if g is None:
            raise UserError(f"--golden {golden!r} is not one of the targets")
        if not g.status.evaluated:
            raise UserError(f"--golden {golden!r} could not be evaluated ({g.status.value}: {g.error})")
        baseline = FleetBaseline(kind="golden", host=golden,
                                 values={c: _value(getattr(g.headline, c)) for c in COLUMNS})
    else:
        for c in COLUMNS:
            counts = Counter(_value(getattr(h.headline, c)) for h in evaluated)
            top = counts.most_common(2)
            # a tie has no majority: every value is reported as drift against "no majority"
            baseline.values[c] = top[0][0] if top and (len(top) == 1 or top[0][1] > top[1][1]) else "(no majority)"
    drift = []
    if len(evaluated) > 1:
        for c in COLUMNS:
            expected = baseline.values.get(c)
            odd = {h.host: _value(getattr(h.headline, c)) for h in evaluated
                   if _value(getattr(h.headline, c)) != expected}
            if odd:
                drift.append(Drift(fact=c, expected=expected, hosts=odd))
    counts = Counter(h.status.value for h in hosts)
    return Fleet(columns=COLUMNS, rows=rows, baseline=baseline, drift=drift, counts=dict(counts),
                 compared=len(evaluated))


def hosts_by(pairs) -> dict:
    """{key: [host, ...]} from (host, key) pairs, in the order met."""
    out: dict = {}
    for host, key in pairs:
        out.setdefault(key, []).append(host)
    return out
