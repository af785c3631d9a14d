"""The facts use case: the evidence of this machine (or of a saved bundle or paste), as typed facts, as
its raw sections, or saved as a bundle that `check --from` diagnoses on any machine."""

from __future__ import annotations

from pathlib import Path

from envdoctor.app import Phase, no_phase
from envdoctor.app.reach import Reach
from envdoctor.diagnosis.bundle import Bundle
from envdoctor.diagnosis.gather import gather
from envdoctor.diagnosis.host_facts import facts_from_bundle
from envdoctor.facts import HostFacts
from envdoctor.hosts.transport import LocalTransport


def collect(reach: Reach, from_path: Path | None = None, phase: Phase = no_phase) -> Bundle:
    """The saved evidence at `from_path`, else gathered from this machine (the Reach is this machine's;
    a TransportError says why it could not be)."""
    if from_path:
        return Bundle.load(from_path)
    target = reach.targets[0]
    with phase("gathering the facts of this machine"):
        # named by this machine's host name: a saved bundle is read elsewhere, where "localhost" is another
        return gather(LocalTransport(), python=target.interpreter(reach.python), host=target.name)


def facts_of(bundle: Bundle) -> HostFacts:
    return facts_from_bundle(bundle)


def raw_sections(bundle: Bundle) -> dict:
    """The bundle as it was gathered: each section's command output, and the pastes and unread files."""
    return {n: s.model_dump() for n, s in bundle.sections.items()} | (
        {"pastes": bundle.pastes} if bundle.pastes else {}) | ({"unread": bundle.unread} if bundle.unread else {})
