"""envdoctor schema: the JSON Schema of the `--json` report."""

from __future__ import annotations

import json

import click

from envdoctor.models import Report


@click.command("schema")
def command():
    """Print the JSON Schema of the report that --json prints."""
    click.echo(json.dumps(Report.model_json_schema(), indent=2))
