"""A remote host over SSH: one TCP connection, one session channel, one command per probe.

Built on paramiko's Transport rather than Fabric's Connection/Invoke runner: those add threads, a
second pass over ssh_config and, by default, trust any host key (Fabric 3 sets AutoAddPolicy and does
not load known_hosts). Here host keys are checked against known_hosts before authenticating, a new
key is only accepted when asked (and then recorded), a changed key is always refused, and every
failure becomes a TransportError whose status says what went wrong.
"""

from __future__ import annotations

import logging
import os
import select
import shlex
import socket
import threading
import time
from pathlib import Path
from typing import Callable

import paramiko
from paramiko.message import Message

from envdoctor.models import HostStatus
from envdoctor.targets import Target
from envdoctor.transport.base import CommandResult, Transport, TransportError

DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_KNOWN_HOSTS = "~/.ssh/known_hosts"
DEFAULT_IDENTITIES = ("~/.ssh/id_ed25519", "~/.ssh/id_ecdsa", "~/.ssh/id_rsa")
RSA_ALGOS = ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"]

# Runs argv under sudo. With a password, the first stdin line carries it: read it with the shell's
# `read` (builtin: the password never appears in a process list), use it only if sudo asks for one,
# and pass the rest of stdin (the probe) through. Without one, sudo must not prompt (-n).
BECOME_SCRIPT = (
    'if [ "$ENVDOCTOR_PW" = 1 ]; then IFS= read -r p || exit 97; fi; '
    'if sudo -n true 2>/dev/null; then unset p; exec sudo -n -- "$@"; fi; '
    'if [ "$ENVDOCTOR_PW" != 1 ]; then echo "envdoctor: sudo needs a password (use --become with a password)" >&2; '
    'exit 98; fi; '
    '{ printf "%s\\n" "$p"; unset p; exec cat; } | sudo -S -p "" -- "$@"'
)

# paramiko logs every failed handshake with a traceback; with no handler configured Python would print it
# to stderr. Our errors are reported as host statuses instead.
logging.getLogger("paramiko").addHandler(logging.NullHandler())

KILL_AFTER_SCRIPT = ('limit=$1; shift; if command -v timeout >/dev/null 2>&1; then exec timeout -s KILL "$limit" "$@"; '
                     'fi; exec "$@"')

_known_hosts_lock = threading.Lock()
_key_cache: dict[str, paramiko.PKey | None] = {}
_key_lock = threading.Lock()


def _load_key(path: str) -> paramiko.PKey | None:
    """A private key from a file, parsed once per run; None when absent or passphrase-protected."""
    with _key_lock:
        if path not in _key_cache:
            try:
                _key_cache[path] = paramiko.PKey.from_path(path)
            except (OSError, paramiko.SSHException, ValueError):
                _key_cache[path] = None
        return _key_cache[path]


def known_hosts_name(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"


class SSHTransport(Transport):
    def __init__(self, target: Target, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
                 known_hosts: str | os.PathLike | None = None, accept_new_host_keys: bool = False,
                 become: bool = False, become_password: str | None = None, **_ignored):
        self.target = target
        self.name = target.name
        self.connect_timeout = float(connect_timeout or DEFAULT_CONNECT_TIMEOUT)
        self.known_hosts = Path(os.path.expanduser(str(known_hosts or DEFAULT_KNOWN_HOSTS)))
        self.accept_new = accept_new_host_keys
        self.become = become
        self._become_password = become_password
        self._transports: list[paramiko.Transport] = []  # jump hosts first, the target last
        self._revoked: set[str] = set()  # base64 keys of known_hosts' @revoked lines

    def __repr__(self) -> str:  # never shows the become password
        return f"SSHTransport({self.target.name!r})"

    # --- connecting ------------------------------------------------------------------------
    def _fail(self, status: HostStatus, what: str) -> TransportError:
        return TransportError(status, what)

    def _host_keys(self) -> paramiko.HostKeys:
        """known_hosts, read line by line: paramiko's own loader stops at the first line it cannot parse
        (an `@revoked` or `@cert-authority` marker raises InvalidHostKey), which lost every host."""
        hk = paramiko.HostKeys()
        self._revoked = set()
        try:
            text = self.known_hosts.read_text(errors="replace")
        except FileNotFoundError:
            return hk
        except OSError as e:
            raise self._fail(HostStatus.ERROR, f"cannot read known hosts file {self.known_hosts}: {e}")
        for lineno, line in enumerate(text.splitlines(), 1):
            fields = line.split()
            if not fields or fields[0].startswith("#"):
                continue
            if fields[0] == "@revoked" and len(fields) >= 4:
                # any host: stricter than OpenSSH's per-host match, never looser
                self._revoked.add(fields[3])
                continue
            if fields[0].startswith("@"):  # @cert-authority: host certificates are not supported
                continue
            try:
                entry = paramiko.hostkeys.HostKeyEntry.from_line(" ".join(fields[:3]), lineno)
            except Exception:  # InvalidHostKey, SSHException, binascii errors: skip the line as OpenSSH does
                continue
            if entry is not None:
                for name in entry.hostnames:
                    hk.add(name, entry.key.get_name(), entry.key)
        return hk

    def _open_socket(self, host: str, port: int, via: paramiko.Transport | None):
        if via is not None:
            try:
                return via.open_channel("direct-tcpip", (host, port), ("127.0.0.1", 0),
                                        timeout=self.connect_timeout)
            except (paramiko.SSHException, OSError) as e:
                raise self._fail(HostStatus.UNREACHABLE, f"jump host could not reach {host}:{port}: {e}")
        try:
            return socket.create_connection((host, port), timeout=self.connect_timeout)
        except socket.gaierror as e:
            raise self._fail(HostStatus.UNREACHABLE, f"cannot resolve {host}: {e.strerror}")
        except (socket.timeout, TimeoutError):
            raise self._fail(HostStatus.TIMEOUT, f"connecting to {host}:{port} timed out after "
                                                 f"{self.connect_timeout:g} s")
        except ConnectionRefusedError:
            raise self._fail(HostStatus.UNREACHABLE, f"connection refused by {host}:{port} (no SSH server listening?)")
        except OSError as e:
            raise self._fail(HostStatus.UNREACHABLE, f"cannot connect to {host}:{port}: {e.strerror or e}")

    def _verify_host_key(self, t: paramiko.Transport, host: str, port: int, hk: paramiko.HostKeys) -> None:
        key = t.get_remote_server_key()
        name = known_hosts_name(host, port)
        if key.get_base64() in self._revoked:
            raise self._fail(HostStatus.HOST_KEY_CHANGED, (
                f"the {key.get_name()} host key of {name} ({key.fingerprint}) is marked @revoked in "
                f"{self.known_hosts}; refusing to connect"))
        known = hk.lookup(name)
        if known is not None:
            if key.get_name() in known:
                if known[key.get_name()] == key:
                    return
                raise self._fail(HostStatus.HOST_KEY_CHANGED, (
                    f"the {key.get_name()} host key of {name} has CHANGED (fingerprint now "
                    f"{key.fingerprint}); refusing to connect. If the host was reinstalled, remove the old "
                    f"key with: ssh-keygen -R {shlex.quote(name)} -f {shlex.quote(str(self.known_hosts))}"))
            # a known host presenting a type we did not ask for: treat as changed, never as new
            raise self._fail(HostStatus.HOST_KEY_CHANGED, (
                f"{name} presented a {key.get_name()} host key but known_hosts holds only "
                f"{', '.join(known.keys())}; refusing to connect"))
        if not self.accept_new:
            raise self._fail(HostStatus.HOST_KEY_UNKNOWN, (
                f"{name} is not in {self.known_hosts} (host key {key.fingerprint}); refusing to connect. "
                f"To trust it, check the fingerprint and run with --accept-new-host-keys, or add it with: "
                f"ssh-keyscan -p {port} {shlex.quote(host)} >> {shlex.quote(str(self.known_hosts))}"))
        with _known_hosts_lock:
            self.known_hosts.parent.mkdir(parents=True, exist_ok=True)
            with open(self.known_hosts, "a") as f:
                f.write(f"{name} {key.get_name()} {key.get_base64()}\n")

    def _auth(self, t: paramiko.Transport, user: str, host: str, identities: list[str]) -> None:
        files = [os.path.expanduser(p) for p in identities] or [os.path.expanduser(p) for p in DEFAULT_IDENTITIES]
        keys = [k for k in (_load_key(p) for p in files if os.path.exists(p)) if k is not None]
        if not identities or not self.target.vars.get("identities_only"):
            try:
                keys += list(paramiko.Agent().get_keys()) if os.environ.get("SSH_AUTH_SOCK") else []
            except paramiko.SSHException:
                pass
        if not keys:
            raise self._fail(HostStatus.AUTH_FAILED, f"no usable private key for {user}@{host} "
                                                     f"(tried {', '.join(files)} and the agent)")
        last = None
        for k in keys:
            try:
                t.auth_publickey(user, k)
                if t.is_authenticated():
                    return
            except paramiko.AuthenticationException as e:
                last = e
            except paramiko.SSHException as e:
                raise self._fail(HostStatus.AUTH_FAILED, f"authentication as {user}@{host} failed: {e}")
        raise self._fail(HostStatus.AUTH_FAILED, f"{user}@{host} refused our key(s) ({last or 'publickey'})")

    def _connect_one(self, host: str, port: int, user: str, identities: list[str],
                     via: paramiko.Transport | None) -> paramiko.Transport:
        hk = self._host_keys()
        sock = self._open_socket(host, port, via)
        t = paramiko.Transport(sock)
        self._transports.append(t)
        t.banner_timeout = self.connect_timeout
        t.auth_timeout = self.connect_timeout
        known = hk.lookup(known_hosts_name(host, port))
        if known:  # ask the server for a key type we can verify
            types = []
            for kt in known.keys():
                types += RSA_ALGOS if kt in RSA_ALGOS else [kt]
            try:
                t.get_security_options().key_types = [x for x in types if x in t.preferred_keys] or types
            except ValueError:
                pass
        done = threading.Event()
        t.start_client(event=done)
        if not done.wait(self.connect_timeout + 1):
            raise self._fail(HostStatus.TIMEOUT, f"{host}:{port} did not complete the SSH handshake in "
                                                 f"{self.connect_timeout:g} s")
        if not t.is_active():
            e = t.get_exception()
            text = str(e) if e else "negotiation failed"
            if "banner" in text.lower():
                raise self._fail(HostStatus.TIMEOUT, f"{host}:{port} accepted the connection but sent no SSH "
                                                     f"banner within {self.connect_timeout:g} s")
            raise self._fail(HostStatus.UNREACHABLE, f"SSH handshake with {host}:{port} failed: {text}")
        self._verify_host_key(t, host, port, hk)
        self._auth(t, user, host, identities)
        return t

    def connect(self) -> paramiko.Transport:
        if self._transports and self._transports[-1].is_authenticated():
            return self._transports[-1]
        tg = self.target
        via = None
        for hop in tg.proxy_jump or []:
            via = self._connect_one(hop.hostname or hop.name, hop.port or 22, hop.user or _local_user(),
                                    hop.identity_files, via)
        return self._connect_one(tg.hostname, tg.port or 22, tg.user or _local_user(), tg.identity_files, via)

    # --- running -----------------------------------------------------------------------------
    def _command(self, argv: list[str], timeout: float) -> tuple[str, bytes]:
        prefix = b""
        if self.become:
            pw = self._become_password
            argv = ["env", f"ENVDOCTOR_PW={1 if pw is not None else 0}", "sh", "-c", BECOME_SCRIPT,
                    "envdoctor-become"] + argv
            prefix = pw.encode() + b"\n" if pw is not None else b""
        # The remote command must not outlive our timeout: sshd ignores "signal" requests for root logins,
        # so the target's own `timeout` (coreutils, BusyBox) kills it a little after we give up.
        limit = str(int(timeout) + 3)
        return shlex.join(["sh", "-c", KILL_AFTER_SCRIPT, "envdoctor", limit] + argv), prefix

    def run(self, argv: list[str], stdin: bytes | None = None, timeout: float = 60.0,
            on_line: Callable[[str], None] | None = None) -> CommandResult:
        t0 = time.monotonic()
        try:
            t = self.connect()
            chan = t.open_session(timeout=self.connect_timeout)
            command, prefix = self._command(argv, timeout)
            chan.exec_command(command)
        except TransportError:
            raise
        except paramiko.SSHException as e:
            raise self._fail(HostStatus.ERROR, f"could not start the command: {e}")
        except (OSError, EOFError) as e:
            raise self._fail(HostStatus.UNREACHABLE, f"connection lost: {e}")
        deadline = t0 + timeout
        data = prefix + (stdin or b"")
        feeder = threading.Thread(target=_feed, args=(chan, data), daemon=True)
        feeder.start()
        out, err, timed_out = _collect(chan, deadline, on_line)
        if timed_out:
            _signal(chan, "KILL")  # sshd kills the remote command's process group
            chan.close()
            return CommandResult(None, out, err, time.monotonic() - t0, timed_out=True)
        rc = chan.recv_exit_status()
        chan.close()
        if self.become:
            if rc == 98:
                raise self._fail(HostStatus.AUTH_FAILED, "sudo needs a password: give it with --become "
                                                         "(prompt) or ENVDOCTOR_BECOME_PASSWORD")
            if "incorrect password" in err or "Sorry, try again" in err:
                raise self._fail(HostStatus.AUTH_FAILED, "sudo refused the become password")
        return CommandResult(rc, out, err, time.monotonic() - t0)

    def close(self) -> None:
        for t in reversed(self._transports):
            try:
                t.close()
            except Exception:
                pass
        self._transports.clear()


def _local_user() -> str:
    import getpass

    return getpass.getuser()


def _feed(chan: paramiko.Channel, data: bytes) -> None:
    try:
        if data:
            chan.sendall(data)
        chan.shutdown_write()
    except (OSError, EOFError, paramiko.SSHException):
        pass


def _signal(chan: paramiko.Channel, name: str) -> None:
    """RFC 4254 "signal" request (OpenSSH >= 7.9 honours it); best effort."""
    try:
        m = Message()
        m.add_byte(bytes([98]))  # SSH_MSG_CHANNEL_REQUEST
        m.add_int(chan.remote_chanid)
        m.add_string("signal")
        m.add_boolean(False)
        m.add_string(name)
        chan.transport._send_user_message(m)
    except Exception:
        pass


def _collect(chan: paramiko.Channel, deadline: float, on_line) -> tuple[str, str, bool]:
    out, err = bytearray(), bytearray()
    pending = b""
    fd = chan.fileno()
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return out.decode("utf-8", "replace"), err.decode("utf-8", "replace"), True
        select.select([fd], [], [], min(left, 1.0))
        got = False
        while chan.recv_ready():
            chunk = chan.recv(65536)
            got = True
            out += chunk
            if on_line is not None:
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    on_line(line.decode("utf-8", "replace"))
        while chan.recv_stderr_ready():
            err += chan.recv_stderr(65536)
            got = True
        if not got:
            if chan.closed or (chan.eof_received and chan.exit_status_ready()):
                break
            if chan.eof_received:  # the exit status follows the EOF closely: do not spin on the set pipe
                time.sleep(0.01)
    if on_line is not None and pending:
        on_line(pending.decode("utf-8", "replace"))
    return out.decode("utf-8", "replace"), err.decode("utf-8", "replace"), False
