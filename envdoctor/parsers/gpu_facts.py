"""Build GpuFacts from a bundle. (Skeleton: the gpu domain fills this in.)"""

from __future__ import annotations

from envdoctor.bundle import Bundle
from envdoctor.facts.gpu import GpuFacts


def build_gpu_facts(bundle: Bundle) -> GpuFacts:
    return GpuFacts()
