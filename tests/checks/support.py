"""Helpers shared by the check tests: run one check on facts, facts from real pastes or raw sections."""

from __future__ import annotations

from envdoctor.diagnosis.bundle import Bundle, Section
from envdoctor.diagnosis.catalog import get_check
from envdoctor.diagnosis.host_facts import facts_from_bundle
from envdoctor.facts import HostFacts
from envdoctor.models import CheckResult
from tests.corpus import constructed_body, corpus_body


def run(check_id: str, facts: HostFacts) -> CheckResult:
    """One check of the built-in catalog on `facts`; a crashing check prints its traceback."""
    return get_check(check_id).run(facts, debug=True)


def paste(*rels: str, constructed: tuple[str, ...] = ()) -> HostFacts:
    """Facts from real corpus outputs (and labelled constructed ones) pasted together, as `check --from`."""
    return facts_from_bundle(Bundle(pastes=[corpus_body(r) for r in rels] + [constructed_body(c) for c in constructed]))


def text_paste(text: str) -> HostFacts:
    return facts_from_bundle(Bundle(pastes=[text]))


def sec(stdout: str = "", rc: int = 0, error: str | None = None, cmd: str = "") -> Section:
    """A probe section: `error` set means the command could not run (no exit status)."""
    return Section(cmd=cmd, rc=rc if error is None else None, stdout=stdout, error=error)
