"""envdoctor facts: show what was gathered (typed facts, or the raw sections), and save the bundle."""

from __future__ import annotations

import json
from pathlib import Path

import click

from envdoctor.app.facts import collect, facts_of, raw_sections
from envdoctor.app.reach import Reach
from envdoctor.cli.progress import Phases
from envdoctor.hosts.transport import TransportError
from envdoctor.printable import printable


@click.command("facts")
@click.option("--raw", is_flag=True, help="Print the raw evidence sections instead of the parsed facts.")
@click.option("--bundle", "bundle_path", type=click.Path(path_type=Path),
              help="Save the evidence bundle here (a directory, or FILE.tar.gz).")
@click.option("--from", "from_path", type=click.Path(path_type=Path), help="Read a saved bundle or paste instead.")
@click.option("--python", "python", help="Interpreter whose environment to inspect.")
def command(raw, bundle_path, from_path, python):
    """Gather the facts of this machine and print them as JSON; with --bundle, save the evidence instead
    (`envdoctor check --from FILE` diagnoses it, on any machine)."""
    try:
        bundle = collect(Reach.local(python=python), from_path, phase=Phases.for_stderr().phase)
    except TransportError as e:
        raise click.ClickException(e.message)
    if bundle_path:
        bundle.save(bundle_path)
        saved = printable(f"evidence bundle of {bundle.host} saved to {bundle_path} ({len(bundle.sections)} sections; "
                          f"envdoctor check --from {bundle_path} diagnoses it)")
        if not raw:  # the bundle is what was asked for: one line, not the facts as well
            click.echo(saved)
            return
        click.echo(saved, err=True)
    if raw:
        click.echo(json.dumps(raw_sections(bundle), indent=2))
    else:
        click.echo(facts_of(bundle).model_dump_json(indent=2))
