"""envdoctor schema: the JSON Schema of the `--json` report."""

from __future__ import annotations

import json

import click

from envdoctor.report.schema import report_schema


@click.command("schema")
def command():
    """Print the JSON Schema of the report that --json prints (its $id is the report's $schema)."""
    click.echo(json.dumps(report_schema(), indent=2))
