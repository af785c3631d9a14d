"""Faults that appear under load: a GPU's error counters read before and after the acceptance run. Anything new
during the run (an Xid line, an uncorrectable ECC error, a retired page or remapped row, a thermal or power
slowdown) fails the GPU with that evidence; counters that could not be read on both sides are unknown."""

from __future__ import annotations

import re
from collections import Counter

from pydantic import BaseModel

from envdoctor.facts.gpu import GpuInfo, XidEvent
from envdoctor.models import CheckResult, Status
from envdoctor.vocabulary import problem_reason_names

_BUS = re.compile(r"([0-9a-f]{2}):([0-9a-f]{2})(?:\.[0-7])?$", re.IGNORECASE)


class CounterSnapshot(BaseModel):
    """One GPU's counters at one moment. None: not read (an old driver, a field the output lacks)."""

    label: str  # "GPU 0 (NVIDIA H100 80GB HBM3, 00000000:18:00.0)"
    ecc_uncorrected_volatile: int | None = None
    ecc_uncorrected_aggregate: int | None = None
    retired_pages_dbe: int | None = None
    retired_pages_pending: bool | None = None
    remapped_rows_pending: bool | None = None
    remapped_rows_failure: bool | None = None
    # The slowdown reasons active when read; for "after", the union of those sampled during the run (an idle
    # GPU read after the run has let its clocks recover).
    throttle_reasons_active: list[str] | None = None
    xid_lines: list[str] | None = None  # this GPU's Xid lines in the kernel log; None: the log was not readable


def bus_key(pci: str | None) -> str | None:
    """"00000000:18:00.0" and the kernel's "0000:18:00" -> "18:00": the part both name a GPU by."""
    m = _BUS.search((pci or "").strip())
    return f"{m.group(1)}:{m.group(2)}".lower() if m else None


def snapshot(gpu: GpuInfo, xid_events: list[XidEvent] | None) -> CounterSnapshot:
    """A GPU's counters from the facts envdoctor already reads (nvidia-smi and the kernel log)."""
    key = bus_key(gpu.pci_bus_id)
    xids = None if xid_events is None else [e.line for e in xid_events if not e.sxid and bus_key(e.pci) == key]
    return CounterSnapshot(label=gpu.label, ecc_uncorrected_volatile=gpu.ecc_uncorrected_volatile,
                           ecc_uncorrected_aggregate=gpu.ecc_uncorrected_aggregate,
                           retired_pages_dbe=gpu.retired_pages_dbe, retired_pages_pending=gpu.retired_pages_pending,
                           remapped_rows_pending=gpu.remapped_rows_pending,
                           remapped_rows_failure=gpu.remapped_rows_failure,
                           throttle_reasons_active=gpu.throttle_reasons_active, xid_lines=xids)


# Counters that can only grow, and flags that should stay false, in groups: a group is compared when one of its
# fields was read on both sides (Ampere and later remap rows where older GPUs retired pages; neither has both).
_COUNTS = {"ecc_uncorrected_volatile": "uncorrectable ECC errors (volatile)",
           "ecc_uncorrected_aggregate": "uncorrectable ECC errors (aggregate)",
           "retired_pages_dbe": "pages retired for double-bit errors"}
_FLAGS = {"retired_pages_pending": "a page retirement became pending",
          "remapped_rows_pending": "a row remap became pending", "remapped_rows_failure": "a row remapping failed"}
_GROUPS = {"ECC error counts": ["ecc_uncorrected_volatile", "ecc_uncorrected_aggregate"],
           "retired pages / remapped rows": ["retired_pages_dbe", "retired_pages_pending", "remapped_rows_pending",
                                             "remapped_rows_failure"],
           "clock slowdown reasons": ["throttle_reasons_active"],
           "Xid lines (kernel log)": ["xid_lines"]}


def _read_both(before: CounterSnapshot, after: CounterSnapshot, field: str) -> bool:
    return getattr(before, field) is not None and getattr(after, field) is not None


def _new_faults(before: CounterSnapshot, after: CounterSnapshot) -> list[str]:
    new = [f"{what}: {getattr(before, f)} before the run, {getattr(after, f)} after" for f, what in _COUNTS.items()
           if _read_both(before, after, f) and getattr(after, f) > getattr(before, f)]
    new += [f"during the run {what}" for f, what in _FLAGS.items()
            if _read_both(before, after, f) and getattr(after, f) and not getattr(before, f)]
    if _read_both(before, after, "throttle_reasons_active"):
        slowdowns = problem_reason_names()
        had = set(before.throttle_reasons_active) & slowdowns  # already slowed before the run: not new
        new += [f"clock slowdown under load: {r}" for r in after.throttle_reasons_active
                if r in slowdowns and r not in had]
    if _read_both(before, after, "xid_lines"):
        # A multiset difference: the log only grows, and a line seen twice after but once before is new once.
        fresh = Counter(after.xid_lines) - Counter(before.xid_lines)
        new += [f"new Xid: {line}" for line in fresh.elements()]
    return new


def compare_counters(before: CounterSnapshot, after: CounterSnapshot) -> CheckResult:
    """What changed on one GPU during the run, as a check: fail with each new fault; pass when every group of
    counters was compared and nothing is new; unknown when a group could not be read before and after."""
    new = _new_faults(before, after)
    unread = [g for g, fields in _GROUPS.items() if not any(_read_both(before, after, f) for f in fields)]
    tail = [f"not read before and after the run: {', '.join(unread)}"] if unread else []
    title = "No new GPU faults under load"
    if new:
        return CheckResult(id="accept_counters", title=title, status=Status.FAIL,
                           summary=f"{after.label}: {len(new)} new fault{'s' if len(new) > 1 else ''} during the run "
                                   f"({new[0]})", evidence=new + tail)
    if len(unread) == len(_GROUPS):
        return CheckResult(id="accept_counters", title=title, status=Status.UNKNOWN,
                           summary=f"{after.label}: no error counter could be read before and after the run",
                           evidence=tail)
    if unread:
        return CheckResult(id="accept_counters", title=title, status=Status.UNKNOWN,
                           summary=f"{after.label}: nothing new in the counters read; {', '.join(unread)} not read",
                           evidence=tail)
    return CheckResult(id="accept_counters", title=title, status=Status.PASS,
                       summary=f"{after.label}: no new Xid, ECC error, retired page, remapped row or slowdown "
                               "during the run")
