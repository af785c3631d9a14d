"""The probe and the proof script as the controller sends them (their VOCABULARY line filled in from the
data files), loaded as modules: tests of their functions see what a target runs, not the bare file."""

from __future__ import annotations

import types

from envdoctor.probe import SOURCE as PROBE_SOURCE
from envdoctor.proof import SOURCE as PROOF_SOURCE


def _module(name: str, source: str) -> types.ModuleType:
    mod = types.ModuleType(name)
    exec(compile(source, f"<{name}>", "exec"), mod.__dict__)  # noqa: S102 - our own script, as sent
    return mod


def sent_probe(name: str = "envdoctor_probe_as_sent") -> types.ModuleType:
    return _module(name, PROBE_SOURCE)


def sent_proof(name: str = "envdoctor_proof_as_sent") -> types.ModuleType:
    return _module(name, PROOF_SOURCE)
