"""The acceptance script's result line as typed figures and checks: each worker's parts judged against its SKU's
bar (judge.py), the all_reduce sweep through nccl-tests' arithmetic (allreduce.py), the counters read before and
after the run compared (counters.py). Pure: the result document and the facts in, the Acceptance and the checks
out."""

from __future__ import annotations

from envdoctor.accept.allreduce import allreduce_bandwidth, best_busbw
from envdoctor.accept.counters import compare_counters, snapshot
from envdoctor.accept.judge import judge_figure, pcie_below_minimum
from envdoctor.accept.models import Judgement, Metric
from envdoctor.facts import HostFacts
from envdoctor.models import AcceptFigure, Acceptance, AllReduce, CheckResult, Status

# The script's part names -> the metric each measures.
PART_METRIC = {"matmul_bf16": Metric.MATMUL_BF16, "matmul_tf32": Metric.MATMUL_TF32,
               "memory_copy": Metric.MEMORY_BANDWIDTH, "h2d_pinned": Metric.H2D_PINNED,
               "d2h_pinned": Metric.D2H_PINNED}
QUICK_SKIPS = {"matmul_tf32", "d2h_pinned"}  # --quick runs the others only
TIMING = ("each figure is the median of timed batches after a warm-up (excluded; its length is in each figure's "
          "evidence); on a GPU the batches are timed with CUDA events, on the CPU with perf_counter; the "
          "all_reduce rows exclude one warm-up call per size and synchronise around the timed calls")


def cpu_not_judged(title: str, device: str) -> str:
    return f"{title}: measured on the {device}, not judged (the bars are for GPUs; there is no CPU bar)"


def _gpu_label(w: dict) -> str:
    idx = w.get("device_index")
    return f"GPU {idx} ({w.get('name') or 'unnamed'})" if w.get("name") != "cpu" else f"CPU process {w.get('rank')}"


def _why_missing(rec: dict | None, result: dict, part: str, quick: bool) -> str:
    if quick and part in QUICK_SKIPS:
        return "not part of --quick"
    if rec is None:
        if result.get("ended_by") == "deadline" or result.get("timed_out"):
            return "the time budget ended before this part finished"
        return "the worker ended before this part (%s)" % (result.get("error") or "no reason given")
    if rec.get("cut_by_budget"):
        return "cut by the time budget: " + rec.get("reason", "")
    return rec.get("not_measured") or rec.get("error") or "no figure reported"


def _figure(j: Judgement, w: dict | None, extra: list[str]) -> AcceptFigure:
    return AcceptFigure(metric=j.metric.value, title=j.metric.title, gpu_index=(w or {}).get("device_index"),
                        gpu_name=j.gpu_name, value=j.measured, unit=j.unit, status=j.status, summary=j.summary,
                        fail_below=j.fail_below, warn_below=j.warn_below, peak=j.peak, evidence=j.evidence + extra)


def _link_evidence(w: dict, facts: HostFacts | None, metric: Metric) -> list[str]:
    """For a low host<->device figure: the GPU's PCIe link as the facts read it, and the SKU's minimum."""
    if metric not in (Metric.H2D_PINNED, Metric.D2H_PINNED) or facts is None or not facts.gpu.gpus:
        return []
    gpu = next((g for g in facts.gpu.gpus if g.index == w.get("device_index")), None)
    gen, width = getattr(gpu, "pcie_gen_current", None), getattr(gpu, "pcie_width_current", None)
    return pcie_below_minimum(w.get("name"), gen, width) if gpu else []


def figures_of(result: dict, quick: bool, facts: HostFacts | None = None) -> list[AcceptFigure]:
    """Every worker's parts, judged; a part missing from a worker's result is unknown with the reason."""
    device = result.get("device") or "cuda"
    out = []
    for w in result.get("workers") or []:
        parts = w.get("accept") or {}
        for part, metric in PART_METRIC.items():
            rec = parts.get(part)
            value = rec.get("value") if isinstance(rec, dict) else None
            why = None if value is not None else _why_missing(rec, result, part, quick)
            if device != "cuda" and value is None:
                why = f"{why}; no CPU bar in any case"
            j = judge_figure(metric, value, w.get("name"), device=device, not_measured_because=why)
            if device != "cuda":  # the same words for every process, and the reason a figure is missing
                j.summary = (f"{metric.title}: not measured ({why})" if value is None else
                             cpu_not_judged(metric.title, device))
            j.summary = f"{_gpu_label(w)}: {j.summary}"
            extra = []
            if isinstance(rec, dict) and rec.get("warmup_s") is not None:
                extra.append(f"warm-up {rec['warmup_s']} s ({rec['warmup_iters']} calls, excluded), then "
                             f"{rec['batches']} timed batches of {rec['reps_per_batch']}; best batch "
                             f"{rec['best']:,.1f} {metric.unit}")
            if j.status in (Status.FAIL, Status.WARN):
                extra += _link_evidence(w, facts, metric) + under_load(result, w.get("device_index"))
            out.append(_figure(j, w, extra))
    return out


def sweep_of(result: dict) -> tuple[list[AllReduce], dict | None, str | None]:
    """The first rank's all_reduce rows with algbw/busbw, its raw record, and why there is none."""
    workers = [w for w in result.get("workers") or [] if w.get("global_rank", w.get("rank")) == 0] or \
        (result.get("workers") or [])[:1]
    rec = (workers[0].get("accept") or {}).get("allreduce") if workers else None
    if not isinstance(rec, dict):
        return [], None, "the workers ended before the all_reduce sweep"
    rows = [allreduce_bandwidth(r["bytes"], r["secs"], r["ranks"]) for r in rec.get("sweep") or []
            if r.get("secs") and r.get("bytes")]
    why = None if rows else (rec.get("not_measured") or rec.get("error") or "cut by the time budget before any size")
    return rows, rec, why


def allreduce_figure(result: dict, rows: list[AllReduce], why: str | None) -> AcceptFigure:
    """The sweep's plateau (largest busbw) judged as the node's all_reduce figure."""
    device = result.get("device") or "cuda"
    best = best_busbw(rows)
    names = sorted({w.get("name") for w in result.get("workers") or [] if w.get("name")})
    name = names[0] if len(names) == 1 else None
    ranks = best.world if best else result.get("world_size")
    j = judge_figure(Metric.ALLREDUCE_8GPU, best.busbw_gbs if best else None, name, gpu_count=ranks, device=device,
                     not_measured_because=why)
    extra = [f"{r.bytes:,} bytes: algbw {r.algbw_gbs:,.2f} GB/s, busbw {r.busbw_gbs:,.2f} GB/s over {r.world} ranks"
             for r in rows]
    if device != "cuda":
        j.summary = (f"all_reduce: not measured ({why})" if best is None else
                     cpu_not_judged(f"all_reduce busbw {best.busbw_gbs:,.3g} GB/s across {ranks} {device} processes",
                                    device))
    fig = _figure(j, None, extra)
    fig.title = f"all_reduce bus bandwidth across {ranks} ranks" if ranks else fig.title
    return fig


def acceptance_of(result: dict | None, *, quick: bool, time_budget: float, facts: HostFacts | None = None,
                  error: str | None = None) -> Acceptance:
    """The typed Acceptance of one host's script result (None: the script gave none, `error` says why)."""
    if result is None:
        return Acceptance(quick=quick, time_budget_s=time_budget, error=error or "no result", figures=[])
    figures = figures_of(result, quick, facts)
    rows, _, why = sweep_of(result)
    figures.append(allreduce_figure(result, rows, why))
    return Acceptance(device=result.get("device"), quick=quick, time_budget_s=result.get("time_budget_s", time_budget),
                      elapsed_s=result.get("elapsed_s"), ended_by=result.get("ended_by"),
                      error=result.get("error") or error, timing=TIMING, figures=figures, allreduce=rows)


def figure_check_id(f: AcceptFigure) -> str:
    """One id per figure on a host (a report's series are per host and check): the GPU's index in it."""
    return f"accept_{f.metric}" + (f"_gpu{f.gpu_index}" if f.gpu_index is not None else "")


def figure_check(f: AcceptFigure) -> CheckResult:
    return CheckResult(id=figure_check_id(f), title=f"The {f.title} meets its bar", status=f.status,
                       summary=f.summary, evidence=f.evidence)


def counter_checks(before: HostFacts | None, after: HostFacts | None, sampled_reasons: dict[int, list[str]]
                   ) -> list[CheckResult]:
    """One check per GPU: what changed in its counters during the run. `sampled_reasons`: the slowdown reasons
    the GPU sampler saw during the run, per GPU index (an idle GPU read after the run has let its clocks
    recover)."""
    b_gpus = (before.gpu.gpus if before else None) or []
    a_gpus = {g.index: g for g in ((after.gpu.gpus if after else None) or [])}
    if not b_gpus:
        return [CheckResult(id="accept_counters", title="No new GPU faults under load", status=Status.UNKNOWN,
                            summary="no GPU counters to read before and after the run (nvidia-smi listed no GPU)")]
    out = []
    for g in b_gpus:
        b = snapshot(g, before.gpu.xid_events)
        after_gpu = a_gpus.get(g.index)
        if after_gpu is None:
            out.append(CheckResult(id="accept_counters", title="No new GPU faults under load", status=Status.UNKNOWN,
                                   summary=f"{g.label}: not listed by nvidia-smi after the run"))
            continue
        a = snapshot(after_gpu, after.gpu.xid_events)
        if a.throttle_reasons_active is not None or sampled_reasons.get(g.index):
            a.throttle_reasons_active = sorted(set(a.throttle_reasons_active or [])
                                               | set(sampled_reasons.get(g.index) or []))
        check = compare_counters(b, a)
        check.id = f"{check.id}_gpu{g.index}" if g.index is not None else check.id
        out.append(check)
    return out


def _samples_by_gpu(result: dict | None) -> dict[int, list[dict]]:
    """The script's GPU sampler rows taken while a part ran, per GPU index (envdoctor/proof/script/sampler.py)."""
    out: dict[int, list[dict]] = {}
    for g in (result or {}).get("gpus") or []:
        if isinstance(g, dict) and isinstance(g.get("nvml_index"), int):
            out.setdefault(g["nvml_index"], []).extend(s for s in g.get("samples") or [] if isinstance(s, dict))
    return out


def sampled_reasons_of(result: dict | None) -> dict[int, list[str]]:
    """The clock-event reasons the script's GPU sampler saw during the run, per GPU index."""
    return {idx: sorted({r for s in rows for r in s.get("reasons") or []})
            for idx, rows in _samples_by_gpu(result).items()}


def under_load(result: dict | None, gpu_index: int | None) -> list[str]:
    """The GPU's SM clock, power and temperature while the parts ran: shown beside a figure that fell short."""
    rows = _samples_by_gpu(result).get(gpu_index) or []

    def span(key: str, unit: str) -> str | None:
        vals = sorted(v for v in (s.get(key) for s in rows) if isinstance(v, (int, float)))
        return f"{vals[0]:g}-{vals[-1]:g} {unit} (median {vals[len(vals) // 2]:g})" if vals else None

    parts = [f"{what} {v}" for what, v in (("SM clock", span("sm_mhz", "MHz")), ("power", span("power_w", "W")),
                                           ("temperature", span("temp_c", "C"))) if v]
    return [f"under load ({len(rows)} samples): " + ", ".join(parts)] if parts else []
