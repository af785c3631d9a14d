"""Pure parsers for nvidia-smi outputs, found anywhere in a text (a probe section or a user's paste).

Each `find_*` function scans a text for the blocks of one layout and returns what it parsed:
the default table, `-q`, `-q -x` (XML), `--query-gpu=... --format=csv`, `-L`, `--version`, and the
error lines nvidia-smi/NVML print when the driver is broken. Nothing here does I/O.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from envdoctor.facts.gpu import GpuInfo
from envdoctor.knowledge import load, signatures


@dataclass
class SmiBlock:
    """What one nvidia-smi output said: its GPUs and the driver-wide header values."""

    source: str  # "nvidia-smi -q -x", "nvidia-smi -q", "nvidia-smi", "nvidia-smi --query-gpu", "nvidia-smi -L"
    gpus: list[GpuInfo] = field(default_factory=list)
    driver_version: str | None = None
    cuda_version: str | None = None
    smi_version: str | None = None
    attached_gpus: int | None = None


# --- small value helpers ---------------------------------------------------------------------

_NA = {"", "n/a", "[n/a]", "na", "none", "[not supported]", "not supported", "unknown error", "[unknown error]"}


def _clean(v: str | None) -> str | None:
    if v is None:
        return None
    v = v.strip()
    if v.lower() in _NA or v.lower().startswith(("[requested functionality", "requested functionality")):
        return None
    return v


def _int(v: str | None) -> int | None:
    v = _clean(v)
    if v is None:
        return None
    m = re.match(r"^[-+]?\d+", v)
    return int(m.group()) if m else None


def _float(v: str | None) -> float | None:
    v = _clean(v)
    if v is None:
        return None
    m = re.match(r"^[-+]?\d+(\.\d+)?", v)
    return float(m.group()) if m else None


def _mig_mode(v: str | None) -> bool | None:
    """MIG mode; "N/A" means the GPU has no MIG, so MIG is not enabled (a missing field stays unknown)."""
    if v is not None and v.strip().lower() in ("n/a", "[n/a]"):
        return False
    return _bool(v)


def _bool(v: str | None) -> bool | None:
    v = _clean(v)
    if v is None:
        return None
    low = v.lower()
    if low in ("enabled", "on", "yes", "active", "true"):
        return True
    if low in ("disabled", "off", "no", "not active", "false"):
        return False
    return None


def _version(v: str | None) -> str | None:
    """'610.57.04 [Deprecated; ...]' -> '610.57.04'."""
    v = _clean(v)
    if v is None:
        return None
    m = re.match(r"^\d+(\.\d+)+", v)
    return m.group() if m else None


def _device_id(v: str | None) -> str | None:
    """'0x233010DE' (device<<16 | vendor) -> '2330'."""
    v = _clean(v)
    if not v:
        return None
    h = v.lower().removeprefix("0x")
    return h[:4] if len(h) == 8 and h.endswith("10de") else None


def normalize_bus_id(bus: str | None) -> str | None:
    """'00000000:01:00.0' / '0000:01:00.0' / '01:00.0' / 'PCI:0000:9b:00' -> '0000:01:00.0' (lowercase)."""
    if not bus:
        return None
    b = bus.strip().lower().removeprefix("pci:")
    m = re.match(r"^(?:([0-9a-f]{4,8}):)?([0-9a-f]{2}):([0-9a-f]{2})(?:\.([0-9a-f]))?$", b)
    if not m:
        return b
    dom = (m.group(1) or "0000")[-4:]
    return f"{dom}:{m.group(2)}:{m.group(3)}.{m.group(4) or '0'}"


def is_datacenter(name: str | None, brand: str | None = None) -> bool | None:
    """Data-center part by brand or product name (envdoctor/data/datacenter_gpus.yaml)."""
    if not name and not brand:
        return None
    data = load("datacenter_gpus")
    if brand and brand in data["brands"]:
        return True
    words = set(re.findall(r"[A-Za-z0-9]+", name or ""))
    if words & set(data["not_if"]):
        return False
    if words & set(data["name_words"]):
        return True
    return False if name and "..." not in name else None


def _finish(g: GpuInfo) -> GpuInfo:
    if g.datacenter is None:
        g.datacenter = is_datacenter(g.name, g.product_brand)
    return g


# --- errors ----------------------------------------------------------------------------------

# Which failure a line shows is the knowledge base's call (data/signatures/), not this parser's: a line
# is an error line when a signature's pattern matches it, and its kind is named after that signature.
# The kinds are the coarse handles host_facts/gpu.py turns into typed flags (mismatch, lost GPU, CUDA 802...).
_KIND_OF_SIGNATURE = {
    "smi_cannot_communicate": "no_driver_comm",
    "nvml_library_mismatch": "mismatch",
    "nvrm_api_mismatch": "mismatch",
    "nvml_unknown_error": "nvml_init",
    "nvml_no_permission": "nvml_init",
    "gpu_fallen_off_bus": "lost",
    "smi_no_devices": "no_devices",
    "torch_no_driver": "no_driver",
    "nvml_lib_not_found": "no_library",
    "cuda_system_not_ready_802": "cuda_system_not_ready_802",  # host_facts/gpu.py flags it by the id
}
# The shell saying the program is not there (bash, dash, cmd.exe, PowerShell): a fact about the
# binary (nvidia_smi_available), not a failure message to classify.
_NO_SUCH_COMMAND = re.compile(r"nvidia-smi(?:\.exe)?: (?:command )?not found|'nvidia-smi(?:\.exe)?' is not recognized as|"
                              r"The term 'nvidia-smi(?:\.exe)?' is not recognized", re.I)


def _error_patterns() -> list[tuple[str, list]]:
    kb = signatures()
    return [(kind, list(zip(kb.compiled.get(sid, []), kb.needles.get(sid, []))))
            for sid, kind in _KIND_OF_SIGNATURE.items() if sid in kb.compiled]


def find_errors(text: str) -> list[tuple[str, str]]:
    """(kind, verbatim line) for every line of the text that a GPU/driver signature of the knowledge
    base recognises, or where the shell says nvidia-smi is not installed ("no_smi")."""
    low = text.lower()
    live = []  # only the patterns whose needle is in the text: most texts hold no error at all
    for kind, pats in _error_patterns():
        keep = [p for p, word in pats if word is None or word in low]
        if keep:
            live.append((kind, keep))
    missing = "nvidia-smi" in low and _NO_SUCH_COMMAND.search(text) is not None
    out = []
    if not live and not missing:
        return out
    for line in text.splitlines():
        if missing and _NO_SUCH_COMMAND.search(line):
            out.append(("no_smi", line.strip()))
            continue
        kind = next((k for k, pats in live if any(p.search(line) for p in pats)), None)
        if kind == "lost" and "NVRM:" in line:
            continue  # the kernel's own line: host_facts/gpu.py reads it with the kernel log (fallen_off_bus)
        if kind:
            out.append((kind, line.strip()))
    return out


def find_nvml_library_version(text: str) -> str | None:
    """Newer nvidia-smi prints 'NVML library version: 535.129' after a version mismatch."""
    m = re.search(r"NVML library version:\s*(\d+(?:\.\d+)+)", text)
    return m.group(1) if m else None


# --- XML (-q -x) -----------------------------------------------------------------------------

_XML_BLOCK = re.compile(r"<nvidia_smi_log>.*?</nvidia_smi_log>", re.S)


def _x(el: ET.Element | None, path: str) -> str | None:
    if el is None:
        return None
    found = el.find(path)
    return found.text if found is not None and found.text is not None else None


def _xml_gpu(g: ET.Element) -> GpuInfo:
    info = GpuInfo(source="nvidia-smi -q -x")
    info.name = _clean(_x(g, "product_name"))
    info.product_brand = _clean(_x(g, "product_brand"))
    info.architecture = _clean(_x(g, "product_architecture"))
    info.uuid = _clean(_x(g, "uuid"))
    info.pci_bus_id = _clean(_x(g, "pci/pci_bus_id")) or g.get("id")
    info.pci_device_id = _device_id(_x(g, "pci/pci_device_id"))
    info.persistence_mode = _bool(_x(g, "persistence_mode"))
    info.driver_model = _clean(_x(g, "driver_model/current_dm"))
    info.mig_mode_current = _mig_mode(_x(g, "mig_mode/current_mig"))
    info.mig_mode_pending = _mig_mode(_x(g, "mig_mode/pending_mig"))
    migs = g.find("mig_devices")
    if migs is not None:
        info.mig_devices = len(migs.findall("mig_device"))
    info.memory_total_mib = _int(_x(g, "fb_memory_usage/total"))
    info.memory_used_mib = _int(_x(g, "fb_memory_usage/used"))
    info.utilization_pct = _int(_x(g, "utilization/gpu_util"))
    info.temperature_c = _int(_x(g, "temperature/gpu_temp"))
    info.max_operating_temp_c = _int(_x(g, "temperature/gpu_temp_max_gpu_threshold"))
    power = g.find("gpu_power_readings")
    if power is None:
        power = g.find("power_readings")
    info.power_draw_w = _float(_x(power, "power_draw")) or _float(_x(power, "instant_power_draw")) \
        or _float(_x(power, "average_power_draw"))
    info.power_limit_w = _float(_x(power, "current_power_limit")) or _float(_x(power, "power_limit")) \
        or _float(_x(power, "enforced_power_limit"))
    info.performance_state = _clean(_x(g, "performance_state"))
    info.ecc_mode_current = _bool(_x(g, "ecc_mode/current_ecc"))
    vol = g.find("ecc_errors/volatile")
    if vol is not None:
        counts = {c.tag: _int(c.text) for c in vol if "uncorr" in c.tag or c.tag.endswith("_uncorrectable")}
        known = {k: v for k, v in counts.items() if v is not None}
        if known:
            info.ecc_uncorrected_volatile = sum(known.values())
            info.ecc_uncorrected_volatile_lines = [f"volatile {k} = {v}" for k, v in known.items() if v]
    agg = g.find("ecc_errors/aggregate")
    if agg is not None:
        known = [_int(c.text) for c in agg if "uncorr" in c.tag]
        known = [v for v in known if v is not None]
        if known:
            info.ecc_uncorrected_aggregate = sum(known)
    info.retired_pages_pending = _bool(_x(g, "retired_pages/pending_retirement"))
    info.retired_pages_dbe = _int(_x(g, "retired_pages/double_bit_retirement/retired_count"))
    rr = g.find("remapped_rows")
    if rr is not None and len(rr):
        info.remapped_rows_pending = _bool(_x(rr, "remapped_row_pending"))
        info.remapped_rows_failure = _bool(_x(rr, "remapped_row_failure"))
    reasons = g.find("clocks_event_reasons")
    if reasons is None:
        reasons = g.find("clocks_throttle_reasons")
    if reasons is not None:
        active = []
        for r in reasons:
            if _bool(r.text):
                tag = re.sub(r"^clocks_(event|throttle)_reason_", "", r.tag)
                tag = {"display_clock_setting": "display_clocks_setting"}.get(tag, tag)
                active.append(_reason_names().get(tag, tag))
        info.throttle_reasons_active = active
    link = g.find("pci/pci_gpu_link_info")
    info.pcie_gen_max = _int(_x(link, "pcie_gen/max_link_gen"))
    info.pcie_gen_current = _int(_x(link, "pcie_gen/current_link_gen"))
    info.pcie_gen_host_max = _int(_x(link, "pcie_gen/max_host_link_gen"))
    info.pcie_width_max = _int(_x(link, "link_widths/max_link_width"))
    info.pcie_width_current = _int(_x(link, "link_widths/current_link_width"))
    info.fabric_state = _clean(_x(g, "fabric/state"))
    info.fabric_status = _clean(_x(g, "fabric/status"))
    return _finish(info)


def _reason_names() -> dict[str, str]:
    """'hw_slowdown' -> 'HW Slowdown' (envdoctor/data/clock_event_reasons.yaml)."""
    return {r["key"]: r["name"] for r in load("clock_event_reasons")["reasons"]}


def decode_reasons(mask: str | None) -> tuple[list[str], str | None] | None:
    """'0x0000000000000028' -> (['HW Slowdown', 'SW Thermal Slowdown'], None); bits NVML's table does not
    name come back as a hex string. None when the value is not a hex mask (N/A, [Not Supported])."""
    v = _clean(mask)
    if not v or not re.fullmatch(r"0[xX][0-9a-fA-F]+", v):
        return None
    bits = int(v, 16)
    names, known = [], 0
    for r in load("clock_event_reasons")["reasons"]:
        known |= r["bit"]
        if bits & r["bit"]:
            names.append(r["name"])
    rest = bits & ~known
    return names, (hex(rest) if rest else None)




def find_xml(text: str) -> list[SmiBlock]:
    out = []
    for m in _XML_BLOCK.finditer(text):
        try:
            root = ET.fromstring(m.group())
        except ET.ParseError:
            continue  # a paste cut in the middle: the other layouts may still be found
        blk = SmiBlock("nvidia-smi -q -x")
        blk.driver_version = _version(_x(root, "driver_version"))
        blk.cuda_version = _version(_x(root, "cuda_version"))
        blk.attached_gpus = _int(_x(root, "attached_gpus"))
        blk.gpus = [_xml_gpu(g) for g in root.findall("gpu")]
        for i, g in enumerate(blk.gpus):  # nvidia-smi numbers GPUs in the order it lists them
            g.index = i
        out.append(blk)
    return out


# --- -q (text) -------------------------------------------------------------------------------


class _Node:
    __slots__ = ("key", "value", "children")

    def __init__(self, key: str, value: str | None = None):
        self.key, self.value, self.children = key, value, []

    def get(self, *path: str) -> str | None:
        n = self.node(*path)
        return n.value if n is not None else None

    def node(self, *path: str) -> "_Node | None":
        cur = self
        for p in path:
            cur = next((c for c in cur.children if c.key == p), None)
            if cur is None:
                return None
        return cur

    def all(self, key: str) -> list["_Node"]:
        return [c for c in self.children if c.key == key]


_Q_LINE = re.compile(r"^(\s*)(\S[^:]*?)\s*(?::\s?(.*))?$")
_Q_GPU = re.compile(r"^GPU ([0-9A-Fa-f]{4,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.[0-9A-Fa-f])\s*$")


def _q_tree(lines: list[str]) -> _Node:
    root = _Node("")
    stack: list[tuple[int, _Node]] = [(-1, root)]
    for line in lines:
        if not line.strip():
            continue
        m = _Q_LINE.match(line.rstrip())
        if not m:
            continue
        indent = len(m.group(1).expandtabs())
        node = _Node(m.group(2).strip(), m.group(3).strip() if m.group(3) is not None else None)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack[-1][1].children.append(node)
        stack.append((indent, node))
    return root


def _q_gpu(bus: str, n: _Node) -> GpuInfo:
    info = GpuInfo(source="nvidia-smi -q", pci_bus_id=bus)
    info.name = _clean(n.get("Product Name"))
    info.product_brand = _clean(n.get("Product Brand"))
    info.architecture = _clean(n.get("Product Architecture"))
    info.uuid = _clean(n.get("GPU UUID"))
    info.pci_device_id = _device_id(n.get("PCI", "Device Id"))
    info.persistence_mode = _bool(n.get("Persistence Mode"))
    info.driver_model = _clean(n.get("Driver Model", "Current"))
    info.mig_mode_current = _mig_mode(n.get("MIG Mode", "Current"))
    info.mig_mode_pending = _mig_mode(n.get("MIG Mode", "Pending"))
    if info.mig_mode_current is not None or n.all("MIG Device"):
        info.mig_devices = len(n.all("MIG Device"))
    info.memory_total_mib = _int(n.get("FB Memory Usage", "Total"))
    info.memory_used_mib = _int(n.get("FB Memory Usage", "Used"))
    info.utilization_pct = _int(n.get("Utilization", "GPU"))
    info.temperature_c = _int(n.get("Temperature", "GPU Current Temp"))
    info.max_operating_temp_c = _int(n.get("Temperature", "GPU Max Operating Temp"))
    pw = n.node("GPU Power Readings") or n.node("Power Readings")
    if pw is not None:
        info.power_draw_w = _float(pw.get("Instantaneous Power Draw")) or _float(pw.get("Power Draw")) \
            or _float(pw.get("Average Power Draw"))
        info.power_limit_w = _float(pw.get("Current Power Limit")) or _float(pw.get("Power Limit"))
    info.performance_state = _clean(n.get("Performance State"))
    info.ecc_mode_current = _bool(n.get("ECC Mode", "Current"))
    vol = n.node("ECC Errors", "Volatile")
    if vol is not None:
        unc = {c.key: _int(c.value) for c in vol.children if "Uncorr" in c.key or "Double Bit" in c.key}
        known = {k: v for k, v in unc.items() if v is not None}
        if known:
            info.ecc_uncorrected_volatile = sum(known.values())
            info.ecc_uncorrected_volatile_lines = [f"Volatile {k} : {v}" for k, v in known.items() if v]
    agg = n.node("ECC Errors", "Aggregate")
    if agg is not None:
        known = [_int(c.value) for c in agg.children if "Uncorr" in c.key]
        known = [v for v in known if v is not None]
        if known:
            info.ecc_uncorrected_aggregate = sum(known)
    pending = _bool(n.get("Retired Pages", "Pending Page Retirement"))
    info.retired_pages_pending = pending if pending is not None else _bool(n.get("Retired Pages", "Pending Page Blacklist"))
    info.retired_pages_dbe = _int(n.get("Retired Pages", "Double Bit ECC"))
    rr = n.node("Remapped Rows")
    if rr is not None and rr.children:
        info.remapped_rows_pending = _bool(rr.get("Pending"))
        info.remapped_rows_failure = _bool(rr.get("Remapping Failure Occurred"))
    reasons = n.node("Clocks Event Reasons") or n.node("Clocks Throttle Reasons")
    if reasons is not None:
        active = []

        def walk(node: _Node):
            for c in node.children:
                if _bool(c.value):
                    active.append(_Q_REASON.get(c.key, c.key))
                walk(c)

        walk(reasons)
        info.throttle_reasons_active = active
    link = n.node("PCI", "GPU Link Info")
    if link is not None:
        info.pcie_gen_max = _int(link.get("PCIe Generation", "Max"))
        info.pcie_gen_current = _int(link.get("PCIe Generation", "Current"))
        info.pcie_gen_host_max = _int(link.get("PCIe Generation", "Host Max"))
        info.pcie_width_max = _int(link.get("Link Width", "Max"))
        info.pcie_width_current = _int(link.get("Link Width", "Current"))
    info.fabric_state = _clean(n.get("Fabric", "State"))
    info.fabric_status = _clean(n.get("Fabric", "Status"))
    return _finish(info)


_Q_REASON = {"GPU Idle": "Idle"}  # older drivers' wording; the others match the names used everywhere


def find_q(text: str) -> list[SmiBlock]:
    out = []
    lines = text.splitlines()
    starts = [i for i, l in enumerate(lines) if "NVSMI LOG" in l]
    for s in starts:
        body = []
        for line in lines[s + 1:]:
            if "NVSMI LOG" in line:
                break
            # the block ends at a line a -q output cannot hold (a shell prompt, another tool's output)
            if line.strip() and not line[0].isspace() and not _Q_GPU.match(line.strip()) and " : " not in line \
                    and not re.match(r"^\S[^:]*\s:\s*", line):
                break
            body.append(line)
        tree = _q_tree(body)
        blk = SmiBlock("nvidia-smi -q")
        blk.driver_version = _version(tree.get("KMD Version")) or _version(tree.get("Driver Version"))
        blk.cuda_version = _version(tree.get("CUDA UMD Version")) or _version(tree.get("CUDA Version"))
        blk.attached_gpus = _int(tree.get("Attached GPUs"))
        for c in tree.children:
            m = _Q_GPU.match(c.key + (":" + c.value if c.value else ""))
            if m is None:
                m = re.match(r"^GPU ([0-9A-Fa-f:.]+)$", c.key)
            if m and c.children:
                blk.gpus.append(_q_gpu(m.group(1), c))
        for i, g in enumerate(blk.gpus):
            g.index = i
        out.append(blk)
    return out


# --- default table ---------------------------------------------------------------------------

_T_HEADER = re.compile(
    r"NVIDIA-SMI\s+(?P<smi>[\d.]+)\s+(?:Driver|KMD) Version:\s*(?P<drv>[\d.]+)"
    r"(?:\s+CUDA (?:UMD )?Version:\s*(?P<cuda>[\d.]+|N/A))?")
_BUS = r"[0-9A-Fa-f]{4,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.[0-9A-Fa-f]"
_T_ROW1 = re.compile(
    r"^\|\s*(?P<idx>\d+)\s+(?P<name>.+?)\s+(?P<pm>On|Off|WDDM|TCC)\s*\|\s*(?P<bus>" + _BUS + r")"
    r"\s+(?P<disp>\S+)\s*\|\s*(?P<ecc>\S+)\s*\|")
_T_ROW2 = re.compile(
    r"^\|\s*(?P<fan>\S+)\s+(?P<temp>\S+)\s+(?P<perf>\S+)\s+(?P<pw>\S+)\s*/\s*(?P<cap>\S+)\s*\|"
    r"\s*(?P<used>\d+)\s*(?:MiB|MB)\s*/\s*(?P<total>\d+)\s*(?:MiB|MB)\s*\|\s*(?P<util>\S+)(?:\s*%)?\s+(?P<cm>.+?)\s*\|")
_T_ROW3 = re.compile(r"^\|\s*\|\s*\|\s*(?P<mig>Enabled|Disabled|N/A)\s*\|")
_QUOTE = re.compile(r"^(?:>\s?)+")
_T_MIG_ROW = re.compile(r"^\|\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+\|")


def find_table(text: str) -> list[SmiBlock]:
    out = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        h = _T_HEADER.search(line)
        if not h:
            continue
        blk = SmiBlock("nvidia-smi")
        blk.smi_version = h.group("smi")
        blk.driver_version = h.group("drv")
        blk.cuda_version = h.group("cuda") if h.group("cuda") not in (None, "N/A") else None
        cur: GpuInfo | None = None
        in_mig, saw_processes, saw_mig_box = False, False, False
        mig_counts: dict[int, int] = {}
        for line2 in lines[i + 1:]:
            if _T_HEADER.search(line2):
                break
            s = _QUOTE.sub("", line2.strip())  # pasted indented or as a markdown quote
            if s and not s.lstrip().startswith(("|", "+")):
                if blk.gpus:  # a line outside the boxes ends the table (prompt, other output)
                    break
                continue
            r1 = _T_ROW1.match(s)
            if r1 and not in_mig:
                pm = {"On": True, "Off": False}.get(r1.group("pm"))  # Windows shows the driver model instead
                dm = r1.group("pm") if r1.group("pm") in ("WDDM", "TCC") else None
                cur = GpuInfo(source="nvidia-smi", index=int(r1.group("idx")), name=r1.group("name").strip(),
                              persistence_mode=pm, driver_model=dm, pci_bus_id=r1.group("bus"))
                cur.ecc_uncorrected_volatile = int(r1.group("ecc")) if r1.group("ecc").isdigit() else None
                blk.gpus.append(cur)
                continue
            r2 = _T_ROW2.match(s)
            if r2 and cur is not None and not in_mig:
                cur.temperature_c = _int(r2.group("temp").rstrip("C"))
                cur.performance_state = _clean(r2.group("perf"))
                cur.power_draw_w = _float(r2.group("pw").rstrip("W"))
                cur.power_limit_w = _float(r2.group("cap").rstrip("W"))
                cur.memory_used_mib = int(r2.group("used"))
                cur.memory_total_mib = int(r2.group("total"))
                cur.utilization_pct = _int(r2.group("util").rstrip("%"))
                continue
            r3 = _T_ROW3.match(s)
            if r3 and cur is not None and not in_mig:
                cur.mig_mode_current = _mig_mode(r3.group("mig"))
                continue
            if "MIG devices:" in s:
                in_mig, saw_mig_box = True, True
                continue
            if "Processes:" in s or "Compute processes:" in s:
                in_mig, saw_processes = False, True
                continue
            if in_mig:
                mm = _T_MIG_ROW.match(s)
                if mm:
                    mig_counts[int(mm.group(1))] = mig_counts.get(int(mm.group(1)), 0) + 1
        for g in blk.gpus:
            if g.mig_mode_current:
                # the MIG box lists the instances; a complete table (Processes box seen) without it has none
                if saw_mig_box or saw_processes:
                    g.mig_devices = mig_counts.get(g.index, 0)
            _finish(g)
        out.append(blk)
    return out


# --- --query-gpu CSV -------------------------------------------------------------------------

_CSV_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*(?: \[[^\]]+\])?$")
_CSV_GPU_KEYS = {"index", "name", "uuid", "pci.bus_id", "driver_version", "memory.total", "temperature.gpu",
                 "utilization.gpu", "persistence_mode", "pstate", "compute_cap", "count"}


def _csv_header(line: str) -> list[str] | None:
    fields = [f.strip() for f in line.split(",")]
    if len(fields) < 2 or not all(_CSV_FIELD.match(f) for f in fields):
        return None
    keys = [f.split(" [")[0] for f in fields]
    if "pid" in keys or "retired_pages.address" in keys or not (set(keys) & _CSV_GPU_KEYS):
        return None  # --query-compute-apps / --query-retired-pages: not a per-GPU table
    return keys


def _csv_gpu(row: dict[str, str]) -> GpuInfo:
    g = GpuInfo(source="nvidia-smi --query-gpu")
    g.index = _int(row.get("index"))
    g.name = _clean(row.get("name"))
    g.uuid = _clean(row.get("uuid"))
    g.pci_bus_id = _clean(row.get("pci.bus_id"))
    g.pci_device_id = _device_id(row.get("pci.device_id"))
    g.memory_total_mib = _int(row.get("memory.total"))
    g.memory_used_mib = _int(row.get("memory.used"))
    g.utilization_pct = _int(row.get("utilization.gpu"))
    g.temperature_c = _int(row.get("temperature.gpu"))
    g.power_draw_w = _float(row.get("power.draw"))
    g.power_limit_w = _float(row.get("power.limit"))
    g.compute_capability = _clean(row.get("compute_cap"))
    g.persistence_mode = _bool(row.get("persistence_mode"))
    g.driver_model = _clean(row.get("driver_model.current"))
    g.performance_state = _clean(row.get("pstate"))
    g.mig_mode_current = _mig_mode(row.get("mig.mode.current"))
    g.mig_mode_pending = _mig_mode(row.get("mig.mode.pending"))
    g.ecc_mode_current = _bool(row.get("ecc.mode.current"))
    g.ecc_uncorrected_volatile = _int(row.get("ecc.errors.uncorrected.volatile.total"))
    g.ecc_uncorrected_aggregate = _int(row.get("ecc.errors.uncorrected.aggregate.total"))
    if g.ecc_uncorrected_volatile:
        g.ecc_uncorrected_volatile_lines = [f"ecc.errors.uncorrected.volatile.total = {g.ecc_uncorrected_volatile}"]
    g.retired_pages_pending = _bool(row.get("retired_pages.pending"))
    g.retired_pages_dbe = _int(row.get("retired_pages.double_bit.count"))
    g.remapped_rows_pending = _bool(row.get("remapped_rows.pending"))
    g.remapped_rows_failure = _bool(row.get("remapped_rows.failure"))
    g.pcie_gen_current = _int(row.get("pcie.link.gen.current"))
    g.pcie_gen_max = _int(row.get("pcie.link.gen.max"))
    g.pcie_gen_host_max = _int(row.get("pcie.link.gen.hostmax"))
    g.pcie_width_current = _int(row.get("pcie.link.width.current"))
    g.pcie_width_max = _int(row.get("pcie.link.width.max"))
    reasons = {k.split(".", 1)[1]: v for k, v in row.items() if k.startswith("clocks_event_reasons.")
               or k.startswith("clocks_throttle_reasons.")}
    mask = reasons.get("active")
    reasons = {k: v for k, v in reasons.items() if k not in ("supported", "active")}
    if reasons:
        g.throttle_reasons_active = [_reason_names().get(k, k) for k, v in reasons.items() if _bool(v)]
    decoded = decode_reasons(mask)
    if decoded is not None:
        g.throttle_reasons_mask = _clean(mask)
        g.throttle_reasons_unknown_bits = decoded[1]
        if not reasons:  # the per-reason columns, where queried, say the same in words
            g.throttle_reasons_active = decoded[0]
    return _finish(g)


def find_query_csv(text: str) -> list[SmiBlock]:
    out = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        keys = _csv_header(lines[i].strip())
        if not keys:
            i += 1
            continue
        blk = SmiBlock("nvidia-smi --query-gpu")
        by_key: dict[str, GpuInfo] = {}
        j = i + 1
        while j < len(lines):
            vals = [v.strip() for v in lines[j].split(",")]
            if len(vals) != len(keys):
                break
            row = dict(zip(keys, vals))
            g = _csv_gpu(row)
            # a looping query (-l N) repeats the same GPU: the last sample wins
            by_key[str(g.index if g.index is not None else g.pci_bus_id or len(by_key))] = g
            blk.driver_version = blk.driver_version or _version(row.get("kmd_version")) or _version(row.get("driver_version"))
            j += 1
        blk.gpus = list(by_key.values())
        if blk.gpus:
            out.append(blk)
        i = j
    return out


# --- -L and --version ------------------------------------------------------------------------

_L_GPU = re.compile(r"^\s*(?:>\s?)*GPU (\d+): (.+?) \(UUID: (GPU-[0-9a-fA-F-]+)\)\s*$")
_L_MIG = re.compile(r"^\s+(MIG \S+\s+Device\s+\d+): \(UUID: (MIG-[0-9a-fA-F-]+)\)")


def find_list(text: str) -> list[SmiBlock]:
    blk = SmiBlock("nvidia-smi -L")
    cur = None
    for line in text.splitlines():
        m = _L_GPU.match(line.rstrip())
        if m:
            cur = _finish(GpuInfo(source="nvidia-smi -L", index=int(m.group(1)), name=m.group(2), uuid=m.group(3)))
            blk.gpus.append(cur)
            continue
        mm = _L_MIG.match(line)
        if mm and cur is not None:
            cur.mig_instances = (cur.mig_instances or []) + [re.sub(r"\s+", " ", mm.group(1))]
            cur.mig_devices = len(cur.mig_instances)
            cur.mig_mode_current = True
    return [blk] if blk.gpus else []


def find_version(text: str) -> dict[str, str]:
    """nvidia-smi --version: {"smi", "nvml", "driver", "cuda"} for the lines present."""
    if "NVIDIA-SMI version" not in text:
        return {}
    out = {}
    for key, pat in (("smi", r"NVIDIA-SMI version\s*:\s*([\d.]+)"), ("nvml", r"NVML version\s*:\s*([\d.]+)"),
                     ("driver", r"DRIVER version\s*:\s*([\d.]+)"), ("cuda", r"CUDA Version\s*:\s*([\d.]+)")):
        m = re.search(pat, text)
        if m:
            out[key] = m.group(1)
    return out


def find_all(text: str) -> list[SmiBlock]:
    """Every nvidia-smi block in a text, richest layouts first."""
    return find_xml(text) + find_q(text) + find_query_csv(text) + find_table(text) + find_list(text)
