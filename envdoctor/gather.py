"""Gathering: send the probe over a transport in one round trip and get a Bundle back."""

from __future__ import annotations

import json

from pydantic import ValidationError

from envdoctor.bundle import Bundle, Section
from envdoctor.models import HostStatus
from envdoctor.probe import SOURCE as PROBE_SOURCE
from envdoctor.transport.base import Transport, TransportError

DEFAULT_TIMEOUT = 180.0  # the probe's own commands time out sooner (torch import: 120 s)


def gather(transport: Transport, python: str = "python3", timeout: float = DEFAULT_TIMEOUT,
           host: str | None = None, no_torch: bool = False) -> Bundle:
    """Run the probe with the target's `python` (stdin carries the script). Raises TransportError
    when the host cannot be reached, the interpreter is missing, or the probe times out."""
    argv = [python, "-"] + (["--no-torch"] if no_torch else [])
    res = transport.run(argv, stdin=PROBE_SOURCE.encode(), timeout=timeout)
    if res.timed_out:
        raise TransportError(HostStatus.TIMEOUT, f"the probe ran past {timeout:.0f} s")
    if res.rc == 127 or (res.rc != 0 and "not found" in res.stderr and not res.stdout):
        raise TransportError(HostStatus.ERROR, f"{python} not found on the target: {res.stderr.strip()[:200]}")
    try:
        doc = json.loads(res.stdout)
    except ValueError:
        tail = (res.stderr.strip() or res.stdout.strip())[-300:]
        raise TransportError(HostStatus.ERROR, f"the probe failed (exit {res.rc}): {tail}") from None
    try:  # a hostile or broken target's answer is validated like a bundle's manifest (names, types)
        sections = {n: Section(**s) for n, s in doc.get("sections", {}).items()}
        return Bundle(host=host or transport.name, probe_version=doc.get("probe_version"), sections=sections)
    except (ValidationError, TypeError, AttributeError) as e:
        raise TransportError(HostStatus.ERROR, f"the probe's answer is malformed: {str(e).splitlines()[0][:200]}") from None
