"""Real test hosts for the test suite: an OpenSSH server on loopback with its own host key, client key
and port; optionally *isolated*: run inside its own mount namespace where /etc and /usr/local are
copy-on-write overlays (writes land in the test's directory, never in this machine's /etc). An isolated
host also gets a private /var/lib (overlay: envdoctor's state on the target) and a private tmpfs on
/dev/shm of the machine's size, mounted first: a remount there (the shm playbook) resizes that tmpfs,
never the machine's (a remount of a tmpfs shared with the parent namespace changes its superblock).
With `pam=True` sshd runs with PAM, so each login gets the limits in the host's /etc/security, and
`memlock_kib` sets the soft locked-memory limit sshd (and so a login before limits.d says more) starts with.
`rdma_devices=("mlx5_0",)` gives the host's own mount namespace a /sys/class/infiniband with those entries
(constructed: a read-only overlay of a directory of ours over /sys/class), so a host without RDMA hardware
plays one where the locked-memory limit matters; this machine's /sys is never touched.

    with TestHost(tmp_path / "h1", isolated=True) as h:
        h.ssh_config   # an ssh_config file with an alias h.alias -> 127.0.0.1:h.port, user root, key
        h.known_hosts  # a known_hosts file that trusts this host's key
        h.root("etc/docker/daemon.json")  # where the host's view of /etc/docker/daemon.json is stored

With `netns="n1"` the host gets its own network stack: a network namespace whose eth0 (one end of a veth
pair; the other end is on a test bridge that holds the subnet's .1 on this machine) has `ip`, and sshd
listens there on port 22. Only the network is separate, so this machine's interpreters work inside.

    with TestHost(tmp_path / "n1", alias="node1", netns="n1") as h:
        h.addr     # its address (10.77.x.y), as the client and the other namespaces reach it

Requires root and Debian's openssh-server (the README's test command installs it); netns also needs `ip`
(iproute2) and permission to create network namespaces (`netns_available()` says whether there is).
"""

from __future__ import annotations

import atexit
import ipaddress
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


# --- network namespaces ------------------------------------------------------------------------------
# Names carry this process's id so that parallel runs, and leftovers of a killed run, never collide.
RUN_ID = f"{os.getpid() % 0x10000:04x}"

# Every test sshd gets its own /run: sshd wants /run/sshd (privilege separation), and a PAM login writes
# there (pam_motd's /run/motd.dynamic); on this machine's /run both would outlive the tests.
PRIVATE_RUN = ("mount -t tmpfs -o rw,nosuid,nodev,mode=755 tmpfs /run && mkdir -p /run/sshd /run/lock "
               "&& chmod 1777 /run/lock")
BRIDGE = f"edtbr{RUN_ID}"
_NETNS_LIVE: set[str] = set()  # namespaces of this process not yet torn down (the bridge goes with the last)
_NETNS_NEXT = [0]  # veth index / host number counter
_SUBNET: list[ipaddress.IPv4Network] = []


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run(["ip", *args], capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {r.stderr.strip()}")
    return r


def netns_available() -> str | None:
    """None when this process may make network namespaces, veths and bridges; otherwise why not."""
    if os.geteuid() != 0:
        return "needs root"
    if not shutil.which("ip"):
        return "needs iproute2 (ip)"
    probe = f"edtprobe{RUN_ID}"
    r = _ip("netns", "add", probe, check=False)
    if r.returncode != 0:
        return f"ip netns add is not permitted here: {r.stderr.strip()}"
    _ip("netns", "del", probe, check=False)
    r = _ip("link", "add", f"edtpb{RUN_ID}", "type", "bridge", check=False)
    if r.returncode != 0:
        return f"cannot create a bridge here: {r.stderr.strip()}"
    _ip("link", "del", f"edtpb{RUN_ID}", check=False)
    return None


def _used_subnets() -> list[ipaddress.IPv4Network]:
    out = _ip("-4", "-o", "addr", "show").stdout + _ip("-4", "route", "show").stdout
    nets = []
    for tok in out.split():
        try:
            nets.append(ipaddress.ip_network(tok, strict=False))
        except ValueError:
            continue
    return [n for n in nets if n.prefixlen > 0]


def _bridge(ip: str | None) -> ipaddress.IPv4Network:
    """The test bridge of this process (created once): the subnet of `ip`, or a free /24 in 10.77.0.0/16."""
    if _SUBNET:
        if ip and ipaddress.ip_address(ip) not in _SUBNET[0]:
            raise ValueError(f"{ip} is not in this run's test subnet {_SUBNET[0]}")
        return _SUBNET[0]
    used = _used_subnets()
    if ip:
        net = ipaddress.ip_network(f"{ip}/24", strict=False)
        if any(net.overlaps(u) for u in used):
            raise RuntimeError(f"{net} is already in use on this machine")
    else:
        # Start the search at a place of this run's own, so that two runs starting at once rarely race.
        nets = list(ipaddress.ip_network("10.77.0.0/16").subnets(new_prefix=24))
        start = int(RUN_ID, 16) % len(nets)
        net = next((n for n in nets[start:] + nets[:start] if not any(n.overlaps(u) for u in used)), None)
        if net is None:
            raise RuntimeError("no free /24 in 10.77.0.0/16 for a test bridge")
    _ip("link", "del", BRIDGE, check=False)  # a leftover of a killed run that had our process id
    _ip("link", "add", BRIDGE, "type", "bridge")
    _ip("addr", "add", f"{net[1]}/{net.prefixlen}", "dev", BRIDGE)
    _ip("link", "set", BRIDGE, "up")
    _SUBNET.append(net)
    return net


def _drop_bridge_if_unused() -> None:
    if not _NETNS_LIVE and _SUBNET:
        _ip("link", "del", BRIDGE, check=False)
        _SUBNET.clear()


@atexit.register
def _netns_cleanup() -> None:
    """Session end: whatever a test did not stop (its sshd dies with the namespace's last process)."""
    for ns in list(_NETNS_LIVE):
        _ip("netns", "del", ns, check=False)
        _NETNS_LIVE.discard(ns)
    _drop_bridge_if_unused()


def descendants(root: int) -> list[int]:
    """Every process below `root`, read from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [root]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def keygen(path: Path, kind: str = "ed25519") -> Path:
    if not path.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-f", str(path)], check=True)
    return path


class TestHost:
    __test__ = False  # not a pytest test class

    def __init__(self, workdir: Path, alias: str = "testhost", isolated: bool = False, port: int | None = None,
                 client_key: Path | None = None, extra_sshd_config: str = "", netns: str | None = None,
                 ip: str | None = None, pam: bool = False, memlock_kib: int | None = None,
                 rdma_devices: tuple[str, ...] = ()):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.alias = alias
        self.isolated = isolated
        # netns: `netns` is a label; the namespace's real name carries this run's id (see RUN_ID).
        self.netns = f"edt-{netns}-{RUN_ID}" if netns else None
        self.want_ip = ip
        self.addr = "127.0.0.1"  # set to the namespace's address by start() in netns mode
        self.veth: str | None = None
        self.port = port or (22 if netns else free_port())
        self.host_key = keygen(self.dir / "ssh_host_ed25519_key")
        self.client_key = client_key or keygen(self.dir / "id_ed25519")
        self.extra = extra_sshd_config
        self.pam = pam
        self.memlock_kib = memlock_kib
        self.rdma_devices = tuple(rdma_devices)
        self.proc: subprocess.Popen | None = None

    # --- files a client uses -------------------------------------------------------------------
    @property
    def host_pubkey(self) -> str:
        return (self.dir / "ssh_host_ed25519_key.pub").read_text().split()[0:2]  # type: ignore[return-value]

    def known_hosts_line(self) -> str:
        kind, key = (self.dir / "ssh_host_ed25519_key.pub").read_text().split()[0:2]
        name = self.addr if self.port == 22 else f"[{self.addr}]:{self.port}"
        return f"{name} {kind} {key}\n"

    @property
    def known_hosts(self) -> Path:
        p = self.dir / "known_hosts"
        p.write_text(self.known_hosts_line())
        return p

    def ssh_config_block(self) -> str:
        return (f"Host {self.alias}\n  HostName {self.addr}\n  Port {self.port}\n  User root\n"
                f"  IdentityFile {self.client_key}\n  IdentitiesOnly yes\n")

    @property
    def ssh_config(self) -> Path:
        p = self.dir / "ssh_config"
        p.write_text(self.ssh_config_block())
        return p

    def root(self, path: str) -> Path:
        """Where this host's view of /<path> is stored when it was written on an isolated host."""
        top, _, rest = path.lstrip("/").partition("/")
        assert self.isolated, "only an isolated host has private files"
        if top == "etc":
            return self.dir / "overlay" / "etc" / "upper" / rest
        prefix, name = {"usr": ("local", "usr_local"), "var": ("lib", "var_lib")}.get(top, (None, None))
        assert prefix and (rest == prefix or rest.startswith(prefix + "/")), \
            f"only /etc, /usr/local and /var/lib are private to a test host, not {path}"
        return self.dir / "overlay" / name / "upper" / rest[len(prefix):].lstrip("/")

    def run_inside(self, argv: list[str], **kw) -> subprocess.CompletedProcess:
        """Run a command in the host's mount (and network, in netns mode) namespace: its /etc, its network."""
        assert self.proc is not None
        ns = ["-m", "-n"] if self.netns else ["-m"]
        return subprocess.run(["nsenter", "-t", str(self.proc.pid), *ns, "--"] + argv, capture_output=True,
                              text=True, **kw)

    def add_user(self, name: str, password: str, sudo: bool = True) -> None:
        """Create a user that exists only inside this isolated host (its /etc is an overlay), who logs in
        with the client key and may sudo with `password` (one try, so a wrong password fails fast)."""
        assert self.isolated and self.proc is not None, "users can only be added to a started isolated host"
        pub = Path(str(self.client_key) + ".pub").read_text()
        # Its home is in the host's private /var/lib, so what it writes there never reaches this machine.
        home = f"/var/lib/envdoctor-test-home/{name}"
        script = (f"mkdir -p {home} && useradd -M -d {home} -s /bin/sh {name} && chown {name} {home} && chpasswd && "
                  f"mkdir -p {USER_KEYS_DIR} && "
                  f"printf '%s' \"$PUB\" > {USER_KEYS_DIR}/{name} && chmod 644 {USER_KEYS_DIR}/{name}")
        if sudo:
            script += (f" && printf '%s\\n' '{name} ALL=(ALL) ALL' 'Defaults:{name} passwd_tries=1' "
                       f"> /etc/sudoers.d/{name} && chmod 440 /etc/sudoers.d/{name}")
        r = subprocess.run(["nsenter", "-t", str(self.proc.pid), "-m", "--", "sh", "-c", script],
                           input=f"{name}:{password}\n", capture_output=True, text=True, env={**os.environ, "PUB": pub})
        if r.returncode != 0:
            raise RuntimeError(f"add_user failed: {r.stderr}")

    def inetd_proxy_command(self) -> str:
        """A ProxyCommand that serves each connection with this host's own sshd on stdin/stdout (`sshd -i`):
        a host with no listening socket at all, reachable only through that ProxyCommand."""
        return (f"unshare --mount --propagation private sh -c '{PRIVATE_RUN} && exec \"$@\"' sh "
                f"{SSHD} -i -f {self._sshd_config()}")

    # --- lifecycle -----------------------------------------------------------------------------
    def _sshd_config(self) -> Path:
        auth = self.dir / "authorized_keys"
        auth.write_text(Path(str(self.client_key) + ".pub").read_text())
        os.chmod(auth, 0o600)
        cfg = self.dir / "sshd_config"
        cfg.write_text(
            f"Port {self.port}\nListenAddress {self.addr}\nHostKey {self.host_key}\n"
            f"AuthorizedKeysFile {auth} {USER_KEYS_DIR}/%u\nPidFile {self.dir / 'sshd.pid'}\n"
            "PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
            f"UsePAM {'yes' if self.pam else 'no'}\nStrictModes no\nPrintMotd no\nLogLevel ERROR\nMaxStartups 200:30:400\nMaxSessions 50\n"
            + self.extra
        )
        return cfg

    def _make_netns(self) -> None:
        """The namespace, its eth0 with the address (a veth whose other end is on the bridge), lo up."""
        net = _bridge(self.want_ip)
        _NETNS_NEXT[0] += 1
        n = _NETNS_NEXT[0]
        addr = self.want_ip or str(net[1 + n])
        host_end, ns_end = f"edt{RUN_ID}h{n}", f"edt{RUN_ID}p{n}"  # <= 15 characters (IFNAMSIZ)
        _ip("netns", "del", self.netns, check=False)  # a leftover of a killed run that had our process id
        _ip("link", "del", host_end, check=False)
        _ip("netns", "add", self.netns)
        _NETNS_LIVE.add(self.netns)
        self.veth = host_end
        _ip("link", "add", host_end, "type", "veth", "peer", "name", ns_end)
        _ip("link", "set", host_end, "master", BRIDGE)
        _ip("link", "set", host_end, "up")
        _ip("link", "set", ns_end, "netns", self.netns)
        inside = ("netns", "exec", self.netns, "ip")
        _ip(*inside, "link", "set", ns_end, "name", "eth0")
        _ip(*inside, "addr", "add", f"{addr}/{net.prefixlen}", "dev", "eth0")
        _ip(*inside, "link", "set", "eth0", "up")
        _ip(*inside, "link", "set", "lo", "up")
        self.addr = addr

    def _drop_netns(self) -> None:
        if self.veth:
            _ip("link", "del", self.veth, check=False)  # takes its peer (eth0 inside) with it
            self.veth = None
        if self.netns in _NETNS_LIVE:
            _ip("netns", "del", self.netns, check=False)
            _NETNS_LIVE.discard(self.netns)
        _drop_bridge_if_unused()

    def _rdma_view(self) -> str:
        """The mount that shows `rdma_devices` in /sys/class/infiniband: sysfs cannot be written, so a
        read-only overlay puts a directory of ours (infiniband/<name>, constructed) above /sys/class; every
        other class (net, ...) still reads through to the real sysfs."""
        fake = self.dir / "sys_class"
        for name in self.rdma_devices:
            (fake / "infiniband" / name).mkdir(parents=True, exist_ok=True)
        return f"mount -t overlay overlay -o ro,lowerdir={fake}:/sys/class /sys/class"

    def start(self) -> "TestHost":
        if self.netns:
            self._make_netns()
        cfg = self._sshd_config()
        sshd = [SSHD, "-D", "-e", "-f", str(cfg)]
        mounts = [PRIVATE_RUN]  # first, so that even mount(8)'s own records land in the private /run
        if self.rdma_devices:
            mounts.append(self._rdma_view())
        if self.isolated:
            for name, lower in (("etc", "/etc"), ("usr_local", "/usr/local"), ("var_lib", "/var/lib")):
                base = self.dir / "overlay" / name
                for sub in ("upper", "work"):
                    (base / sub).mkdir(parents=True, exist_ok=True)
                mounts.append(f"mount -t overlay overlay -o lowerdir={lower},upperdir={base}/upper,"
                              f"workdir={base}/work {lower}")
            st = os.statvfs("/dev/shm")
            mounts.append(f"mount -t tmpfs -o rw,nosuid,nodev,size={st.f_blocks * st.f_frsize} tmpfs /dev/shm")
        script = " && ".join(mounts) + ' && exec "$@"'
        argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh"] + sshd
        if self.memlock_kib is not None:
            n = self.memlock_kib * 1024
            argv = ["prlimit", f"--memlock={n}:", "--"] + argv  # the soft limit: raising a hard one back needs CAP_SYS_RESOURCE
        if self.netns:
            argv = ["ip", "netns", "exec", self.netns] + argv
        self.log = open(self.dir / "sshd.log", "wb")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited: {(self.dir / 'sshd.log').read_text()}")
            try:
                with socket.create_connection((self.addr, self.port), timeout=0.2) as s:
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
            # sshd serves each connection in a process of its own session, out of reach of killpg:
            # end those too, or a connection still open (a hung probe) outlives its host.
            for pid in descendants(self.proc.pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if getattr(self, "log", None):
            self.log.close()
        if self.netns:
            self._drop_netns()

    def stop_sshd(self) -> None:
        """Stop only the server: the namespace keeps its address, and connections to it are refused."""
        netns, self.netns = self.netns, None
        try:
            self.stop()
        finally:
            self.netns = netns

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


def established_sockets(pid: int, port: int | None = None) -> set[str] | None:
    """The inodes of process `pid`'s sockets that are established IPv4 TCP connections (to `port` on the
    remote side, when given), read from /proc; None when the process has exited."""
    mine = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return None
    for fd in fds:
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            mine.add(link[8:-1])
    out = set()
    for ln in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        f = ln.split()
        if f[3] == "01" and f[9] in mine and (port is None or int(f[2].split(":")[1], 16) == port):
            out.add(f[9])
    return out

