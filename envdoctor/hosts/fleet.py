"""Fleet summary: a table of hosts x headline facts, and the drift — facts on which hosts disagree with
the golden host (`--golden HOST`) or, without one, with the majority. Pure: HostReports in, a Fleet out
(it goes into `Report.fleet`)."""

from __future__ import annotations

from collections import Counter

from envdoctor.errors import UserError
from envdoctor.hosts.hostrange import fold
from envdoctor.models import Drift, Fleet, FleetBaseline, FleetRow, HostReport
from envdoctor.report.printable import printable

COLUMNS = ["gpu", "gpu_count", "driver", "cuda_driver", "torch", "torch_cuda", "nccl", "container_toolkit"]
TITLES = {"gpu": "GPU", "gpu_count": "#", "driver": "driver", "cuda_driver": "CUDA (driver)", "torch": "torch",
          "torch_cuda": "torch CUDA", "nccl": "NCCL", "container_toolkit": "ctk"}


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


def folded(hosts: list[str], sep: str = ", ") -> str:
    """gpu01..gpu12, gpu14, login1 -> "gpu[01-12,14], login1" (escaped, as every host name shown)."""
    return sep.join(printable(h) for h in fold(hosts))


def render_fleet(fleet: Fleet) -> str:
    """The hosts of each status, folded; the table; the drift, as text."""
    cols = ["host", "status"] + fleet.columns
    head = {"host": "host", "status": "status", **TITLES}
    cells = [[head[c] for c in cols]]
    for r in fleet.rows:
        # host names and facts come from the hosts: escaped before they are measured and shown
        values = {"host": r.host, "status": r.status.value, **{c: getattr(r, c) for c in fleet.columns}}
        cells.append(["-" if values[c] is None else printable(values[c]) for c in cols])
    widths = [max(len(row[i]) for row in cells) for i in range(len(cols))]
    lines = [f"Fleet summary ({len(fleet.rows)} hosts: "
             + ", ".join(f"{n} {s}" for s, n in sorted(fleet.counts.items())) + ")"]
    by_status = hosts_by((r.host, r.status.value) for r in fleet.rows)
    lines += [f"  {status}: {folded(by_status[status])}" for status in sorted(by_status)]
    for n, row in enumerate(cells):
        lines.append("  " + "  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())
        if n == 0:
            lines.append("  " + "  ".join("-" * w for w in widths))
    base = fleet.baseline
    against = f"golden host {printable(base.host)}" if base.kind == "golden" else "the majority"
    compared = fleet.compared if fleet.compared is not None else 2
    if compared < 2:
        lines.append(f"Drift: nothing could be compared ({compared} host evaluated; drift needs two or more)."
                     if compared == 1 else "Drift: nothing could be compared (no host was evaluated).")
    elif not fleet.drift:
        lines.append(f"Drift: none (every evaluated host agrees with {against}).")
    else:
        lines.append(f"Drift (against {against}):")
        for d in fleet.drift:
            # hosts with one value are folded together: gpu[03-04]=535.104.05
            odd = ", ".join(f"{folded(hosts, ',')}={printable(v) if v is not None else 'unknown'}"
                            for v, hosts in hosts_by(d.hosts.items()).items())
            exp = printable(d.expected) if d.expected is not None else "unknown"
            lines.append(f"  {TITLES.get(d.fact, d.fact)}: expected {exp}; {odd}")
    return "\n".join(lines)
