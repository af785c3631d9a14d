"""envdoctor explain ID: the long explanation of one check."""

from __future__ import annotations

import click

from envdoctor.catalog import get_check
from envdoctor.cli.common import checks_dir_option


@click.command("explain")
@click.argument("check_id")
@checks_dir_option
def command(check_id, checks_dirs):
    """Explain what a check looks at, why it matters, and how it is fixed."""
    c = get_check(check_id, checks_dirs)
    click.echo(f"{c.id}: {c.title}\n")
    click.echo(c.explanation)
    if c.playbook:
        click.echo(f"\nFix playbook: {c.playbook}")
