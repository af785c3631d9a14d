"""GPU health: Xid errors in the kernel log, ECC errors and row remapping, clock throttling, PCIe link."""

from collections import OrderedDict

from envdoctor.diagnosis.catalog import check, from_cause, passed, skip, unknown
from envdoctor.facts.gpu import GpuInfo
from envdoctor.knowledge import load
from envdoctor.models import Status
from envdoctor.vocabulary import problem_reason_names

# Throttle reasons that are a problem when active (`problem: true` in data/clock_event_reasons.yaml, the table
# the proof-run's verdict reads too); Idle, application clocks, display and sync boost are normal states, and
# SW Power Cap is the GPU working at its power limit (expected under load).
_BAD_THROTTLE = problem_reason_names()


def _gpus_or_outcome(facts):
    g = facts.gpu
    if g.known_no_gpu:
        return None, skip("no NVIDIA GPU on this machine")
    gpus = [x for x in (g.gpus or []) if not x.lost]
    if not gpus:
        return None, unknown("no per-GPU information (nvidia-smi did not list any GPU)", missing=["nvidia-smi -q -x"])
    return gpus, None


@check("xid_errors", "No GPU Xid errors in the kernel log", order=200)
def xid_errors(facts):
    """The NVIDIA driver logs GPU faults to the kernel log as "NVRM: Xid (PCI:...): <code>, ..."
    (and NVSwitch faults as SXid). Some codes are the application's fault (13, 31, 43: an illegal
    memory access in a kernel), others mean the GPU needs a reset or service (48, 63/64, 74, 79, 94,
    95, 119, 120). "GPU has fallen off the bus" (Xid 79, or the same words without an Xid on probe)
    means the GPU stopped answering on PCIe. Meanings and actions come from NVIDIA's Xid catalog
    (envdoctor/data/xid.yaml). The kernel log covers the current boot (dmesg or journalctl -k -b)."""
    g = facts.gpu
    if g.xid_events is None and not g.fallen_off_bus:
        if g.known_no_gpu:
            return skip("no NVIDIA GPU on this machine")
        return unknown("the kernel log was not readable", missing=["dmesg (needs root or kernel.dmesg_restrict=0)"])
    table = load("xid")
    events = g.xid_events or []
    groups: "OrderedDict[tuple[bool, int], list]" = OrderedDict()
    for e in events:
        groups.setdefault((e.sxid, e.xid), []).append(e)
    worst, ev, causes, actions, classes = "pass", [], [], [], []
    for (sx, code), evs in groups.items():
        info = (table["sxid"] if sx else table["xid"]).get(code)
        kind = "SXid" if sx else "Xid"
        pcis = sorted({e.pci for e in evs if e.pci})
        when = f", last at {evs[-1].time}" if evs[-1].time else ""
        if info:
            level = info.get("level", "warn")
            ev.append(f"{kind} {code} ({info['name']}) x{len(evs)} on {', '.join(pcis) or '?'}{when}: {info['cause']}")
            causes.append(f"{kind} {code}: {info['name']}")
            actions.append(f"{kind} {code}: {info['action']}")
        else:
            level = "warn"
            ev.append(f"{kind} {code} x{len(evs)} on {', '.join(pcis) or '?'}{when}: not in envdoctor's table; "
                      f"see {table['source']}")
        ev.append("  " + evs[-1].line)
        # the Xid table names each code's cause class; the worst code's class is the check's cause
        cls = (info or {}).get("class", table["default_class"])
        classes.append((level == "fail", cls))
        if level == "fail" or worst == "fail":
            worst = "fail"
        elif level == "warn":
            worst = "warn"
    if g.fallen_off_bus:
        worst = "fail"
        classes.insert(0, (True, table["default_class"]))
        if not any(c.startswith("Xid 79") for c in causes):
            causes.append("a GPU fell off the bus (equivalent to Xid 79)")
            actions.append(f"fallen off the bus: {table['xid'][79]['action']}")
        ev += [l for l in g.fallen_off_bus[:3] if l not in ev and "  " + l not in ev]
    if worst == "pass":
        if g.kernel_log_read:
            return passed("no Xid errors in the kernel log",
                          evidence=[f"read with `{g.kernel_log_source}`: no Xid, SXid or fallen-off-the-bus line"])
        return passed("no Xid errors in the pasted log", evidence=["the pasted kernel log has no Xid or SXid line"])
    n = sum(len(v) for v in groups.values()) + (0 if any(c.startswith("Xid 79") for c in causes) else len(g.fallen_off_bus or []))
    summary = ("GPU fell off the bus" if g.fallen_off_bus else f"{n} Xid event(s)") + \
        f": {', '.join(c.split(':')[0] for c in causes)}"
    cause = next((c for bad, c in classes if bad), classes[0][1])
    return from_cause(Status.FAIL if worst == "fail" else Status.WARN, summary, cause,
                      ev + [f"action: {a}" for a in actions], detail="; ".join(causes),
                      commands=["sudo dmesg -T | grep -E 'NVRM: Xid|SXid|fallen off'", "nvidia-smi -q | grep -iA3 recovery",
                                "dcgmi diag -r 2   # if DCGM is installed"])


@check("ecc_errors", "No uncorrectable ECC errors or pending memory repairs", order=210)
def ecc_errors(facts):
    """Uncorrectable (double-bit) ECC errors since the driver loaded mean data on that GPU may be
    wrong: jobs crash (Xid 48/94/95) or, worse, compute silently on bad memory. Ampere and newer GPUs
    repair memory by remapping rows; older ones retire pages. A pending remap/retirement takes effect
    after a GPU reset; a remapping failure means the GPU should be replaced (RMA). Consumer GPUs
    without ECC are skipped."""
    gpus, out = _gpus_or_outcome(facts)
    if out:
        return out
    bad, pend, ev = [], [], []
    for x in gpus:
        if x.remapped_rows_failure:
            bad.append(x)
            ev.append(f"{x.label}: row remapping failure occurred")
        if x.ecc_uncorrected_volatile:
            bad.append(x)
            ev.append(f"{x.label}: {x.ecc_uncorrected_volatile} uncorrectable ECC error(s) since the driver loaded")
            ev += ["  " + l for l in (x.ecc_uncorrected_volatile_lines or [])[:4]]
        if x.remapped_rows_pending or x.retired_pages_pending:
            pend.append(x)
            ev.append(f"{x.label}: " + ("row remapping pending" if x.remapped_rows_pending else "page retirement pending"))
    if bad:
        rma = any(x.remapped_rows_failure for x in bad)
        return from_cause(Status.FAIL, f"uncorrectable memory errors on {len(set(x.label for x in bad))} GPU(s)",
                          "ecc_remap_reset", ev, detail="row remapping failed: the GPU needs an RMA" if rma else None,
                          commands=["nvidia-smi -q -d ECC,ROW_REMAPPER,PAGE_RETIREMENT",
                                    "sudo nvidia-smi -r -i <gpu>   # no process may use it",
                                    "dcgmi diag -r 3   # if DCGM is installed"])
    if pend:
        return from_cause(Status.WARN, f"memory repair pending on {len(pend)} GPU(s): reset the GPU to apply it",
                          "ecc_remap_reset", ev)
    if all(x.ecc_mode_current is not True and x.ecc_uncorrected_volatile is None for x in gpus):
        if any(x.ecc_mode_current is False for x in gpus) or all(x.datacenter is False for x in gpus):
            return skip("ECC is not enabled/supported on these GPUs")
        return unknown("ECC counters not reported", missing=["nvidia-smi -q -d ECC"])
    known = [x for x in gpus if x.ecc_uncorrected_volatile is not None or x.remapped_rows_pending is not None]
    return passed("no uncorrectable ECC errors", evidence=[f"{x.label}: 0 uncorrectable (volatile)" for x in known
                                                          if x.ecc_uncorrected_volatile == 0])


@check("throttling", "GPU clocks not throttled by heat or power faults", order=320)
def throttling(facts):
    """nvidia-smi lists why the GPU clocks are held down ("Clocks Event Reasons", formerly "Clocks
    Throttle Reasons"). HW Slowdown, HW/SW Thermal Slowdown and HW Power Brake mean the GPU is too hot
    or its power supply signalled a fault: training runs slower than it should. Idle, application
    clock settings and the SW Power Cap (the GPU at its power limit under load) are normal."""
    gpus, out = _gpus_or_outcome(facts)
    if out:
        return out
    known = [x for x in gpus if x.throttle_reasons_active is not None]
    if not known:
        return unknown("throttle reasons not reported", missing=["nvidia-smi -q -d PERFORMANCE"])
    bad = [(x, [r for r in x.throttle_reasons_active if r in _BAD_THROTTLE]) for x in known]
    bad = [(x, rs) for x, rs in bad if rs]
    if bad:
        thermal = any("Thermal" in r for _, rs in bad for r in rs)
        ev = [f"{x.label}: active {', '.join(rs)}" + (f", {x.temperature_c} C" if x.temperature_c is not None else "")
              for x, rs in bad]
        return from_cause(Status.WARN, f"clocks throttled on {len(bad)} GPU(s): "
                          f"{', '.join(sorted({r for _, rs in bad for r in rs}))}", "throttling_or_pcie", ev,
                          detail="overheating" if thermal else "power brake / external slowdown signal: power supply or board",
                          commands=["nvidia-smi -q -d PERFORMANCE,TEMPERATURE,POWER",
                                    "nvidia-smi --query-gpu=index,temperature.gpu,clocks_event_reasons.active "
                                    "--format=csv -l 5"])
    normal = [f"{x.label}: {', '.join(x.throttle_reasons_active) or 'none'}" for x in known]
    return passed("no thermal or hardware clock slowdown", evidence=normal)


def _busy(x) -> bool | None:
    """Whether the GPU was working when sampled: its link may be at full speed only then."""
    if x.utilization_pct is not None and x.utilization_pct >= 30:
        return True
    if x.throttle_reasons_active is not None and "Idle" in x.throttle_reasons_active:
        return False
    if x.performance_state and x.performance_state not in ("P0", "P1", "P2"):
        return False
    return None


@check("pcie_link", "PCIe link at full width and generation", order=330)
def pcie_link(facts):
    """A GPU in a slot wired narrower than the card (x8 instead of x16), behind a riser, or with a
    degraded link moves host-device data at a fraction of the speed. GPUs lower the PCIe generation
    themselves when idle to save power, so a lower generation is only reported when the GPU was busy
    when sampled; a lower width is reported always (it does not change at idle), with the caveat
    that some platforms wire the slot narrower by design (check the server's manual)."""
    gpus, out = _gpus_or_outcome(facts)
    if out and facts.gpu.pci_gpus and any(p.link_width for p in facts.gpu.pci_gpus):
        # nvidia-smi gave nothing, but sysfs has each GPU's link width (the width does not drop at idle)
        gpus = [GpuInfo(pci_bus_id=p.slot, pcie_width_current=p.link_width, pcie_width_max=p.max_link_width)
                for p in facts.gpu.pci_gpus if p.link_width]
    elif out:
        return out
    known = [x for x in gpus if x.pcie_width_current is not None or x.pcie_gen_current is not None]
    if not known:
        return unknown("PCIe link state not reported", missing=["nvidia-smi -q -d PCIE / sysfs link width"])
    problems, notes = [], []
    for x in known:
        if x.pcie_width_current and x.pcie_width_max and x.pcie_width_current < x.pcie_width_max:
            problems.append(f"{x.label}: link width x{x.pcie_width_current} of x{x.pcie_width_max}")
        if x.pcie_gen_current and x.pcie_gen_max and x.pcie_gen_current < x.pcie_gen_max:
            busy = _busy(x)
            line = (f"{x.label}: PCIe gen {x.pcie_gen_current} of {x.pcie_gen_max}"
                    f" ({x.performance_state or '?'}, {x.utilization_pct if x.utilization_pct is not None else '?'}% busy)")
            if busy:
                problems.append(line + " while busy")
            else:
                notes.append(line + ": normal at idle (GPUs lower the link speed when idle); re-check under load")
    if problems:
        return from_cause(Status.WARN, f"PCIe link below its maximum on {len(problems)} GPU link(s)",
                          "throttling_or_pcie", problems + notes,
                          detail="a slot wired x8, a riser or bad seating, or BIOS link settings; some servers wire x8 by design",
                          commands=["nvidia-smi -q -d PCIE", "sudo lspci -vv -s <bus id> | grep -E 'LnkCap|LnkSta'"])
    ok = [f"{x.label}: gen {x.pcie_gen_current}/{x.pcie_gen_max}, x{x.pcie_width_current}/{x.pcie_width_max}"
          for x in known if not any(n.startswith(x.label) for n in notes)]
    return passed("PCIe links at full width" + (" (generation lowered at idle)" if notes else ""), evidence=ok + notes)
