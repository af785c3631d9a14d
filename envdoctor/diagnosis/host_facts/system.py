"""Build SystemFacts from a bundle: OS, kernel, CPU, memory, /dev/shm, memlock, container, WSL.

Probe sections win; without them each paste is scanned for the blocks the parsers know. Where pastes
disagree (a before/after `df -h` pair), the smallest /dev/shm and the first soft/hard memlock are kept
and every line read stays in the evidence, so a check can show what it weighed."""

from __future__ import annotations

from envdoctor.diagnosis.bundle import Bundle
from envdoctor.facts.system import SystemFacts
from envdoctor.parsers import container_detect, limits, os_info, paste_blocks, shm


def section_text(bundle: Bundle, name: str, stdout_only: bool = True) -> str | None:
    """The text of a section that ran (no probe error), else None."""
    s = bundle.get(name)
    if s is None or s.error is not None:
        return None
    return s.stdout if stdout_only else s.text


def _os(bundle: Bundle, f: SystemFacts) -> None:
    t = section_text(bundle, "os_release")
    f.os_name = os_info.parse_os_release(t) if t else None
    t = section_text(bundle, "uname")
    f.kernel = os_info.parse_uname(t) if t else None
    t = section_text(bundle, "cpuinfo_count")
    f.cpu_count = os_info.parse_cpu_count(t) if t else None
    t = section_text(bundle, "meminfo")
    f.mem_total_bytes = os_info.parse_meminfo(t) if t else None
    for p in bundle.pastes:
        f.os_name = f.os_name or os_info.scan_os_name(p)
        f.kernel = f.kernel or os_info.scan_kernel(p)
        f.mem_total_bytes = f.mem_total_bytes or os_info.parse_meminfo(p)
    if f.kernel and section_text(bundle, "uname"):
        f.os_family, f.os_family_evidence = "linux", [f"uname: {f.kernel}"]  # the probe runs on Linux only
    for p in bundle.pastes:
        if f.os_family is None and (fam := paste_blocks.os_family(p)) is not None:
            f.os_family, f.os_family_evidence = fam
        if (libs := paste_blocks.cuda_libs_resolved(p)) is not None:
            f.cuda_libs_resolved = (f.cuda_libs_resolved or []) + libs
    f.wsl = os_info.wsl_from_kernel(f.kernel)
    if f.wsl:
        f.wsl_evidence.append(f"kernel {f.kernel}")
    if f.wsl is None:
        for p in bundle.pastes:
            wsl, ev = os_info.scan_wsl_markers(p)
            if wsl is not None:
                f.wsl, f.wsl_evidence = wsl, ev
                break


def _shm(bundle: Bundle, f: SystemFacts) -> None:
    readings: list[shm.ShmReading] = []
    t = section_text(bundle, "df_shm")
    if t:
        readings = shm.shm_from_df(t, "df -k /dev/shm")
    if not readings:
        t = section_text(bundle, "mounts")
        r = shm.shm_from_mounts(t) if t else None
        if r and r.size_bytes is not None:
            readings = [r]
    if not readings:
        for p in bundle.pastes:
            readings += shm.shm_from_df(p, "pasted df")
        if not readings:
            for p in bundle.pastes:
                r = shm.shm_from_mounts(p)
                if r and r.size_bytes is not None:
                    readings.append(r)
    sized = [r for r in readings if r.size_bytes is not None]
    if sized:
        best = min(sized, key=lambda r: r.size_bytes)
        f.shm_size_bytes, f.shm_used_bytes = best.size_bytes, best.used_bytes
        f.shm_filesystem, f.shm_source = best.filesystem, best.source
        f.shm_evidence = [best.line] + [r.line for r in sized if r.line != best.line]
    others = [line for p in bundle.pastes for line in shm.container_shm_mounts(p)]
    f.container_shm_mounts = others or None


def _memlock(bundle: Bundle, f: SystemFacts) -> None:
    t = section_text(bundle, "limits")
    reading = limits.memlock_from_proc_limits(t) if t else None
    if reading is None:
        for p in bundle.pastes:
            r = limits.memlock_from_proc_limits(p) or limits.scan_ulimit(p)
            if r is None:
                continue
            if reading is None:
                reading = r
                continue
            if reading.soft is None and r.soft is not None:
                reading.soft, reading.lines = r.soft, reading.lines + r.lines
            if reading.hard is None and r.hard is not None:
                reading.hard, reading.lines = r.hard, reading.lines + r.lines
    if reading is not None:
        f.memlock_soft_bytes, f.memlock_hard_bytes = reading.soft, reading.hard
        f.memlock_source, f.memlock_evidence = reading.source, reading.lines
        f.memlock_scope = reading.scope if reading.scope == "container" else None
        if reading.host is not None:  # the host's own, kept apart: the container's limit is the one that applies
            f.memlock_host_soft_bytes, f.memlock_host_hard_bytes = reading.host.soft, reading.host.hard
            f.memlock_host_evidence = reading.host.lines


def _container(bundle: Bundle, f: SystemFacts) -> None:
    det = container_detect.detect(section_text(bundle, "container_markers"), section_text(bundle, "environment"))
    if det.in_container is None:
        for p in bundle.pastes:
            d = container_detect.scan_pasted_cgroup(p)
            if d.in_container:
                det = d
                break
    f.in_container, f.container_kind, f.container_evidence = det.in_container, det.kind, det.evidence


def build_system_facts(bundle: Bundle) -> SystemFacts:
    f = SystemFacts()
    _os(bundle, f)
    _shm(bundle, f)
    _memlock(bundle, f)
    _container(bundle, f)
    return f
