"""Opening a host for fixes: one transport, the probe (facts and check results) and the fix helper
over that same transport. A host that cannot be reached is a HostSession with `remote=None`."""

from __future__ import annotations

from envdoctor.diagnosis.bundle import Bundle
from envdoctor.diagnosis.catalog import Check
from envdoctor.diagnosis.diagnose import report_from_bundle
from envdoctor.diagnosis.gather import DEFAULT_TIMEOUT, gather
from envdoctor.fixes.executor import HostSession
from envdoctor.fixes.remote import Remote, release
from envdoctor.hosts.targets import Target
from envdoctor.hosts.transport import Transport, TransportError, transport_for
from envdoctor.models import HostReport


class OpenHost:
    """A target with its transport kept open across plan, apply and verify."""

    def __init__(self, target: Target, python: str | None = None, timeout: float | None = None, **ssh_options):
        self.timeout = timeout or DEFAULT_TIMEOUT
        self.target = target
        self.python = target.interpreter(python)
        self.interpreter_argv = target.interpreter_argv(python)  # "/usr/bin/env python3" is two words
        self.ssh_options = ssh_options
        self.transport: Transport | None = None
        self.session = HostSession(name=target.name, remote=None, groups=list(getattr(target, "groups", []) or []),
                                   host_vars=dict(target.vars or {}))
        self.report: HostReport | None = None

    def open(self, checks: list[Check], gather_facts: bool = True, no_torch: bool = False) -> HostSession:
        try:
            self.transport = transport_for(self.target, **self.ssh_options)
            self.session.remote = Remote(self.transport, python=self.interpreter_argv)
            if gather_facts:
                self.regather(checks, no_torch)
        except TransportError as e:
            self.session.remote = None
            self.session.error = f"{e.status.value}: {e.message}"
        return self.session

    def regather(self, checks: list[Check], no_torch: bool = False) -> HostReport:
        """Probe the host (again) and re-run the checks: the facts `when:` sees and the verification."""
        bundle: Bundle = gather(self.transport, python=self.python, host=self.target.name, no_torch=no_torch,
                                timeout=self.timeout, argv=self.interpreter_argv)
        self.report, facts = report_from_bundle(bundle, checks)
        self.session.facts = facts
        self.session.results = self.report.checks
        return self.report

    def close(self) -> None:
        if self.session.remote is not None:
            release(self.session.remote)  # the play lock, taken by the first change
        if self.transport is not None:
            self.transport.close()
