"""envdoctor explain ID: the long explanation of one check, or what one root cause is and how it is fixed."""

from __future__ import annotations

import click

from envdoctor.cli.common import checks_dir_option, close_names
from envdoctor.diagnosis.catalog import load_catalog
from envdoctor.errors import UserError
from envdoctor.knowledge import signatures
from envdoctor.printable import printable


@click.command("explain")
@click.argument("check_id", metavar="ID")
@checks_dir_option
def command(check_id, checks_dirs):
    """Explain what a check looks at, why it matters, and how it is fixed; or, for a root cause the report
    names (such as no_gpu_on_bus), what it is, how it is told apart and its fix."""
    checks = {c.id: c for c in load_catalog(checks_dirs)}
    causes = signatures().causes
    if check_id in checks:
        c = checks[check_id]
        click.echo(f"{c.id}: {c.title}\n")
        click.echo(c.explanation)
        if c.playbook:
            click.echo(f"\nFix playbook: {c.playbook}")
    elif check_id in causes:
        cause = causes[check_id]
        click.echo(f"{check_id} (a root cause): {cause.title}\n")
        if cause.tell:
            click.echo("How it is told apart:")
            for t in cause.tell:
                click.echo(f"  - {t}")
        click.echo(f"\nFix: {cause.fix.summary}")
        for cmd in cause.fix.commands:
            click.echo(f"  $ {cmd}")
        if cause.fix.playbook:
            click.echo(f"Fix playbook: {cause.fix.playbook} (envdoctor fix applies it)")
    else:
        near = close_names(check_id, list(checks) + sorted(causes))
        hint = f"; did you mean {' or '.join(near)}?" if near else ""
        raise UserError(f"unknown check or cause id {printable(repr(check_id))}{hint} "
                        "(`envdoctor list` shows the checks)")
