"""envdoctor hosts: what the TARGETs resolve to (address, port, user, interpreter), without connecting."""

from __future__ import annotations

import json

import click

from envdoctor.cli.common import json_option
from envdoctor.cli.fleet_options import target_options
from envdoctor.errors import UserError
from envdoctor.hosts.inventory import describe, resolve
from envdoctor.printable import printable


@click.command("hosts")
@click.argument("targets", nargs=-1)
@click.option("--python", "python", help="Interpreter to diagnose on every target.")
@target_options
@json_option
def command(targets, python, inventory, limit, ssh_config, as_json):
    """Print what the TARGETs (and/or the inventory) resolve to, without connecting."""
    if not targets and not inventory:
        raise UserError("no targets: give TARGET... and/or -i INVENTORY")
    rows = [describe(t) for t in resolve(list(targets), inventory=inventory, limit=limit, ssh_config=ssh_config,
                                         python=python)]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        if r["transport"] == "local":
            click.echo(printable(f"{r['name']}  local  python={r['python'] or 'this interpreter'}"))
            continue
        extra = ""
        if r.get("proxy_jump"):
            extra += f"  via={','.join(r['proxy_jump'])}"
        if r.get("identity_files"):
            extra += f"  key={','.join(r['identity_files'])}"
        if r.get("groups"):
            extra += f"  groups={','.join(r['groups'])}"
        user = f"{r['user']}@" if r["user"] else ""
        # names come from inventories and ssh_config: one printable line per host
        click.echo(printable(f"{r['name']}  ssh {user}{r['hostname']}:{r['port']}  python={r['python']}{extra}"))
    click.echo(f"{len(rows)} host(s)", err=True)
