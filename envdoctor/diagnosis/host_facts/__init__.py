"""A Bundle to the host's typed facts: each domain's builder reads its probe sections when present and
otherwise scans the pastes for the blocks it recognises (so `check --from paste.txt` works with the same
code). No I/O here."""

from __future__ import annotations

from envdoctor.diagnosis.bundle import Bundle
from envdoctor.diagnosis.host_facts.container import build_container_facts
from envdoctor.diagnosis.host_facts.diagnosis import build_diagnosis_facts
from envdoctor.diagnosis.host_facts.gpu import build_gpu_facts
from envdoctor.diagnosis.host_facts.security import build_security_facts
from envdoctor.diagnosis.host_facts.system import build_system_facts
from envdoctor.diagnosis.host_facts.torch import build_cuda_env_facts, build_torch_facts
from envdoctor.facts import HostFacts


def facts_from_bundle(bundle: Bundle) -> HostFacts:
    sources = sorted(n for n, s in bundle.sections.items() if s.error is None) + (["paste"] if bundle.pastes else [])
    facts = HostFacts(
        host=bundle.host,
        gpu=build_gpu_facts(bundle),
        torch=build_torch_facts(bundle),
        cuda_env=build_cuda_env_facts(bundle),
        system=build_system_facts(bundle),
        container=build_container_facts(bundle),
        security=build_security_facts(bundle),
        sources=sources,
    )
    facts.diagnosis = build_diagnosis_facts(bundle, facts)
    return facts
