"""The application layer: one module per use case, from targets to typed results. The CLI parses
options, calls a use case and renders what it returns; it decides nothing about hosts or results."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import ContextManager

from envdoctor.models import Report
from envdoctor.redact import redact_obj

# A slow phase of a use case, by what it does ("gathering the facts of gpu01"): the CLI shows it (a live
# line on a terminal, a plain line in a log) or not at all; the use case only names it.
Phase = Callable[[str], ContextManager[None]]


def no_phase(what: str) -> ContextManager[None]:
    return contextlib.nullcontext()


def redacted(report: Report) -> Report:
    """The report with every secret hidden: what is printed, written or sent to Slurm is this, never the
    original. Evidence was redacted as it was collected; this second pass covers what checks and the proof
    added."""
    doc = redact_obj(report.model_dump(mode="json"))
    if report.fleet is not None and report.fleet.counts is not None:
        doc["fleet"]["counts"] = report.fleet.counts  # hosts per status: "auth-failed" is a status, not a secret
    return Report.model_validate(doc)
