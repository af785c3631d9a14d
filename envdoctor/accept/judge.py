"""One measured figure against its SKU's bar: pass, warn, fail, unknown (with the reason), or skip when the
measurement does not apply (a MIG slice, a single-GPU node). A missing entry, bar or measurement is never a pass."""

from __future__ import annotations

import math

from envdoctor.accept.models import PEAK_OF, Judgement, Metric, SkuTable
from envdoctor.accept.skus import cite, find_sku, sku_table
from envdoctor.models import Status
from envdoctor.proof.verdict import mig_kind, mig_profile

# The published all_reduce bars are for a node of 8 GPUs: bus bandwidth depends on how many GPUs share the links.
ALLREDUCE_BAR_GPUS = 8


def _fmt(x: float) -> str:
    return f"{x:,.1f}" if x < 1000 else f"{x:,.0f}"


def judge_figure(metric: Metric, measured: float | None, gpu_name: str | None, *, gpu_count: int | None = None,
                 device: str = "cuda", not_measured_because: str | None = None,
                 table: SkuTable | None = None) -> Judgement:
    """Judge `measured` (in the metric's unit) for a GPU of this name; `gpu_count` is the node's GPU count (the
    all_reduce bar is for 8 GPUs). `not_measured_because` says why a figure is missing (the budget cut it, ...)."""
    table = table or sku_table()
    unit = metric.unit
    fig = f"{_fmt(measured)} {unit}" if isinstance(measured, (int, float)) and math.isfinite(measured) else None

    def out(status: Status, summary: str, evidence: list[str] | None = None, **kw) -> Judgement:
        return Judgement(metric=metric, status=status, summary=summary, measured=measured if fig else None, unit=unit,
                         gpu_name=gpu_name, evidence=evidence or [], **kw)

    if device != "cuda":
        return out(Status.UNKNOWN, f"{fig or 'no figure'} measured on the {device}: the bars are for GPUs, so it is "
                   "not judged")
    profile = mig_profile(gpu_name)
    if profile:
        return out(Status.SKIP, f"does not apply: {gpu_name} is a MIG slice ({mig_kind(profile)}); the bars are "
                   f"for a whole GPU{f' (measured {fig})' if fig else ''}")
    if metric.per_node and gpu_count is not None and gpu_count < 2:
        return out(Status.SKIP, "does not apply: a single-GPU node has nothing to all-reduce across")
    if fig is None:
        why = not_measured_because or ("no figure was reported" if measured is None else f"not a figure: {measured!r}")
        return out(Status.UNKNOWN, f"{metric.title}: not measured ({why})")
    if measured <= 0:
        return out(Status.UNKNOWN, f"{fig} is not a plausible {metric.title}: not judged")
    sku = find_sku(gpu_name, table)
    if sku is None:
        return out(Status.UNKNOWN, f"{fig}; no entry for '{gpu_name or 'an unnamed GPU'}' in the per-SKU table, "
                   "so it is not judged", [f"GPU name: {gpu_name}",
                                           "add its figures with their sources to envdoctor/data/gpu_skus.yaml"])
    peak = sku.peaks.get(PEAK_OF.get(metric, ""))
    peak_ev = [f"datasheet peak: {_fmt(peak.value)} {unit} ({measured / peak.value:.0%} of it); "
               + "; ".join(cite(peak.sources, table))] if peak else []
    bar = sku.bars.get(metric)
    if bar is None:
        return out(Status.UNKNOWN, f"{fig}; no published bar for the {metric.title} of {sku.gpu}, so it is not "
                   "judged", peak_ev, sku=sku.id, peak=peak.value if peak else None)
    if metric.per_node and gpu_count != ALLREDUCE_BAR_GPUS:
        return out(Status.UNKNOWN, f"{fig} across {gpu_count if gpu_count is not None else 'an unknown number of'} "
                   f"GPUs; the published bar ({_fmt(bar.fail_below or bar.warn_below)} {unit}) is for "
                   f"{ALLREDUCE_BAR_GPUS}, so it is not judged", peak_ev, sku=sku.id)
    bar_ev = [f"bar for {sku.gpu}: " + ", ".join(
        x for x in (f"fail below {_fmt(bar.fail_below)} {unit}" if bar.fail_below is not None else "",
                    f"warn below {_fmt(bar.warn_below)} {unit}" if bar.warn_below is not None else "",
                    f"published measurement {_fmt(bar.reference)} {unit}" if bar.reference is not None else "") if x)]
    bar_ev += [bar.note] if bar.note else []
    bar_ev += cite(bar.sources, table)
    kw = {"sku": sku.id, "fail_below": bar.fail_below, "warn_below": bar.warn_below,
          "peak": peak.value if peak else None}
    ev = [f"measured: {fig} ({gpu_name})"] + bar_ev + peak_ev
    if bar.fail_below is not None and measured < bar.fail_below:
        return out(Status.FAIL, f"{fig}, below the bar of {_fmt(bar.fail_below)} {unit} for {sku.gpu}", ev, **kw)
    if bar.warn_below is not None and measured < bar.warn_below:
        return out(Status.WARN, f"{fig}, above the failure bar but below {_fmt(bar.warn_below)} {unit} for "
                   f"{sku.gpu}", ev, **kw)
    lowest = bar.warn_below if bar.warn_below is not None else bar.fail_below
    return out(Status.PASS, f"{fig}, at or above the bar of {_fmt(lowest)} {unit} for {sku.gpu}", ev, **kw)


def pcie_below_minimum(gpu_name: str | None, gen: int | None, width: int | None,
                       table: SkuTable | None = None) -> list[str]:
    """Evidence for a low host<->device figure: the link (read under load: an idle GPU lowers its generation) is
    below the generation or width DCGM's pinned-copy test requires of this SKU. Empty when it is not, or unknown."""
    table = table or sku_table()
    sku = find_sku(gpu_name, table)
    need = sku.pcie_min if sku else None
    if need is None or gen is None or width is None or (gen >= need.gen and width >= need.width):
        return []
    line = (f"PCIe link Gen{gen} x{width} under load, below the Gen{need.gen} x{need.width} the pinned-copy test "
            f"requires of {sku.gpu}")
    return [line, *cite(need.sources, table)]
