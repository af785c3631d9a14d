"""Build SystemFacts from a bundle. (Skeleton: the system domain fills this in.)"""

from __future__ import annotations

from envdoctor.bundle import Bundle
from envdoctor.facts.system import SystemFacts


def build_system_facts(bundle: Bundle) -> SystemFacts:
    return SystemFacts()
