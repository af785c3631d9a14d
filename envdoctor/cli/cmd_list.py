"""envdoctor list: the checks, with ids and titles."""

from __future__ import annotations

import json

import click

from envdoctor.cli.common import checks_dir_option, json_option
from envdoctor.diagnosis.catalog import load_catalog


@click.command("list")
@json_option
@checks_dir_option
def command(as_json, checks_dirs):
    """List the checks (id and title)."""
    checks = load_catalog(checks_dirs)
    if as_json:
        click.echo(json.dumps([{"id": c.id, "title": c.title, "playbook": c.playbook, "source": c.source}
                               for c in checks], indent=2))
        return
    width = max((len(c.id) for c in checks), default=0)
    for c in checks:
        click.echo(f"{c.id.ljust(width)}  {c.title}")
