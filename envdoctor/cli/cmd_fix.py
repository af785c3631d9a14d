"""envdoctor fix [TARGET...]: diagnose, plan the playbooks of the failed checks, show the plan and its
diffs, ask (or --yes), apply, then gather again and re-check to verify."""

from __future__ import annotations

import json
import sys

import click

from envdoctor.app.fix import Fixer, FixRun, HostFix
from envdoctor.cli.cmd_play import fix_options, reach_of
from envdoctor.cli.common import checks_dir_option, json_option, use_color
from envdoctor.cli.fleet_options import connect_options, target_options
from envdoctor.diagnosis.catalog import load_catalog
from envdoctor.fixes.playbook import parse_extra_vars
from envdoctor.fixes.render import host_block, recap_lines
from envdoctor.printable import printable
from envdoctor.redact import redact


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
    reach = reach_of(targets, inventory, limit, ssh_config, python, forks, timeout, connect_timeout, known_hosts,
                     accept_new_host_keys, become, quiet=as_json)
    color = use_color() and not as_json
    say = (lambda s: click.echo(s, err=True)) if as_json else click.echo
    with Fixer(reach, checks, extra_vars=evars, include_warn=include_warn, no_torch=no_torch) as fixer:
        hosts = fixer.plan()
        if not as_json:
            for hf in hosts:
                _show_plan(hf, show_diff, color)
        to_apply = fixer.to_apply
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
                fixer.apply()
        run = fixer.result(check_mode, applied)
        if as_json:
            click.echo(json.dumps(run.to_json(), indent=2))
        else:
            _show_outcome(run, show_diff, color)
    raise SystemExit(run.exit_code)


def _show_plan(hf: HostFix, show_diff: bool, color: bool) -> None:
    click.echo("\n".join(host_block(hf.plan, show_diff, color, "plan: " + (", ".join(hf.playbooks) or "no playbook needed"))))
    for m in hf.manual:
        click.echo(printable(redact(f"  manual   {m.check}: {m.fix}")))
        for c in m.commands:
            click.echo(printable(redact(f"             $ {c}")))


def _show_outcome(run: FixRun, show_diff: bool, color: bool) -> None:
    for h in run.hosts:
        if h.apply:
            click.echo("\n".join(host_block(h.apply, show_diff, color, "apply")))
        if h.verify:
            click.echo(printable(f"VERIFY [{h.name}] " + ", ".join(f"{k}: {v}" for k, v in h.verify.items())))
            if h.still_failing:
                click.echo(printable(f"  still failing: {', '.join(h.still_failing)}"))
    title = "PLAY RECAP" if run.applied else "PLAY RECAP (plan only: nothing was changed)"
    click.echo("\n".join(recap_lines(run.recaps, color, title)))
