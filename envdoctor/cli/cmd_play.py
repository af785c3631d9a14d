"""envdoctor play PLAYBOOK [TARGET...]: run a fix playbook on hosts, like ansible-playbook."""

from __future__ import annotations

import json

import click

from envdoctor.catalog import load_catalog
from envdoctor.cli.common import checks_dir_option, json_option, use_color
from envdoctor.cli.fleet_options import connect_options, ssh_options, target_options
from envdoctor.fixes.executor import HostRecap, run_playbook
from envdoctor.fixes.playbook import find_playbook, load_playbook, parse_extra_vars
from envdoctor.fixes.render import host_block, recap_lines
from envdoctor.fixes.session import OpenHost
from envdoctor.models import HostReport, HostStatus
from envdoctor.redact import redact_obj
from envdoctor.targets import LOCAL


def fix_options(f):
    """--check, --diff, --extra-vars, --tags, --no-torch: shared by play and fix."""
    for opt in reversed([
        click.option("--check", "check_mode", is_flag=True, help="Plan only: show what would change; change nothing."),
        click.option("--diff", "show_diff", is_flag=True, help="Show unified diffs of file changes."),
        click.option("-e", "--extra-vars", "extra_vars", multiple=True,
                     help="Variables: name=value ..., a JSON/YAML mapping, or @FILE. Highest precedence."),
        click.option("--python", "python", help="Interpreter on the targets for the probe and the fix helper."),
        click.option("--no-torch", is_flag=True, help="Do not inspect torch on the targets (faster gathering)."),
    ]):
        f = opt(f)
    return f


def resolve_targets(targets, inventory, limit, ssh_config, python):
    if not targets and not inventory:
        return [LOCAL]
    from envdoctor.inventory import resolve

    return resolve(list(targets), inventory=inventory, limit=limit, ssh_config=ssh_config, python=python)


def play_exit_code(recaps: list[HostRecap]) -> int:
    """0: no task failed; 1: a task failed on some host; 3: a host was unreachable (1 wins over 3)."""
    if any(r.failed for r in recaps):
        return 1
    if any(r.unreachable for r in recaps):
        return 3
    return 0


@click.command("play")
@click.argument("playbook")
@click.argument("targets", nargs=-1)
@target_options
@connect_options
@click.option("-t", "--tags", multiple=True, help="Run only tasks with these tags (comma-separated or repeated).")
@click.option("--skip-tags", multiple=True, help="Skip tasks with these tags.")
@fix_options
@json_option
@checks_dir_option
def command(playbook, targets, inventory, limit, ssh_config, forks, timeout, connect_timeout, known_hosts,
            accept_new_host_keys, become, tags, skip_tags, check_mode, show_diff, extra_vars, python, no_torch,
            as_json, checks_dirs):
    """Run PLAYBOOK (a file, or a shipped one by name: shm, memlock, container-toolkit, onboard-node...)
    on TARGETs (none: this machine). Changes are applied as the playbook says; use --check --diff first
    to see them."""
    pb = load_playbook(find_playbook(playbook))
    evars = parse_extra_vars(extra_vars)
    tag_set = {t.strip() for x in tags for t in x.split(",") if t.strip()}
    skip_set = {t.strip() for x in skip_tags for t in x.split(",") if t.strip()}
    checks = load_catalog(checks_dirs)
    resolved = resolve_targets(targets, inventory, limit, ssh_config, python)
    ssh = ssh_options(connect_timeout, known_hosts, accept_new_host_keys, become) if any(
        not t.local for t in resolved) else {}
    gather_facts = any(p.gather_facts for p in pb.plays)
    recaps: dict[str, HostRecap] = {}

    def work(target) -> HostReport:
        host = OpenHost(target, python=python, timeout=timeout, **ssh)
        try:
            session = host.open(checks, gather_facts=gather_facts, no_torch=no_torch)
            recaps[target.name] = run_playbook(pb, session, check=check_mode, tags=tag_set, skip_tags=skip_set,
                                               extra_vars=evars)
        finally:
            host.close()
        return HostReport(host=target.name, status=HostStatus.PASS)

    from envdoctor.runner import run_hosts

    result = run_hosts(resolved, work, forks=forks, progress=None if not as_json else False)
    ordered = []
    for t, rep in zip(resolved, result.reports):
        r = recaps.get(t.name)
        if r is None:  # the worker itself failed (a bug, or the runner's deadline)
            r = HostRecap(t.name, unreachable=1, error=rep.error or "no result")
        ordered.append(r)
    mode = "check" if check_mode else "apply"
    if as_json:
        doc = {"version": 1, "command": "play", "playbook": pb.path, "mode": mode,
               "hosts": [r.to_json() for r in ordered]}
        if result.interrupted:  # as in check's report: the hosts never started, as one array
            doc.update(interrupted=True, not_started={"count": len(result.not_started), "hosts": result.not_started})
        click.echo(json.dumps(redact_obj(doc), indent=2))
    else:
        color = use_color()
        for r in ordered:
            click.echo("\n".join(host_block(r, show_diff, color, f"{pb.name}" + (" (check mode)" if check_mode else ""))))
        click.echo("\n".join(recap_lines(ordered, color, "PLAY RECAP (check mode: nothing was changed)"
                                          if check_mode else "PLAY RECAP")))
    raise SystemExit(130 if result.interrupted else play_exit_code(ordered))
