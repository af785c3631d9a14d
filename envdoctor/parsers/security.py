"""The security sections of the probe -> values: LISTEN sockets of /proc/net/tcp{,6}, Jupyter
servers (processes, `jupyter server list --json`, an unauthenticated GET), `sshd -T`, the login user's
authorized keys, docker's TCP hosts, the docker group and running containers. Pure functions of text;
envdoctor/diagnosis/host_facts/security.py puts them together into SecurityFacts."""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any

from envdoctor.facts.security import ContainerPosture, JupyterServer, ListenSocket, LoginFacts, SshdConfig

DOCKER_SOCKETS = ("/var/run/docker.sock", "/run/docker.sock")
DOCKER_TCP_PORTS = (2375, 2376)  # docker's registered plain and TLS ports


# --- /proc/net/tcp ---------------------------------------------------------------------------------

def _hex_address(h: str) -> tuple[str, int]:
    ip, port = h.split(":")
    raw = bytes.fromhex(ip)
    if len(raw) == 4:
        addr = ipaddress.IPv4Address(raw[::-1])
    else:  # four host-order 32-bit words
        addr = ipaddress.IPv6Address(b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4)))
        if addr.ipv4_mapped:
            return f"::ffff:{addr.ipv4_mapped}", int(port, 16)
    return str(addr), int(port, 16)


def parse_proc_net_tcp(text: str) -> list[ListenSocket]:
    """LISTEN (state 0A) lines of /proc/net/tcp and tcp6 (the probe marks each file with a `# path` line;
    a whole file with its header works too)."""
    out: list[ListenSocket] = []
    family = "tcp"
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("#"):
            family = "tcp6" if s.endswith("tcp6") else "tcp"
            continue
        f = s.split()
        if len(f) < 10 or not f[0].endswith(":") or f[3] != "0A":
            continue
        try:
            addr, port = _hex_address(f[1])
        except ValueError:
            continue
        if ":" in addr:
            family = "tcp6"
        out.append(ListenSocket(address=addr, port=port, uid=int(f[7]) if f[7].isdigit() else None, inode=f[9],
                                family=family))
    return out


# --- Jupyter ---------------------------------------------------------------------------------------

_ARG = re.compile(r"^--(?:(?:ServerApp|NotebookApp|IdentityProvider|PasswordIdentityProvider)\.)?"
                  r"(ip|port|token|password|hashed_password|base_url|certfile)=(.*)$")


def _empty(v: str) -> bool:
    return v in ("", "''", '""')


def jupyter_args(argv: list[str]) -> dict[str, str]:
    """--ip, --port, --ServerApp.token=... from a (redacted) command line; the last one wins, as in traitlets."""
    out: dict[str, str] = {}
    for a in argv:
        m = _ARG.match(a)
        if m:
            key = "password" if m.group(1) == "hashed_password" else m.group(1)
            out[key] = m.group(2)
    return out


def _http_verdict(answer: str) -> bool | None:
    m = re.match(r"^(https?) (\d{3})$", answer or "")
    if not m:
        return None
    code = int(m.group(2))
    if code == 200:
        return True
    return False if code in (401, 403) else None


def jupyter_servers(doc: dict[str, Any], listening: list[ListenSocket] | None) -> list[JupyterServer]:
    """The probe's `sec_jupyter` document: each server process with its sockets, what `jupyter server
    list` says of it, and how an unauthenticated GET of /api/kernels was answered."""
    by_inode = {s.inode: s for s in listening or [] if s.inode}
    listed = {r.get("pid"): r for r in doc.get("servers_listed") or [] if isinstance(r, dict)}
    http = {}
    for h in doc.get("http") or []:
        http.setdefault(h.get("pid"), []).append(h)
    out = []
    for p in doc.get("processes") or []:
        argv = [str(a) for a in p.get("argv") or []]
        s = JupyterServer(pid=p.get("pid"), uid=p.get("uid"), argv=argv)
        inodes = p.get("socket_inodes")
        if inodes is not None and listening is not None:
            s.listening = [by_inode[i] for i in inodes if i in by_inode]
        args = jupyter_args(argv)
        s.ip = args.get("ip")
        s.port = int(args["port"]) if args.get("port", "").isdigit() else None
        if "token" in args:
            s.token = not _empty(args["token"])
            s.evidence.append(f"command line: token {'set' if s.token else 'empty'} ({_argname(argv, 'token')})")
        if "password" in args:
            s.password = not _empty(args["password"])
        env = p.get("env") or {}
        if env.get("JUPYTER_TOKEN") and s.token is None:
            s.token = True
            s.evidence.append("environment: JUPYTER_TOKEN is set")
        row = listed.get(s.pid)
        if row is not None:
            s.token = bool(row.get("token"))
            s.password = bool(row.get("password"))
            s.port = s.port or row.get("port")
            s.evidence.append(f"{row.get('listed_by', 'jupyter server list')}: port {row.get('port')}, "
                              f"token {'set' if s.token else 'none'}, password {'set' if s.password else 'none'}")
        for h in http.get(s.pid, []):
            verdict = _http_verdict(h.get("unauthenticated_get", ""))
            where = f"{h.get('address')}:{h.get('port')}"
            s.evidence.append(f"GET /api/kernels on {where} without a token: {h.get('unauthenticated_get')}")
            if verdict is not None:
                s.unauthenticated_ok = verdict if s.unauthenticated_ok is None else (s.unauthenticated_ok or verdict)
        if s.unauthenticated_ok:
            s.token, s.password = False if s.token is None else s.token, False if s.password is None else s.password
        out.append(s)
    return out


def _argname(argv: list[str], key: str) -> str:
    return next((a for a in reversed(argv) if _ARG.match(a) and _ARG.match(a).group(1) == key), key)


# --- sshd -------------------------------------------------------------------------------------------

def parse_sshd_T(text: str) -> SshdConfig | None:
    """`sshd -T`: one `keyword value` per line, lowercase keywords. None when the text holds none of the
    keywords every sshd prints (an error message instead)."""
    cfg = SshdConfig()
    for line in text.splitlines():
        key, _, value = line.strip().partition(" ")
        if not key or not re.match(r"^[a-z0-9]+$", key):
            continue
        value = value.strip()
        if key == "listenaddress":
            cfg.listen_addresses.append(value)
        elif key == "port":
            if value.isdigit():
                cfg.ports.append(int(value))
        else:
            cfg.settings.setdefault(key, value)
    if "passwordauthentication" not in cfg.settings or "permitrootlogin" not in cfg.settings:
        return None
    return cfg


def _listen_host(addr: str) -> str:
    """"0.0.0.0:22" -> "0.0.0.0"; "[::]:22" -> "::"."""
    m = re.match(r"^\[(.*)\]:\d+$", addr) or re.match(r"^(.*):\d+$", addr)
    return m.group(1) if m else addr


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return host == "localhost"


def sshd_reachable(cfg: SshdConfig) -> list[str]:
    """The listen addresses beyond loopback."""
    return [a for a in cfg.listen_addresses if not is_loopback(_listen_host(a))]


def passwords_accepted(cfg: SshdConfig) -> list[str]:
    """The settings through which sshd takes a password (keyboard-interactive asks PAM, which asks for one)."""
    s = cfg.settings
    out = []
    if s.get("passwordauthentication") == "yes":
        out.append("passwordauthentication yes")
    if s.get("kbdinteractiveauthentication", s.get("challengeresponseauthentication")) == "yes" and \
            s.get("usepam") == "yes":
        out.append("kbdinteractiveauthentication yes (with usepam yes)")
    return out


def parse_login(doc: dict[str, Any]) -> LoginFacts:
    files = doc.get("authorized_keys") or []
    counts = [f.get("keys") for f in files]
    return LoginFacts(user=str(doc.get("user")), uid=doc.get("uid"), via_sudo=bool(doc.get("via_sudo")),
                      ssh_session=bool(doc.get("ssh_session")),
                      key_count=None if any(c is None for c in counts) else sum(counts),
                      key_files=", ".join(f"{f.get('path')} ({f.get('keys') if f.get('keys') is not None else f.get('error')})"
                                          for f in files),
                      keys_command=doc.get("authorized_keys_command"))


# --- docker ------------------------------------------------------------------------------------------

def dockerd_hosts(argv: list[str]) -> tuple[list[str], bool | None]:
    """-H/--host values of a dockerd command line, and --tlsverify (None: not on the command line)."""
    hosts, verify = [], None
    it = iter(range(len(argv)))
    for i in it:
        a = argv[i]
        if a in ("-H", "--host") and i + 1 < len(argv):
            hosts.append(argv[i + 1])
            next(it, None)
        elif a.startswith(("-H=", "--host=")):
            hosts.append(a.split("=", 1)[1])
        elif a.startswith("-H") and len(a) > 2:
            hosts.append(a[2:])
        elif a == "--tlsverify" or a == "--tlsverify=true":
            verify = True
        elif a == "--tlsverify=false":
            verify = False
    return hosts, verify


def parse_accounts(text: str) -> tuple[list[str] | None, list[str]]:
    """The probe's `sec_accounts`: (docker group members incl. primary-group ones, or None when there is
    no docker group; people: uid >= 1000 with a login shell)."""
    members: list[str] | None = None
    gid = None
    people, users = [], []
    for line in text.splitlines():
        kind, _, rest = line.partition(" ")
        f = rest.split(":")
        if kind == "group" and len(f) >= 4:
            gid = f[2]
            members = [m for m in f[3].split(",") if m]
        elif kind == "passwd" and len(f) >= 4:
            users.append(f)
    for name, uid, pgid, shell in (u[:4] for u in users):
        if uid.isdigit() and 1000 <= int(uid) < 65534 and not shell.endswith(("nologin", "false")):
            people.append(name)
        if members is not None and pgid == gid and name not in members:
            members.append(name)
    return members, people


def parse_containers(text: str) -> list[ContainerPosture]:
    out = []
    for d in json.loads(text):
        socks = [f"{m.get('source')} -> {m.get('destination')}" for m in d.get("mounts") or []
                 if m.get("source") in DOCKER_SOCKETS or str(m.get("destination")) in DOCKER_SOCKETS]
        out.append(ContainerPosture(id=str(d.get("id")), name=str(d.get("name") or ""), image=d.get("image"),
                                    privileged=d.get("privileged"), docker_socket_mounts=socks,
                                    pid_mode=d.get("pid_mode") or None))
    return out


def proc_hidepid(mounts: str | None) -> str | None:
    """The hidepid= option of the /proc mount in /proc/mounts (the last one, on top) when it hides other
    users' processes (1/noaccess, 2/invisible, 4/ptraceable); None when off or not known."""
    value = None
    for line in (mounts or "").splitlines():
        f = line.split()
        if len(f) >= 4 and f[1] == "/proc" and f[2] == "proc":
            opts = dict(o.partition("=")[::2] for o in f[3].split(","))
            value = opts.get("hidepid")
    return None if value in (None, "0", "off") else value
