"""Values computed from facts for playbooks to use as `derived.*` (pure functions of HostFacts): the
choices a YAML expression should not have to spell out, such as which CUDA toolkit the driver runs."""

from __future__ import annotations

from envdoctor.facts import HostFacts
from envdoctor.versions import release


def _major_minor(text: str | None) -> tuple[int, ...] | None:
    """"12.4.131" or "cuda-12.4" -> (12, 4); None without both numbers."""
    v = release(text)
    return v[:2] if v and len(v) >= 2 else None


def cuda_toolkit_for_driver(facts: HostFacts) -> str | None:
    """The newest installed /usr/local/cuda-X.Y whose version the driver supports (X.Y <= the driver's
    CUDA version), or None when the driver's CUDA version or the toolkits are not known."""
    driver = _major_minor(facts.gpu.cuda_driver_version)
    toolkits = facts.cuda_env.toolkits
    if driver is None or not toolkits:
        return None
    best = None
    for tk in toolkits:
        if tk.is_link or tk.path.rstrip("/") == "/usr/local/cuda":
            continue
        v = _major_minor(tk.version) or _major_minor(tk.path.rsplit("-", 1)[-1])
        if v is not None and v <= driver and (best is None or v > best[0]):
            best = (v, tk.path)
    return best[1] if best else None


def cuda_uses_alternatives(facts: HostFacts) -> bool:
    """NVIDIA's Debian/RPM packages point /usr/local/cuda at /etc/alternatives/cuda."""
    for tk in facts.cuda_env.toolkits or []:
        if tk.path.rstrip("/") == "/usr/local/cuda" and tk.link_target and "/etc/alternatives/" in tk.link_target:
            return True
    return False


def derived(facts: HostFacts | None) -> dict:
    if facts is None:
        return {}
    return {
        "cuda_toolkit_for_driver": cuda_toolkit_for_driver(facts),
        "cuda_uses_alternatives": cuda_uses_alternatives(facts),
    }
