"""envdoctor play PLAYBOOK [TARGET...]: run a fix playbook on hosts, like ansible-playbook."""

from __future__ import annotations

import json

import click

from envdoctor.app.fix import run_play
from envdoctor.app.reach import Reach, resolve_targets
from envdoctor.cli.common import checks_dir_option, json_option, use_color
from envdoctor.cli.fleet_options import connect_options, ssh_options, target_options
from envdoctor.cli.selection_options import no_torch_option
from envdoctor.diagnosis.catalog import load_catalog
from envdoctor.fixes.playbook import find_playbook, load_playbook, parse_extra_vars
from envdoctor.fixes.render import host_block, recap_lines


def fix_options(f):
    """--check, --diff, --extra-vars, --tags, --no-torch: shared by play and fix."""
    for opt in reversed([
        click.option("--check", "check_mode", is_flag=True, help="Plan only: show what would change; change nothing."),
        click.option("--diff", "show_diff", is_flag=True, help="Show unified diffs of file changes."),
        click.option("-e", "--extra-vars", "extra_vars", multiple=True,
                     help="Variables: name=value ..., a JSON/YAML mapping, or @FILE. Highest precedence."),
        click.option("--python", "python", help="Interpreter on the targets for the probe and the fix helper."),
        no_torch_option,
    ]):
        f = opt(f)
    return f


def reach_of(targets, inventory, limit, ssh_config, python, forks, timeout, connect_timeout, known_hosts,
             accept_new_host_keys, become, quiet) -> Reach:
    """The target and connection options as a Reach (the become password is asked here, once)."""
    resolved = resolve_targets(targets, inventory, limit, ssh_config, python)
    ssh = ssh_options(connect_timeout, known_hosts, accept_new_host_keys, become) if any(
        not t.local for t in resolved) else {}
    return Reach(resolved, python=python, timeout=timeout, ssh=ssh, forks=forks, quiet=quiet)


def _tag_set(values) -> set[str]:
    return {t.strip() for x in values for t in x.split(",") if t.strip()}


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
    checks = load_catalog(checks_dirs)
    reach = reach_of(targets, inventory, limit, ssh_config, python, forks, timeout, connect_timeout, known_hosts,
                     accept_new_host_keys, become, quiet=as_json)
    run = run_play(pb, reach, checks, check=check_mode, tags=_tag_set(tags), skip_tags=_tag_set(skip_tags),
                   extra_vars=evars, no_torch=no_torch)
    if as_json:
        click.echo(json.dumps(run.to_json(), indent=2))
    else:
        color = use_color()
        for r in run.recaps:
            click.echo("\n".join(host_block(r, show_diff, color, f"{pb.name}" + (" (check mode)" if check_mode else ""))))
        click.echo("\n".join(recap_lines(run.recaps, color, "PLAY RECAP (check mode: nothing was changed)"
                                          if check_mode else "PLAY RECAP")))
    raise SystemExit(run.exit_code)
