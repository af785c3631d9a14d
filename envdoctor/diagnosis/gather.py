"""Gathering: send the probe over a transport in one round trip and get a Bundle back."""

from __future__ import annotations

import json

from pydantic import ValidationError

from envdoctor import probe
from envdoctor.diagnosis.bundle import Bundle, Section
from envdoctor.hosts.transport.base import MAX_OUTPUT_BYTES, ConnectionClosed, OutputTooLarge, Transport, TransportError
from envdoctor.models import HostStatus

DEFAULT_TIMEOUT = 180.0  # the probe's own commands time out sooner (torch import: 120 s)
MIN_PYTHON = (3, 6)
TOO_OLD = 86  # the bootstrap's exit code for an interpreter older than MIN_PYTHON

# Run as `python -c BOOTSTRAP`: it must parse on any Python (2.x included, so no f-strings, no print
# statement), say the version when it is too old, and otherwise run the probe read from stdin.
BOOTSTRAP = (
    "import sys\n"
    "if sys.version_info[:2] < (%d, %d):\n"
    "    sys.stderr.write('envdoctor-python %%d.%%d\\n' %% tuple(sys.version_info[:2]))\n"
    "    sys.exit(%d)\n"
    "src = sys.stdin.buffer.read()\n"
    "sys.argv = ['-'] + sys.argv[1:]\n"
    "exec(compile(src, '<envdoctor-probe>', 'exec'), {'__name__': '__main__'})\n"
) % (MIN_PYTHON + (TOO_OLD,))


def gather(transport: Transport, python: str = "python3", timeout: float = DEFAULT_TIMEOUT,
           host: str | None = None, no_torch: bool = False, argv: list[str] | None = None) -> Bundle:
    """Run the probe with the target's `python` (stdin carries the script, the controller's vocabulary written
    into it: envdoctor.probe.SOURCE; `argv`: the interpreter as words, e.g. ["/usr/bin/env", "python3"]). Raises
    TransportError when the host cannot be reached, the interpreter is missing or too old, the probe times out,
    writes too much, or the host hangs up."""
    cmd = (argv or [python]) + ["-c", BOOTSTRAP] + (["--no-torch"] if no_torch else [])
    try:
        res = transport.run(cmd, stdin=probe.SOURCE.encode(), timeout=timeout)
    except OutputTooLarge:
        raise TransportError(HostStatus.ERROR, f"{python} wrote more than {MAX_OUTPUT_BYTES >> 20} MiB instead of the "
                                               f"probe's report; it was stopped (is it a Python interpreter?)") from None
    except ConnectionClosed:
        raise TransportError(HostStatus.UNREACHABLE, "connection closed by the host during the probe") from None
    if res.timed_out:
        raise TransportError(HostStatus.TIMEOUT, f"the probe ran past {timeout:.0f} s")
    if res.rc == TOO_OLD and "envdoctor-python " in res.stderr:
        found = res.stderr.split("envdoctor-python ", 1)[1].split()[0]
        raise TransportError(HostStatus.ERROR, f"needs Python ≥ {MIN_PYTHON[0]}.{MIN_PYTHON[1]} on the target, "
                                               f"found {found} ({python})")
    if res.rc == 127 or (res.rc != 0 and "not found" in res.stderr and not res.stdout):
        raise TransportError(HostStatus.ERROR, f"{python} not found on the target: {res.stderr.strip()[:200]}")
    try:
        doc = json.loads(res.stdout)
    except ValueError:
        tail = (res.stderr.strip() or res.stdout.strip())[-300:]
        how = f"exit {res.rc}" if res.rc != -1 else "ended without an exit status: killed by a signal?"
        raise TransportError(HostStatus.ERROR, f"the probe failed ({how}): {tail}") from None
    try:  # a hostile or broken target's answer is validated like a bundle's manifest (names, types)
        sections = {n: Section(**s) for n, s in doc.get("sections", {}).items()}
        return Bundle(host=host or transport.name, probe_version=doc.get("probe_version"), sections=sections)
    except (ValidationError, TypeError, AttributeError) as e:
        raise TransportError(HostStatus.ERROR, f"the probe's answer is malformed: {str(e).splitlines()[0][:200]}") from None
