"""Grey failures: a GPU well below its peers while still above the absolute bar (one NVLink lane down, a slot
trained at a lower PCIe width, a GPU that runs hot). Each GPU's figure is compared with the median of the same
figure across the fleet's GPUs of its SKU; more than 10 % below it is a warning that names both figures."""

from __future__ import annotations

import statistics
from collections import defaultdict

from pydantic import BaseModel

from envdoctor.accept.models import Metric, SkuTable
from envdoctor.accept.skus import find_sku, sku_table
from envdoctor.models import GreyFailure, Number
from envdoctor.proof.verdict import mig_profile

GREY_TOLERANCE = 0.10  # below (1 - this) x the fleet median: a warning
MIN_PEERS = 3  # with fewer GPUs of a SKU, the median says nothing about which one is slow


class FleetFigure(BaseModel):
    """One GPU's (or, for a per-node metric, one node's) measured figure."""

    host: str
    gpu_index: int | None = None  # None for a per-node figure (all_reduce)
    gpu_name: str | None = None
    metric: Metric
    value: Number | None = None


def _where(f: FleetFigure) -> str:
    return f"{f.host} GPU {f.gpu_index}" if f.gpu_index is not None else f.host


def _groups(figures: list[FleetFigure], table: SkuTable) -> dict[tuple[str, str, Metric], list[FleetFigure]]:
    """Figures by (SKU id, SKU name, metric). MIG slices and missing figures take no part."""
    groups: dict[tuple[str, str, Metric], list[FleetFigure]] = defaultdict(list)
    for f in figures:
        if f.value is None or f.value <= 0 or mig_profile(f.gpu_name):
            continue
        sku = find_sku(f.gpu_name, table)
        key = sku.id if sku else f"name:{(f.gpu_name or '?').strip().lower()}"
        groups[(key, sku.gpu if sku else (f.gpu_name or "unnamed GPU"), f.metric)].append(f)
    return groups


def fleet_medians(figures: list[FleetFigure], table: SkuTable | None = None) -> dict[tuple[str, int | None, Metric], float]:
    """(host, gpu_index, metric) -> the median of that figure across its SKU in the fleet, for groups of at least
    MIN_PEERS figures (what the reports show beside each figure)."""
    out = {}
    for (_, _, metric), group in _groups(figures, table or sku_table()).items():
        if len(group) >= MIN_PEERS:
            median = statistics.median(f.value for f in group)
            out.update({(f.host, f.gpu_index, metric): median for f in group})
    return out


def grey_failures(figures: list[FleetFigure], tolerance: float = GREY_TOLERANCE,
                  table: SkuTable | None = None) -> list[GreyFailure]:
    """Every figure more than `tolerance` below the median of its group (SKU x metric), worst first. MIG slices and
    missing figures take no part; a group of fewer than MIN_PEERS figures is not judged."""
    out = []
    for (_, name, metric), group in _groups(figures, table or sku_table()).items():
        if len(group) < MIN_PEERS:
            continue
        median = statistics.median(f.value for f in group)
        for f in group:
            below = 1 - f.value / median
            if below > tolerance:
                out.append(GreyFailure(
                    host=f.host, gpu_index=f.gpu_index, gpu_name=f.gpu_name, group=name, metric=metric.value,
                    value=f.value, median=median, below=below, peers=len(group),
                    summary=f"{_where(f)}: {metric.title} {f.value:,.1f} {metric.unit}, {below:.0%} below the fleet "
                            f"median of {median:,.1f} {metric.unit} ({len(group)} {name} figures)"))
    return sorted(out, key=lambda g: -g.below)
