"""Private keys for SSH logins: each file read once per run (a fleet of 128 hosts shares one key), a
passphrase-protected key unlocked with $ENVDOCTOR_SSH_KEY_PASSPHRASE or, on a terminal, a prompt (once
per key), and the paramiko AuthStrategy that Fabric's Connection uses to log in with them.

The passphrase is used to decrypt the key and then dropped; it is never stored, logged or shown.
"""

from __future__ import annotations

import getpass
import os
import sys
import threading
from dataclasses import dataclass

import paramiko
from paramiko.auth_strategy import AuthStrategy, InMemoryPrivateKey

PASSPHRASE_ENV = "ENVDOCTOR_SSH_KEY_PASSPHRASE"
DEFAULT_IDENTITIES = ("~/.ssh/id_ed25519", "~/.ssh/id_ecdsa", "~/.ssh/id_rsa")


@dataclass
class Identity:
    path: str
    key: paramiko.PKey | None = None
    problem: str | None = None  # why there is no key: "passphrase-protected ...", "wrong passphrase", ...


_cache: dict[str, Identity] = {}
_lock = threading.Lock()  # one load (and one prompt) per key file, whichever thread asks first


def _read(path: str, interactive: bool) -> Identity:
    try:
        return Identity(path, paramiko.PKey.from_path(path))
    except paramiko.PasswordRequiredException:
        pass
    except TypeError as e:  # paramiko 5 lets cryptography's "password-protected, but password was not provided" out
        if "password" not in str(e):
            return Identity(path, problem=f"cannot read key {path}: {e}")
    except (OSError, paramiko.SSHException, ValueError) as e:
        return Identity(path, problem=f"cannot read key {path}: {e}")
    passphrase = os.environ.get(PASSPHRASE_ENV)
    asked = False
    if passphrase is None and interactive and sys.stdin.isatty():
        passphrase = getpass.getpass(f"envdoctor: passphrase for {path}: ", stream=sys.stderr)
        asked = True
    if passphrase is None:
        return Identity(path, problem=(f"key {path} is passphrase-protected: give its passphrase in "
                                       f"${PASSPHRASE_ENV}, or run envdoctor on a terminal to be asked"))
    try:
        return Identity(path, paramiko.PKey.from_path(path, passphrase.encode()))  # positional: renamed in paramiko 5
    except (paramiko.SSHException, ValueError, TypeError):
        source = "typed" if asked else f"in ${PASSPHRASE_ENV}"
        return Identity(path, problem=f"the passphrase {source} does not unlock key {path}")
    finally:
        del passphrase


def identities(paths: list[str], interactive: bool = True) -> list[Identity]:
    """The identities for a login: the given files (ssh_config IdentityFile, ansible_ssh_private_key_file),
    else the default ones that exist. Missing default files are skipped; a missing given file is a problem."""
    given = [os.path.expanduser(p) for p in paths]
    files = given or [p for p in (os.path.expanduser(d) for d in DEFAULT_IDENTITIES) if os.path.exists(p)]
    out = []
    for path in files:
        with _lock:
            if path not in _cache:
                _cache[path] = _read(path, interactive)
            out.append(_cache[path])
    return out


class KeysThenAgent(AuthStrategy):
    """Public-key login: the loaded identities first, then the SSH agent's keys (unless IdentitiesOnly
    with given files). Fabric instantiates it per connection (`authentication.strategy_class`)."""

    def __init__(self, ssh_config=None, fabric_config=None, username=None, *, keys: list[Identity],
                 use_agent: bool):
        super().__init__(ssh_config=ssh_config)
        self.username, self.keys, self.use_agent = username, keys, use_agent

    def get_sources(self):
        for ident in self.keys:
            if ident.key is not None:
                yield InMemoryPrivateKey(self.username, ident.key)
        if self.use_agent and os.environ.get("SSH_AUTH_SOCK"):
            try:  # an agent connection per login: AgentKey.sign talks on it, and logins run in parallel
                agent_keys = paramiko.Agent().get_keys()
            except paramiko.SSHException:
                agent_keys = ()
            for k in agent_keys:
                yield InMemoryPrivateKey(self.username, k)
