"""The fix and play use cases: targets in, typed results out (a recap per host, and for `fix` what
failed, the playbooks planned, the manual steps and the verification). The CLI parses options, calls
these and renders; how a host is reached (this machine or SSH, one host or a fleet) is a `Reach` (app/reach.py)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from envdoctor.app.reach import Reach
from envdoctor.diagnosis.catalog import Check
from envdoctor.errors import UserError
from envdoctor.fixes.executor import HandlerQueue, HostRecap, TaskRecord, run_handlers, run_playbook
from envdoctor.fixes.playbook import Playbook, find_playbook, load_playbook
from envdoctor.fixes.session import OpenHost
from envdoctor.hosts.targets import Target
from envdoctor.models import CheckResult, HostReport, Status
from envdoctor.redact import redact_obj

def exit_code_of(recaps: list[HostRecap]) -> int:
    """0: no task failed; 1: a task failed on some host; 3: a host was unreachable (1 wins over 3)."""
    if any(r.failed for r in recaps):
        return 1
    if any(r.unreachable for r in recaps):
        return 3
    return 0


def _lost_recap(target: Target, report: HostReport) -> HostRecap:
    """The worker itself failed (a bug, or the runner's deadline): the host counts as unreachable."""
    return HostRecap(target.name, unreachable=1, error=report.error or "no result")


# -- play ---------------------------------------------------------------------------------------------


@dataclass
class PlayRun:
    playbook: Playbook
    check: bool
    recaps: list[HostRecap]  # in the order of the targets
    interrupted: bool = False
    not_started: list[str] = field(default_factory=list)

    @property
    def mode(self) -> str:
        return "check" if self.check else "apply"

    @property
    def exit_code(self) -> int:
        return 130 if self.interrupted else exit_code_of(self.recaps)

    def to_json(self) -> dict:
        doc = {"version": 1, "command": "play", "playbook": self.playbook.path, "mode": self.mode,
               "hosts": [r.to_json() for r in self.recaps]}
        if self.interrupted:  # as in check's report: the hosts never started, as one array
            doc.update(interrupted=True, not_started={"count": len(self.not_started), "hosts": self.not_started})
        return redact_obj(doc)


def run_play(pb: Playbook, reach: Reach, checks: list[Check], check: bool = False,
             tags: set[str] | frozenset = frozenset(), skip_tags: set[str] | frozenset = frozenset(),
             extra_vars: dict | None = None, no_torch: bool = False) -> PlayRun:
    """`pb` on every host of `reach`; facts are gathered first when a play asks for them."""
    gather_facts = any(p.gather_facts for p in pb.plays)

    def work(target: Target) -> HostRecap:
        host = reach.open(target)
        try:
            session = host.open(checks, gather_facts=gather_facts, no_torch=no_torch)
            return run_playbook(pb, session, check=check, tags=tags, skip_tags=skip_tags, extra_vars=extra_vars)
        finally:
            host.close()

    result = reach.fan_out(reach.targets, work, _lost_recap, what="running the play")
    return PlayRun(pb, check, result.reports, result.interrupted, result.not_started)


# -- fix ----------------------------------------------------------------------------------------------


@dataclass
class ManualStep:
    """A failed check whose fix is not automated: what to tell the user, and the commands to run."""

    check: str
    summary: str
    fix: str
    commands: list[str]

    @classmethod
    def of(cls, r: CheckResult) -> ManualStep:
        return cls(r.id, r.summary, r.fix.summary if r.fix else "no automated fix",
                   list(r.fix.commands) if r.fix else [])


class HostFix:
    """One host through the whole fix: what failed, the playbooks, the manual steps, plan/apply/verify."""

    def __init__(self, host: OpenHost):
        self.host = host
        self.name = host.target.name
        self.playbooks: list[str] = []
        self.manual: list[ManualStep] = []
        self.failed_ids: list[str] = []
        self.plan = HostRecap(self.name)
        self.apply: HostRecap | None = None
        self.verify: dict[str, str] = {}  # check id -> its status now; or "error" -> why it could not be read
        self.error: str | None = None

    def triage(self, statuses: set[Status]) -> None:
        for r in self.host.session.results:
            if r.status not in statuses:
                continue
            self.failed_ids.append(r.id)
            if r.fix and r.fix.playbook and not r.fix.manual:
                if r.fix.playbook not in self.playbooks:
                    self.playbooks.append(r.fix.playbook)
            else:
                self.manual.append(ManualStep.of(r))

    @property
    def pending(self) -> int:
        return self.plan.changed

    @property
    def still_failing(self) -> list[str]:
        return [k for k, v in self.verify.items() if v == "fail" or k == "error"]

    def to_json(self) -> dict:
        return {"host": self.name, "error": self.error, "failed_checks": self.failed_ids,
                "playbooks": self.playbooks, "manual": [asdict(m) for m in self.manual],
                "plan": self.plan.to_json(), "apply": self.apply.to_json() if self.apply else None,
                "verify": self.verify}


def _load(name: str) -> Playbook | str:
    """A playbook, or the line saying why it did not load (a failure of the hosts that need it)."""
    try:
        return load_playbook(find_playbook(name))
    except UserError as e:
        return e.line()


@dataclass
class FixRun:
    """What `fix` did: per host, and whether the changes were applied."""

    hosts: list[HostFix]
    check: bool
    applied: bool

    @property
    def recaps(self) -> list[HostRecap]:
        return [h.apply if h.apply else h.plan for h in self.hosts]

    @property
    def exit_code(self) -> int:
        """As play's; and 1 when something is left to do: a manual step, a check still failing, changes
        planned and not applied, or (check mode) a plan that failed."""
        code = exit_code_of(self.recaps)
        if code:
            return code
        unresolved = any(h.manual for h in self.hosts) or any(v == "fail" for h in self.hosts for v in h.verify.values())
        not_applied = any(h.playbooks and h.pending and not h.plan.unreachable for h in self.hosts) and not self.applied
        planned_failures = any(h.plan.failed for h in self.hosts)
        if unresolved or (not_applied and not self.check) or (self.check and planned_failures):
            return 1
        return 0

    def to_json(self) -> dict:
        return redact_obj({"version": 1, "command": "fix", "mode": "check" if self.check else "apply",
                           "applied": self.applied, "hosts": [h.to_json() for h in self.hosts]})


class Fixer:
    """`fix` in two steps around the user's consent: `plan()` diagnoses every host and plans the playbooks
    of its failed checks (check mode); `apply()` runs them on the hosts with changes pending, then gathers
    again and re-runs the checks that had failed. The hosts stay open in between; `close()` ends them."""

    def __init__(self, reach: Reach, checks: list[Check], extra_vars: dict | None = None,
                 include_warn: bool = False, no_torch: bool = False):
        self.reach, self.checks, self.no_torch = reach, checks, no_torch
        self.extra_vars = extra_vars or {}
        self.statuses = {Status.FAIL, Status.WARN} if include_warn else {Status.FAIL}
        self.hosts = [HostFix(reach.open(t)) for t in reach.targets]
        self._by_name = {h.name: h for h in self.hosts}
        # Every playbook a check names, loaded once; one that does not load fails the hosts that need it.
        self.playbooks: dict[str, Playbook | str] = {
            name: _load(name) for name in sorted({c.playbook for c in checks if c.playbook})}

    def __enter__(self) -> Fixer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def plan(self) -> list[HostFix]:
        self.reach.fan_out(self.reach.targets, self._plan_host, self._lost_plan, what="planning fixes")
        return self.hosts

    @property
    def to_apply(self) -> list[HostFix]:
        return [h for h in self.hosts if h.playbooks and h.pending and h.plan.unreachable == 0]

    def apply(self) -> None:
        self.reach.fan_out([h.host.target for h in self.to_apply], self._apply_host, self._lost_apply,
                           what="applying fixes")

    def result(self, check: bool, applied: bool) -> FixRun:
        return FixRun(self.hosts, check, applied)

    def close(self) -> None:
        for hf in self.hosts:
            hf.host.close()

    def _plan_host(self, target: Target) -> HostFix:
        hf = self._by_name[target.name]
        session = hf.host.open(self.checks, no_torch=self.no_torch)
        if session.remote is None:
            hf.error = session.error
            hf.plan = HostRecap(hf.name, unreachable=1, error=session.error)
            return hf
        hf.triage(self.statuses)
        queue = HandlerQueue()
        for name in hf.playbooks:
            pb = self.playbooks.get(name) or _load(name)
            self.playbooks[name] = pb  # for the apply step (a site check may name a playbook of its own)
            if isinstance(pb, str):  # it did not load: a failed step of this host's plan
                hf.plan.add(TaskRecord(hf.name, name, "load playbook", "-", "failed", pb))
                hf.plan.error = pb
                continue
            run_playbook(pb, session, check=True, extra_vars=self.extra_vars, recap=hf.plan, handlers=queue)
        run_handlers(queue, session, True, hf.plan)
        return hf

    def _apply_host(self, target: Target) -> HostFix:
        hf = self._by_name[target.name]
        hf.apply = HostRecap(hf.name)
        queue = HandlerQueue()
        for name in hf.playbooks:
            pb = self.playbooks.get(name)
            if not isinstance(pb, Playbook):
                continue  # did not load: already a failure of the plan
            run_playbook(pb, hf.host.session, check=False, extra_vars=self.extra_vars, recap=hf.apply,
                         handlers=queue)
            if hf.apply.failed or hf.apply.unreachable:
                break
        run_handlers(queue, hf.host.session, False, hf.apply)  # once each, after every playbook
        try:  # verify: gather again, re-run the checks that had failed
            report = hf.host.regather(self.checks, self.no_torch)
            now = {c.id: c.status.value for c in report.checks}
            hf.verify = {cid: now.get(cid, "missing") for cid in hf.failed_ids}
        except Exception as e:  # a host that went away after the change: say so, keep the others
            hf.verify = {"error": f"could not re-check: {e}"}
        return hf

    def _lost_plan(self, target: Target, report: HostReport) -> HostFix:
        hf = self._by_name[target.name]
        hf.plan = _lost_recap(target, report)
        hf.error = hf.plan.error
        return hf

    def _lost_apply(self, target: Target, report: HostReport) -> HostFix:
        hf = self._by_name[target.name]
        hf.apply = _lost_recap(target, report)
        return hf
