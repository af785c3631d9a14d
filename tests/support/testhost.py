"""Real test hosts for the test suite: an OpenSSH server on loopback with its own host key, client key
and port; optionally *isolated*: run inside its own mount namespace where /etc and /usr/local are
copy-on-write overlays (writes land in the test's directory, never in this machine's /etc).

    with TestHost(tmp_path / "h1", isolated=True) as h:
        h.ssh_config   # an ssh_config file with an alias h.alias -> 127.0.0.1:h.port, user root, key
        h.known_hosts  # a known_hosts file that trusts this host's key
        h.root("etc/docker/daemon.json")  # where the host's view of /etc/docker/daemon.json is stored

Requires root and Debian's openssh-server (the README's test command installs it).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
# Debian's own interpreter on a target: no torch there, so the probe is fast (and torch_installed fails).
SYSTEM_PYTHON = "/usr/bin/python3"
USER_KEYS_DIR = "/etc/envdoctor-test-keys"  # on isolated hosts: keys of users made by add_user (readable by them)


_PORTS_GIVEN: set[int] = set()


def free_port() -> int:
    """A free loopback port never handed out before in this process: the kernel may give the same free
    port twice before the first sshd binds it, and two test hosts on one port answer for each other."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _PORTS_GIVEN:
            _PORTS_GIVEN.add(port)
            return port


def keygen(path: Path, kind: str = "ed25519") -> Path:
    if not path.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-f", str(path)], check=True)
    return path


class TestHost:
    __test__ = False  # not a pytest test class

    def __init__(self, workdir: Path, alias: str = "testhost", isolated: bool = False, port: int | None = None,
                 client_key: Path | None = None, extra_sshd_config: str = ""):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.alias = alias
        self.isolated = isolated
        self.port = port or free_port()
        self.host_key = keygen(self.dir / "ssh_host_ed25519_key")
        self.client_key = client_key or keygen(self.dir / "id_ed25519")
        self.extra = extra_sshd_config
        self.proc: subprocess.Popen | None = None

    # --- files a client uses -------------------------------------------------------------------
    @property
    def host_pubkey(self) -> str:
        return (self.dir / "ssh_host_ed25519_key.pub").read_text().split()[0:2]  # type: ignore[return-value]

    def known_hosts_line(self) -> str:
        kind, key = (self.dir / "ssh_host_ed25519_key.pub").read_text().split()[0:2]
        return f"[127.0.0.1]:{self.port} {kind} {key}\n"

    @property
    def known_hosts(self) -> Path:
        p = self.dir / "known_hosts"
        p.write_text(self.known_hosts_line())
        return p

    def ssh_config_block(self) -> str:
        return (f"Host {self.alias}\n  HostName 127.0.0.1\n  Port {self.port}\n  User root\n"
                f"  IdentityFile {self.client_key}\n  IdentitiesOnly yes\n")

    @property
    def ssh_config(self) -> Path:
        p = self.dir / "ssh_config"
        p.write_text(self.ssh_config_block())
        return p

    def root(self, path: str) -> Path:
        """Where this host's view of /<path> is stored when it was written on an isolated host."""
        top, _, rest = path.lstrip("/").partition("/")
        assert self.isolated and top in ("etc", "usr"), "only /etc and /usr/local are private to a test host"
        if top == "usr":
            assert rest.startswith("local"), path
            return self.dir / "overlay" / "usr_local" / "upper" / rest[len("local"):].lstrip("/")
        return self.dir / "overlay" / "etc" / "upper" / rest

    def run_inside(self, argv: list[str], **kw) -> subprocess.CompletedProcess:
        """Run a command in the host's mount namespace (to read its /etc as it sees it)."""
        assert self.proc is not None
        return subprocess.run(["nsenter", "-t", str(self.proc.pid), "-m", "--"] + argv, capture_output=True,
                              text=True, **kw)

    def add_user(self, name: str, password: str, sudo: bool = True) -> None:
        """Create a user that exists only inside this isolated host (its /etc is an overlay), who logs in
        with the client key and may sudo with `password` (one try, so a wrong password fails fast)."""
        assert self.isolated and self.proc is not None, "users can only be added to a started isolated host"
        pub = Path(str(self.client_key) + ".pub").read_text()
        script = (f"useradd -M -d /tmp -s /bin/sh {name} && chpasswd && mkdir -p {USER_KEYS_DIR} && "
                  f"printf '%s' \"$PUB\" > {USER_KEYS_DIR}/{name} && chmod 644 {USER_KEYS_DIR}/{name}")
        if sudo:
            script += (f" && printf '%s\\n' '{name} ALL=(ALL) ALL' 'Defaults:{name} passwd_tries=1' "
                       f"> /etc/sudoers.d/{name} && chmod 440 /etc/sudoers.d/{name}")
        r = subprocess.run(["nsenter", "-t", str(self.proc.pid), "-m", "--", "sh", "-c", script],
                           input=f"{name}:{password}\n", capture_output=True, text=True, env={**os.environ, "PUB": pub})
        if r.returncode != 0:
            raise RuntimeError(f"add_user failed: {r.stderr}")

    # --- lifecycle -----------------------------------------------------------------------------
    def _sshd_config(self) -> Path:
        auth = self.dir / "authorized_keys"
        auth.write_text(Path(str(self.client_key) + ".pub").read_text())
        os.chmod(auth, 0o600)
        cfg = self.dir / "sshd_config"
        cfg.write_text(
            f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {self.host_key}\n"
            f"AuthorizedKeysFile {auth} {USER_KEYS_DIR}/%u\nPidFile {self.dir / 'sshd.pid'}\n"
            "PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
            "UsePAM no\nStrictModes no\nPrintMotd no\nLogLevel ERROR\nMaxStartups 200:30:400\nMaxSessions 50\n"
            + self.extra
        )
        return cfg

    def start(self) -> "TestHost":
        cfg = self._sshd_config()
        Path("/run/sshd").mkdir(exist_ok=True)  # privilege separation directory
        sshd = [SSHD, "-D", "-e", "-f", str(cfg)]
        if self.isolated:
            mounts = []
            for name, lower in (("etc", "/etc"), ("usr_local", "/usr/local")):
                base = self.dir / "overlay" / name
                for sub in ("upper", "work"):
                    (base / sub).mkdir(parents=True, exist_ok=True)
                mounts.append(f"mount -t overlay overlay -o lowerdir={lower},upperdir={base}/upper,"
                              f"workdir={base}/work {lower}")
            script = " && ".join(mounts) + ' && exec "$@"'
            argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh"] + sshd
        else:
            argv = sshd
        self.log = open(self.dir / "sshd.log", "wb")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited: {(self.dir / 'sshd.log').read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    if s.recv(64).startswith(b"SSH-"):
                        # The banner must be ours: an sshd that could not bind its port exits at once,
                        # while another process's server may be answering on that port.
                        time.sleep(0.1)
                        if self.proc.poll() is not None:
                            raise RuntimeError(f"sshd exited: {(self.dir / 'sshd.log').read_text()}")
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("sshd did not start listening in 10 s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if getattr(self, "log", None):
            self.log.close()

    def __enter__(self) -> "TestHost":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class SilentListener:
    """A TCP port that accepts connections and never says a word (a hung sshd, a black-holing proxy)."""

    __test__ = False

    def __init__(self):
        import threading

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        self._stop = False
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        while not self._stop:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)  # held open, never written to

    def __enter__(self) -> "SilentListener":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop = True
        self.sock.close()
        for c in self.conns:
            c.close()


def fleet_files(hosts: list[TestHost], directory: Path) -> tuple[Path, Path]:
    """One ssh_config with every host's alias and one known_hosts trusting every host."""
    directory.mkdir(parents=True, exist_ok=True)
    cfg, kh = directory / "ssh_config", directory / "known_hosts"
    cfg.write_text("".join(h.ssh_config_block() for h in hosts))
    kh.write_text("".join(h.known_hosts_line() for h in hosts))
    return cfg, kh
