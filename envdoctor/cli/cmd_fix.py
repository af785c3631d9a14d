"""envdoctor fix [TARGET...]: diagnose, plan the playbooks of the failed checks, show the plan and its
diffs, ask (or --yes), apply, then gather again and re-check to verify."""

from __future__ import annotations

import json
import sys

import click

from envdoctor.catalog import load_catalog
from envdoctor.cli.cmd_play import fix_options, play_exit_code, resolve_targets
from envdoctor.cli.common import checks_dir_option, json_option, use_color
from envdoctor.cli.fleet_options import connect_options, ssh_options, target_options
from envdoctor.errors import UserError
from envdoctor.fixes.executor import HandlerQueue, HostRecap, TaskRecord, run_handlers, run_playbook
from envdoctor.fixes.playbook import find_playbook, load_playbook, parse_extra_vars
from envdoctor.fixes.render import host_block, recap_lines
from envdoctor.fixes.session import OpenHost
from envdoctor.models import HostReport, HostStatus, Status
from envdoctor.redact import redact, redact_obj
from envdoctor.report.printable import printable
from envdoctor.runner import run_hosts


class HostFix:
    """One host through the whole fix: what failed, the playbooks, the manual steps, plan/apply/verify."""

    def __init__(self, target, python, timeout, ssh):
        self.host = OpenHost(target, python=python, timeout=timeout, **ssh)
        self.name = target.name
        self.playbooks: list[str] = []
        self.manual: list[dict] = []
        self.failed_ids: list[str] = []
        self.plan = HostRecap(target.name)
        self.apply: HostRecap | None = None
        self.verify: dict[str, str] = {}
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
                self.manual.append({"check": r.id, "summary": r.summary,
                                    "fix": r.fix.summary if r.fix else "no automated fix",
                                    "commands": list(r.fix.commands) if r.fix else []})

    @property
    def pending(self) -> int:
        return self.plan.changed

    def to_json(self) -> dict:
        return {"host": self.name, "error": self.error, "failed_checks": self.failed_ids,
                "playbooks": self.playbooks, "manual": self.manual, "plan": self.plan.to_json(),
                "apply": self.apply.to_json() if self.apply else None, "verify": self.verify}


def _load(name: str):
    return load_playbook(find_playbook(name))


def _load_or_error(name: str):
    try:
        return _load(name)
    except UserError as e:
        return e.line()


@click.command("fix")
@click.argument("targets", nargs=-1)
@target_options
@connect_options
@click.option("-y", "--yes", is_flag=True, help="Apply without asking.")
@click.option("--include-warn", is_flag=True, help="Also fix checks that warn (not only those that fail).")
@fix_options
@json_option
@checks_dir_option
def command(targets, inventory, limit, ssh_config, forks, timeout, connect_timeout, known_hosts,
            accept_new_host_keys, become, yes, include_warn, check_mode, show_diff, extra_vars, python, no_torch, as_json,
            checks_dirs):
    """Fix what `envdoctor check` found on TARGETs (none: this machine): the playbook of each failed
    check is planned and shown, then applied after you agree (or with --yes), and the checks are run
    again to verify. Fixes that cannot be automated safely are listed with their commands."""
    checks = load_catalog(checks_dirs)
    evars = parse_extra_vars(extra_vars)
    resolved = resolve_targets(targets, inventory, limit, ssh_config, python)
    ssh = ssh_options(connect_timeout, known_hosts, accept_new_host_keys, become) if any(
        not t.local for t in resolved) else {}
    fixes = {t.name: HostFix(t, python, timeout, ssh) for t in resolved}
    playbooks: dict = {}
    color = use_color() and not as_json
    say = (lambda s: click.echo(s, err=True)) if as_json else click.echo

    def plan_host(target) -> HostReport:
        hf = fixes[target.name]
        session = hf.host.open(checks, no_torch=no_torch)
        if session.remote is None:
            hf.error = session.error
            hf.plan = HostRecap(hf.name, unreachable=1, error=session.error)
            return HostReport(host=hf.name, status=HostStatus.UNREACHABLE, error=session.error)
        hf.triage({Status.FAIL, Status.WARN} if include_warn else {Status.FAIL})
        queue = HandlerQueue()
        for name in hf.playbooks:
            pb = playbooks.get(name) or _load_or_error(name)
            playbooks[name] = pb  # for the apply step (a site check may name a playbook of its own)
            if isinstance(pb, str):  # it did not load: a failed step of this host's plan
                hf.plan.add(TaskRecord(hf.name, name, "load playbook", "-", "failed", pb))
                hf.plan.error = pb
                continue
            run_playbook(pb, session, check=True, extra_vars=evars, recap=hf.plan, handlers=queue)
        run_handlers(queue, session, True, hf.plan)
        return HostReport(host=hf.name, status=HostStatus.PASS)

    def apply_host(target) -> HostReport:
        hf = fixes[target.name]
        hf.apply = HostRecap(hf.name)
        queue = HandlerQueue()
        for name in hf.playbooks:
            if isinstance(playbooks.get(name), str):
                continue  # did not load: already a failure of the plan
            run_playbook(playbooks[name], hf.host.session, check=False, extra_vars=evars, recap=hf.apply,
                         handlers=queue)
            if hf.apply.failed or hf.apply.unreachable:
                break
        run_handlers(queue, hf.host.session, False, hf.apply)  # once each, after every playbook
        try:  # verify: gather again, re-run the checks that had failed
            report = hf.host.regather(checks, no_torch)
            now = {c.id: c.status.value for c in report.checks}
            hf.verify = {cid: now.get(cid, "missing") for cid in hf.failed_ids}
        except Exception as e:  # a host that went away after the change: say so, keep the others
            hf.verify = {"error": f"could not re-check: {e}"}
        return HostReport(host=hf.name, status=HostStatus.PASS)

    try:
        # Load, once, every playbook a check names; one that does not load fails the hosts that need it.
        for name in sorted({c.playbook for c in checks if c.playbook}):
            try:
                playbooks[name] = _load(name)
            except UserError as e:
                playbooks[name] = e.line()
        run_hosts(resolved, plan_host, forks=forks, progress=None if not as_json else False)
        hosts = [fixes[t.name] for t in resolved]
        if not as_json:
            for hf in hosts:
                click.echo("\n".join(host_block(hf.plan, show_diff, color,
                                                "plan: " + (", ".join(hf.playbooks) or "no playbook needed"))))
                for m in hf.manual:
                    say(printable(redact(f"  manual   {m['check']}: {m['fix']}")))
                    for c in m["commands"]:
                        say(printable(redact(f"             $ {c}")))
        planned_failures = any(h.plan.failed for h in hosts)
        to_apply = [h for h in hosts if h.playbooks and h.pending and h.plan.unreachable == 0]
        applied = False
        if check_mode or not to_apply:
            if not as_json:
                say("check mode: nothing was changed" if check_mode else "nothing to apply")
        else:
            if yes:
                applied = True
            elif sys.stdin.isatty() and not as_json:
                applied = click.confirm(f"Apply these changes to {len(to_apply)} host(s)?", default=False)
            else:
                say("envdoctor: nothing was changed: run with --yes to apply (no terminal to ask on)")
            if applied:
                run_hosts([h.host.target for h in to_apply], apply_host, forks=forks,
                          progress=None if not as_json else False)
        recaps = [h.apply if h.apply else h.plan for h in hosts]
        if as_json:
            click.echo(json.dumps(redact_obj({"version": 1, "command": "fix", "mode": "check" if check_mode else "apply",
                                              "applied": applied, "hosts": [h.to_json() for h in hosts]}), indent=2))
        else:
            for h in hosts:
                if h.apply:
                    click.echo("\n".join(host_block(h.apply, show_diff, color, "apply")))
                if h.verify:
                    still = [k for k, v in h.verify.items() if v == "fail" or k == "error"]
                    click.echo(printable(f"VERIFY [{h.name}] " + ", ".join(f"{k}: {v}" for k, v in h.verify.items())))
                    if still:
                        click.echo(printable(f"  still failing: {', '.join(still)}"))
            title = "PLAY RECAP" if applied else "PLAY RECAP (plan only: nothing was changed)"
            click.echo("\n".join(recap_lines(recaps, color, title)))
    finally:
        for hf in fixes.values():
            hf.host.close()
    code = play_exit_code(recaps)
    if code == 0:
        unresolved = any(h.manual for h in hosts) or any(v == "fail" for h in hosts for v in h.verify.values())
        if unresolved or (to_apply and not applied and not check_mode) or (check_mode and planned_failures):
            code = 1
    raise SystemExit(code)
