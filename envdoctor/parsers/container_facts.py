"""Build ContainerFacts from a bundle. (Skeleton: the container domain fills this in.)"""

from __future__ import annotations

from envdoctor.bundle import Bundle
from envdoctor.facts.container import ContainerFacts


def build_container_facts(bundle: Bundle) -> ContainerFacts:
    return ContainerFacts()
