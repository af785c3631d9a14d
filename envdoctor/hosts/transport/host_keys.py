"""Host keys: our known_hosts loader (paramiko's stops at the first marker line) and the policy that
decides about a key known_hosts does not hold. Both feed a paramiko SSHClient (Fabric's `conn.client`).

Statuses: an unknown key is `host-key-unknown` unless the user asked to trust new keys (then it is
recorded, as OpenSSH writes it); a key that differs from the recorded one, a known host presenting a
key type that was not recorded, or a key marked @revoked is `host-key-changed`, always.
"""

from __future__ import annotations

import shlex
import threading
from pathlib import Path

import paramiko

from envdoctor.hosts.transport.base import TransportError
from envdoctor.models import HostStatus

_record_lock = threading.Lock()  # forks record new keys into one file


def known_hosts_name(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"


class KnownHosts:
    """One known_hosts file, read once per run: its keys and its @revoked keys."""

    def __init__(self, path: Path):
        self.path = path
        self.keys = paramiko.HostKeys()  # every recorded key that is not @revoked
        self.revoked: set[str] = set()  # base64 of @revoked keys
        entries: list[tuple[str, paramiko.PKey]] = []
        try:
            text = path.read_text(errors="replace")
        except FileNotFoundError:
            return
        except OSError as e:
            raise TransportError(HostStatus.ERROR, f"cannot read known hosts file {path}: {e}") from None
        for lineno, line in enumerate(text.splitlines(), 1):
            fields = line.split()
            if not fields or fields[0].startswith("#"):
                continue
            if fields[0] == "@revoked" and len(fields) >= 4:
                self.revoked.add(fields[3])  # for any host: stricter than OpenSSH's per-host match, never looser
                continue
            if fields[0].startswith("@"):  # @cert-authority: host certificates are not supported
                continue
            try:
                entry = paramiko.hostkeys.HostKeyEntry.from_line(" ".join(fields[:3]), lineno)
            except Exception:  # InvalidHostKey, SSHException, binascii errors: skip the line as OpenSSH does
                continue
            if entry is not None:
                entries += [(name, entry.key) for name in entry.hostnames]
        for name, key in entries:  # @revoked lines may come after the keys they revoke
            if key.get_base64() not in self.revoked:
                self.keys.add(name, key.get_name(), key)

    def install(self, client: paramiko.SSHClient, accept_new: bool) -> None:
        """Load the keys into the client (revoked ones are left out: they reach the policy, which refuses
        them) and set the policy for keys it does not know."""
        hk = client.get_host_keys()
        for name in self.keys.keys():  # hashed names (|1|...) stay hashed: HostKeys.lookup matches them
            for kind, key in self.keys[name].items():
                hk.add(name, kind, key)
        client.set_missing_host_key_policy(StrictPolicy(self, accept_new))

    def record(self, name: str, key: paramiko.PKey) -> None:
        with _record_lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a") as f:
                f.write(f"{name} {key.get_name()} {key.get_base64()}\n")
            self.keys.add(name, key.get_name(), key)


class StrictPolicy(paramiko.MissingHostKeyPolicy):
    """Called by paramiko for a key its host keys do not hold (a matching key never gets here; a different
    key of a recorded type raises BadHostKeyException before)."""

    def __init__(self, known: KnownHosts, accept_new: bool):
        self.known, self.accept_new = known, accept_new

    def missing_host_key(self, client, hostname, key):
        where = self.known.path
        if key.get_base64() in self.known.revoked:
            raise TransportError(HostStatus.HOST_KEY_CHANGED, (
                f"the {key.get_name()} host key of {hostname} ({key.fingerprint}) is marked @revoked in "
                f"{where}; refusing to connect"))
        recorded = self.known.keys.lookup(hostname)
        if recorded and recorded.get(key.get_name()) == key:  # recorded meanwhile by another fork of this run
            client.get_host_keys().add(hostname, key.get_name(), key)
            return
        if recorded and key.get_name() in recorded:  # another fork recorded a different key meanwhile
            raise TransportError(HostStatus.HOST_KEY_CHANGED, (
                f"the {key.get_name()} host key of {hostname} has CHANGED (fingerprint now {key.fingerprint}); "
                f"refusing to connect"))
        if recorded:  # a known host presenting a type we did not record: treat as changed, never as new
            raise TransportError(HostStatus.HOST_KEY_CHANGED, (
                f"{hostname} presented a {key.get_name()} host key but {where} holds only "
                f"{', '.join(recorded.keys())}; refusing to connect"))
        if not self.accept_new:
            host, _, port = hostname.strip("[").partition("]:")
            raise TransportError(HostStatus.HOST_KEY_UNKNOWN, (
                f"{hostname} is not in {where} (host key {key.fingerprint}); refusing to connect. "
                f"To trust it, check the fingerprint and run with --accept-new-host-keys, or add it with: "
                f"ssh-keyscan -p {port or 22} {shlex.quote(host)} >> {shlex.quote(str(where))}"))
        self.known.record(hostname, key)
        client.get_host_keys().add(hostname, key.get_name(), key)


def changed_key_message(hostname: str, port: int, e: paramiko.BadHostKeyException, where: Path) -> str:
    name = known_hosts_name(hostname, port)
    return (f"the {e.key.get_name()} host key of {name} has CHANGED (fingerprint now {e.key.fingerprint}); "
            f"refusing to connect. If the host was reinstalled, remove the old key with: "
            f"ssh-keygen -R {shlex.quote(name)} -f {shlex.quote(str(where))}")
