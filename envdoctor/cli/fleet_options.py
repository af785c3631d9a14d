"""Options shared by the commands that take TARGETs (check, hosts): how targets are resolved and how
envdoctor connects to them."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from envdoctor.app.reach import DEFAULT_CONNECT_TIMEOUT
from envdoctor.errors import UserError
from envdoctor.hosts.runner import DEFAULT_FORKS

BECOME_PASSWORD_ENV = "ENVDOCTOR_BECOME_PASSWORD"


def target_options(f):
    """-i/--inventory, --limit, -F/--ssh-config: what the TARGET words resolve to."""
    for opt in reversed([
        click.option("-i", "--inventory", type=click.Path(path_type=Path),
                     help="Ansible INI/YAML inventory, or a file of one target per line."),
        click.option("--limit", help="Narrow the targets: host names, groups, globs, '!exclude', '&intersect'."),
        click.option("-F", "--ssh-config", "ssh_config", type=click.Path(path_type=Path),
                     help="ssh_config file for host aliases (default ~/.ssh/config)."),
    ]):
        f = opt(f)
    return f


def connect_options(f):
    for opt in reversed([
        click.option("-f", "--forks", type=click.IntRange(1, 1024), default=DEFAULT_FORKS, show_default=True,
                     help="Hosts worked on in parallel."),
        click.option("--timeout", type=click.FloatRange(min=1), default=None,
                     help="Per-host limit in seconds for the probe (default 180)."),
        click.option("--connect-timeout", type=click.FloatRange(min=0.1), default=DEFAULT_CONNECT_TIMEOUT,
                     show_default=True,
                     help="Seconds to connect, read the SSH banner and authenticate."),
        click.option("--known-hosts", type=click.Path(path_type=Path),
                     help="known_hosts file to verify host keys against (default ~/.ssh/known_hosts)."),
        click.option("--accept-new-host-keys", is_flag=True,
                     help="Trust hosts not yet in known_hosts and record their keys (a changed key is "
                          "always refused)."),
        click.option("--become", is_flag=True,
                     help=f"Run the probe through sudo. Password from ${BECOME_PASSWORD_ENV} or a prompt "
                          "(empty: passwordless sudo)."),
    ]):
        f = opt(f)
    return f


def become_password(become: bool) -> str | None:
    """The sudo password: from the environment, else asked on a terminal; None means sudo without one."""
    if not become:
        return None
    pw = os.environ.get(BECOME_PASSWORD_ENV)
    if pw is None and sys.stdin.isatty():
        pw = click.prompt("BECOME (sudo) password, empty for none", hide_input=True, default="",
                          show_default=False, err=True)
    if pw and ("\n" in pw or "\r" in pw):  # sudo reads one line: the rest would reach the probe's stdin
        raise UserError(f"the become password (${BECOME_PASSWORD_ENV}) contains a line break; "
                        "sudo reads only one line, so it is refused")
    return pw or None


def unlock_keys(targets) -> None:
    """Read the SSH keys the targets (and their jump hosts) log in with, before the fan-out: a
    passphrase-protected key is asked for once, here, not in the middle of the progress display."""
    from envdoctor.hosts.transport.identities import identities

    for t in targets:
        for hop in [*t.proxy_jump, t]:
            if not hop.local:
                identities(hop.identity_files)


def ssh_options(connect_timeout, known_hosts, accept_new_host_keys, become, targets=None) -> dict:
    if targets:
        unlock_keys(targets)
    return {"connect_timeout": connect_timeout, "known_hosts": known_hosts,
            "accept_new_host_keys": accept_new_host_keys, "become": become,
            "become_password": become_password(become)}
