"""A remote host over SSH, through Fabric: one `fabric.Connection` per host (ProxyJump hops and
ProxyCommand gateways included), one session channel per command, every failure a TransportError
whose status says what went wrong.

Where Fabric's defaults are unsafe or slow, and what we do instead:
  * unsafe: `Connection` puts paramiko's AutoAddPolicy on `conn.client` and loads no known_hosts, so it
    trusts any host key; the gateways it builds itself from a ProxyJump are new Connections with the same
    policy. We load known_hosts into `conn.client` (our loader, which survives @revoked and
    @cert-authority lines) with a policy that refuses unknown keys unless --accept-new-host-keys
    (and records them), and we build each ProxyJump hop ourselves with the same checks.
  * slow: every Connection reads ~/.ssh/config and /etc/ssh/ssh_config again (our resolver already
    applied them: we hand Fabric an empty config); paramiko's default login loads every ~/.ssh/id_* file
    and asks the agent anew per connection (we use keys loaded once per run, see identities.py);
    banner, auth and channel waits default to 15, 30 and 3600 s whatever the connect timeout (we use
    --connect-timeout for all of them).
  * unsafe and slow: Invoke's runner behind `conn.run`/`conn.sudo` reads a non-terminal stdin one byte
    at a time (our probe is sent on stdin), keeps all output in memory with no limit, starts three
    threads per command and answers sudo's prompt by watching the output. We run each command on a
    session from `conn.transport` with a reader capped at MAX_OUTPUT_BYTES, and sudo reads the password
    from the first stdin line (BECOME_SCRIPT).
"""

from __future__ import annotations

import functools
import getpass
import logging
import os
import select
import shlex
import socket
import threading
import time
from pathlib import Path
from typing import Callable

import fabric
import paramiko

from envdoctor.hosts.targets import Target
from envdoctor.hosts.transport.base import (MAX_OUTPUT_BYTES, CommandResult, ConnectionClosed, OutputTooLarge,
                                            Transport, TransportError, running)
from envdoctor.hosts.transport.host_keys import KnownHosts, changed_key_message
from envdoctor.hosts.transport.identities import KeysThenAgent, identities
from envdoctor.models import HostStatus

DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_KNOWN_HOSTS = "~/.ssh/known_hosts"

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

# Every remote command: first says its process id on stderr (the group to end when we stop it: sshd
# ignores "signal" requests for root logins), then runs under the target's `timeout` (coreutils,
# BusyBox; it leads its own process group) so that it cannot outlive our limit even if we vanish.
PID_MARK = "envdoctor-pid "
KILL_AFTER_SCRIPT = ('echo "envdoctor-pid $$" >&2; limit=$1; shift; '
                     'if command -v timeout >/dev/null 2>&1; then exec timeout -s KILL "$limit" "$@"; fi; '
                     'exec "$@"')
# TERM first (sudo relays it to a root command; a user may not KILL it), then KILL what is left.
END_SCRIPT = ('p=$1; kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null; sleep 0.3; '
              'kill -KILL -- "-$p" 2>/dev/null || kill -KILL "$p" 2>/dev/null; exit 0')

# paramiko logs every failed handshake with a traceback; with no handler configured Python would print it
# to stderr. Our errors are reported as host statuses instead.
logging.getLogger("paramiko").addHandler(logging.NullHandler())

_known_hosts_cache: dict[tuple, KnownHosts] = {}
_known_hosts_lock = threading.Lock()


def _known_hosts(path: Path) -> KnownHosts:
    """Read once per run and shared by the forks (re-read when the file changed on disk)."""
    try:
        st = path.stat()
        stamp = (str(path), st.st_mtime_ns, st.st_size)
    except OSError:
        stamp = (str(path), None, None)
    with _known_hosts_lock:
        if stamp not in _known_hosts_cache:
            _known_hosts_cache[stamp] = KnownHosts(path)
        return _known_hosts_cache[stamp]


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
        if become_password is not None and ("\n" in become_password or "\r" in become_password):
            raise TransportError(HostStatus.AUTH_FAILED, "the become password contains a line break; sudo reads "
                                                         "only its first line, so it is refused")
        self._become_password = become_password
        self._conns: list[fabric.Connection] = []  # jump hosts first, the target last

    def __repr__(self) -> str:  # never shows the become password
        return f"SSHTransport({self.target.name!r})"

    # --- connecting ------------------------------------------------------------------------
    def _connection(self, t: Target, gateway) -> fabric.Connection:
        keys = identities(t.identity_files)
        use_agent = not (t.identity_files and t.vars.get("identities_only"))
        config = fabric.Config(ssh_config=paramiko.SSHConfig(), lazy=True, overrides={
            "load_ssh_configs": False,
            "authentication": {"strategy_class": functools.partial(KeysThenAgent, keys=keys, use_agent=use_agent)},
        })
        wait = self.connect_timeout
        conn = fabric.Connection(t.hostname, user=t.user or getpass.getuser(), port=t.port or 22, config=config,
                                 gateway=gateway if gateway is not None else False, connect_timeout=None,
                                 # start_client() returns quietly at `timeout`: let the banner wait end first,
                                 # so that a silent listener reads "no SSH banner"
                                 connect_kwargs={"timeout": wait + 1, "banner_timeout": wait, "auth_timeout": wait,
                                                 "channel_timeout": wait})
        _known_hosts(self.known_hosts).install(conn.client, self.accept_new)
        conn.envdoctor_keys = keys
        return conn

    def connect(self) -> fabric.Connection:
        if self._conns and self._conns[-1].is_connected:
            return self._conns[-1]
        self.close()
        tg = self.target
        gateway = tg.proxy_command or None
        for hop in tg.proxy_jump or []:
            gateway = self._connection(hop, gateway)
            self._conns.append(gateway)
        conn = self._connection(tg, gateway)
        self._conns.append(conn)
        t0 = time.monotonic()
        try:
            conn.open()
        except TransportError as e:
            raise self._which_hop(e.status, e.message) from None
        except Exception as e:  # paramiko, socket and ProxyCommand errors: each gets its status
            status, message = self._explain(e, time.monotonic() - t0)
            raise self._which_hop(status, message) from None
        return conn

    def _which_hop(self, status: HostStatus, message: str) -> TransportError:
        """Name the jump host when the failure was there (the first hop that is not connected)."""
        for c in self._conns[:-1]:
            if not c.is_connected:
                return TransportError(status, f"jump host {c.user}@{c.host}:{c.port}: {message}")
        return TransportError(status, message)

    def _failing(self) -> fabric.Connection:
        return next((c for c in self._conns[:-1] if not c.is_connected), self._conns[-1])

    def _explain(self, e: Exception, elapsed: float | None = None) -> tuple[HostStatus, str]:
        """The status and one line for a failed connection; `elapsed`: seconds from the start of connecting
        to the failure (a wait that ended early did not time out)."""
        c = self._failing()
        host, port, user = c.host, c.port, c.user
        proxy = self.target.proxy_command if c is self._conns[-1] and not self.target.proxy_jump else None
        if isinstance(e, paramiko.BadHostKeyException):
            return HostStatus.HOST_KEY_CHANGED, changed_key_message(host, port, e, self.known_hosts)
        if isinstance(e, paramiko.AuthenticationException):
            problems = [i.problem for i in c.envdoctor_keys if i.problem]
            tried = [i.path for i in c.envdoctor_keys]
            if not any(i.key is not None for i in c.envdoctor_keys) and problems:
                return HostStatus.AUTH_FAILED, f"cannot log in to {user}@{host}: " + "; ".join(problems)
            detail = f" (tried {', '.join(tried) or 'no key files'} and the agent)"
            return HostStatus.AUTH_FAILED, (f"{user}@{host} refused our key(s){detail}"
                                            + (f"; {'; '.join(problems)}" if problems else ""))
        if isinstance(e, paramiko.ProxyCommandFailure) or (proxy and isinstance(e, (paramiko.SSHException,
                                                                                      EOFError, OSError))):
            return HostStatus.UNREACHABLE, f"ProxyCommand {proxy!r} failed: {_first_line(e) or 'it ended'}"
        if isinstance(e, paramiko.SSHException):
            text = str(e)
            if text.startswith("Error reading SSH protocol banner"):
                return self._no_banner(host, port, e, elapsed)
            if "timed out" in text.lower() or "timeout" in text.lower() or "no existing session" in text.lower():
                return HostStatus.TIMEOUT, f"{host}:{port} did not complete the SSH handshake in " \
                                           f"{self.connect_timeout:g} s"
            return HostStatus.UNREACHABLE, f"SSH handshake with {host}:{port} failed: {_first_line(e)}"
        if isinstance(e, socket.gaierror):
            return HostStatus.UNREACHABLE, f"cannot resolve {host}: {e.strerror}"
        if isinstance(e, (socket.timeout, TimeoutError)):
            return HostStatus.TIMEOUT, f"connecting to {host}:{port} timed out after {self.connect_timeout:g} s"
        if isinstance(e, paramiko.ssh_exception.NoValidConnectionsError) or isinstance(e, ConnectionRefusedError):
            return HostStatus.UNREACHABLE, f"connection refused by {host}:{port} (no SSH server listening?)"
        if isinstance(e, OSError):
            return HostStatus.UNREACHABLE, f"cannot connect to {host}:{port}: {e.strerror or e}"
        if isinstance(e, EOFError):
            return HostStatus.UNREACHABLE, f"{host}:{port} closed the connection during the SSH handshake"
        return HostStatus.ERROR, f"cannot connect to {host}:{port}: {type(e).__name__}: {_first_line(e)}"

    def _no_banner(self, host: str, port: int, e: Exception, elapsed: float | None) -> tuple[HostStatus, str]:
        """paramiko says "Error reading SSH protocol banner" both when the wait ran out and when the other end
        hung up or reset first: the cause it wraps, and the time it took, tell which."""
        cause = e.__context__
        waited = f"{elapsed:.1f} s" if elapsed is not None else "a moment"
        if isinstance(cause, (socket.timeout, TimeoutError)) or (
                cause is None and elapsed is not None and elapsed >= self.connect_timeout - 0.5):
            return HostStatus.TIMEOUT, (f"{host}:{port} accepted the connection but sent no SSH banner within "
                                        f"{self.connect_timeout:g} s")
        how = ("reset it" if isinstance(cause, ConnectionResetError) else
               "closed it" if isinstance(cause, EOFError) or cause is None else f"dropped it ({_first_line(cause)})")
        return HostStatus.UNREACHABLE, (f"{host}:{port} accepted the connection but {how} after {waited} without "
                                        f"sending an SSH banner (not an SSH server, or one refusing new connections?)")

    # --- running -----------------------------------------------------------------------------
    def _command(self, argv: list[str], timeout: float) -> tuple[str, bytes]:
        prefix = b""
        if self.become:
            pw = self._become_password
            argv = ["env", f"ENVDOCTOR_PW={1 if pw is not None else 0}", "sh", "-c", BECOME_SCRIPT,
                    "envdoctor-become"] + argv
            prefix = pw.encode() + b"\n" if pw is not None else b""
        limit = str(int(timeout) + 3)
        return shlex.join(["sh", "-c", KILL_AFTER_SCRIPT, "envdoctor", limit] + argv), prefix

    def run(self, argv: list[str], stdin: bytes | None = None, timeout: float = 60.0,
            on_line: Callable[[str], None] | None = None) -> CommandResult:
        t0 = time.monotonic()
        conn = self.connect()
        try:
            chan = conn.transport.open_session(timeout=self.connect_timeout)
            command, prefix = self._command(argv, timeout)
            chan.exec_command(command)
        except paramiko.SSHException as e:
            raise TransportError(HostStatus.ERROR, f"could not start the command: {_first_line(e)}") from None
        except (OSError, EOFError) as e:
            raise TransportError(HostStatus.UNREACHABLE, f"connection lost: {e}") from None
        feeder = threading.Thread(target=_feed, args=(chan, prefix + (stdin or b"")), daemon=True)
        feeder.start()
        reader = _Reader(chan, on_line)
        with running(lambda: self._end(conn, chan, reader.pid)):
            outcome = reader.collect(t0 + timeout)
        if outcome != "done":
            self._end(conn, chan, reader.pid)
            if outcome == "timeout":
                return CommandResult(None, reader.text(reader.out), reader.text(reader.err), time.monotonic() - t0,
                                     timed_out=True)
            if outcome == "too-much":
                raise OutputTooLarge(f"{argv[0]} wrote more than {MAX_OUTPUT_BYTES >> 20} MiB; it was stopped")
            raise ConnectionClosed("connection closed by the host while the command ran")
        rc = chan.recv_exit_status()
        chan.close()
        out, err = reader.text(reader.out), reader.text(reader.err)
        if self.become:
            if rc == 98:
                raise TransportError(HostStatus.AUTH_FAILED, "sudo needs a password: give it with --become "
                                                             "(prompt) or ENVDOCTOR_BECOME_PASSWORD")
            if "incorrect password" in err or "Sorry, try again" in err:
                raise TransportError(HostStatus.AUTH_FAILED, "sudo refused the become password")
        return CommandResult(rc, out, err, time.monotonic() - t0)  # -1: ended without an exit status (a signal)

    def _end(self, conn: fabric.Connection, chan: paramiko.Channel, pid: int | None) -> None:
        """Stop a remote command now (timeout, output cap, Ctrl-C/SIGTERM): kill its process group from a
        second session on the same connection, then close its channel."""
        if pid is not None and conn.transport is not None and conn.transport.is_active():
            try:
                ender = conn.transport.open_session(timeout=2)
                ender.exec_command(shlex.join(["sh", "-c", END_SCRIPT, "envdoctor-end", str(pid)]))
                ender.status_event.wait(3)
                ender.close()
            except Exception:  # best effort: the target's `timeout` ends it in the end
                pass
        try:
            chan.close()
        except Exception:
            pass

    def close(self) -> None:
        for c in reversed(self._conns):
            try:
                c.close()
                c.client.close()  # also after a failed open (Fabric closes only connected ones): threads, proxies
            except Exception:
                pass
        self._conns.clear()


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _feed(chan: paramiko.Channel, data: bytes) -> None:
    try:
        if data:
            chan.sendall(data)
        chan.shutdown_write()
    except (OSError, EOFError, paramiko.SSHException):
        pass


class _Reader:
    """stdout and stderr of one channel, bounded (MAX_OUTPUT_BYTES together), with the wrapper's pid line
    taken off stderr and stdout lines passed to `on_line` as they come."""

    def __init__(self, chan: paramiko.Channel, on_line):
        self.chan, self.on_line = chan, on_line
        self.out, self.err = bytearray(), bytearray()
        self.pid: int | None = None
        self._pid_seen = False
        self._pending = b""

    @staticmethod
    def text(b: bytearray) -> str:
        return b.decode("utf-8", "replace")

    def _take_pid(self) -> None:
        if self._pid_seen or b"\n" not in self.err:
            return
        line, _, rest = bytes(self.err).partition(b"\n")
        if line.startswith(PID_MARK.encode()):
            try:
                self.pid = int(line[len(PID_MARK):])
            except ValueError:
                pass
            self.err = bytearray(rest)
        self._pid_seen = True

    def collect(self, deadline: float) -> str:
        """'done', 'timeout', 'too-much' or 'closed' (the connection went away before an exit status)."""
        chan = self.chan
        fd = chan.fileno()
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return "timeout"
            select.select([fd], [], [], min(left, 1.0))
            got = False
            while chan.recv_ready():
                chunk = chan.recv(65536)
                got = True
                self.out += chunk
                if self.on_line is not None:
                    self._pending += chunk
                    *lines, self._pending = self._pending.split(b"\n")
                    for line in lines:
                        self.on_line(line.decode("utf-8", "replace"))
            while chan.recv_stderr_ready():
                self.err += chan.recv_stderr(65536)
                got = True
                self._take_pid()
            if len(self.out) + len(self.err) > MAX_OUTPUT_BYTES:
                return "too-much"
            if not got:
                if chan.exit_status_ready() and not chan.recv_ready() and not chan.recv_stderr_ready():
                    if chan.exit_status == -1 and not chan.get_transport().is_active():
                        return "closed"
                    break
                if chan.closed or not chan.get_transport().is_active():
                    return "closed"
                if chan.eof_received:  # the exit status follows the EOF closely: do not spin on the set pipe
                    time.sleep(0.01)
        self._take_pid()
        if self.on_line is not None and self._pending:
            self.on_line(self._pending.decode("utf-8", "replace"))
        return "done"
