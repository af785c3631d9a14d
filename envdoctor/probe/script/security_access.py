"""Security posture (issue 13): who can get in and with what: listening sockets, how dockerd and sshd were
started, sshd's effective configuration, the login user's authorized keys, the docker group and accounts,
privileged containers. `security_jobs` names every security section."""

import json
import os
import shutil

from .command import run
from .section import text
from .security_jupyter import sec_jupyter
from .security_proc import _sec_listening, _sec_once, _sec_processes


def sec_listening():
    lines, err = _sec_listening()
    sec = text("LISTEN lines of /proc/net/tcp /proc/net/tcp6", "\n".join(lines) + "\n")
    if err and not lines:
        sec.update(rc=None, error="; ".join(err))
    return sec


def sec_daemons():
    """dockerd and sshd processes (argv, uid, socket inodes): how the daemons were started."""
    procs = [p for p in _sec_once("procs", _sec_processes) if p["kind"] in ("dockerd", "sshd")]
    return text("dockerd/sshd processes from /proc", json.dumps(procs, indent=1) + "\n")


def _sec_sshd_T():
    exe = shutil.which("sshd") or "/usr/sbin/sshd"
    return _sec_once("sshd -T", lambda: run([exe, "-T"], 10, show="sshd -T"))


def sec_login():
    """Who envdoctor runs as (the user behind sudo too), whether over SSH, and how many authorized keys
    that user has in the files sshd reads: what a hardened sshd would still let in."""
    import pwd
    name = os.environ.get("SUDO_USER") or None
    try:
        pw = pwd.getpwnam(name) if name else pwd.getpwuid(os.geteuid())
    except KeyError:
        pw = pwd.getpwuid(os.geteuid())
    files, akc = [".ssh/authorized_keys", ".ssh/authorized_keys2"], None
    t = _sec_sshd_T()
    for line in t["stdout"].splitlines():
        k, _, v = line.partition(" ")
        if k == "authorizedkeysfile" and v.strip() and v.strip() != "none":
            files = v.split()
        if k == "authorizedkeyscommand" and v.strip() != "none":
            akc = v.strip()
    found = []
    for f in files:
        f = f.replace("%%", "\0").replace("%h", pw.pw_dir).replace("%u", pw.pw_name).replace("\0", "%")
        path = f if f.startswith("/") else os.path.join(pw.pw_dir, f)
        try:
            with open(path) as fh:
                n = sum(1 for l in fh if l.strip() and not l.lstrip().startswith("#"))
            found.append({"path": path, "keys": n})
        except FileNotFoundError:
            found.append({"path": path, "keys": 0})
        except OSError as e:
            found.append({"path": path, "keys": None, "error": type(e).__name__})
    body = {"user": pw.pw_name, "uid": pw.pw_uid, "via_sudo": bool(name), "ssh_session": "SSH_CONNECTION" in os.environ,
            "authorized_keys": found, "authorized_keys_command": akc, "sshd_T_read": t["error"] is None and t["rc"] == 0}
    return text("login user and authorized keys", json.dumps(body, indent=1) + "\n")


def sec_accounts():
    """The docker group line of /etc/group, and for /etc/passwd only name:uid:gid:shell (no GECOS)."""
    out = []
    try:
        with open("/etc/group") as fh:
            out += ["group " + l.strip() for l in fh if l.startswith("docker:")]
        docker_gid = out[0].split(":")[2] if out and len(out[0].split(":")) > 2 else None
        with open("/etc/passwd") as fh:
            for l in fh:
                f = l.strip().split(":")
                # root, people (uid >= 1000, not nobody) and whoever has docker as primary group
                if len(f) >= 7 and f[2].isdigit() and (f[2] == "0" or 1000 <= int(f[2]) < 65534 or f[3] == docker_gid):
                    out.append("passwd %s:%s:%s:%s" % (f[0], f[2], f[3], f[6]))
    except OSError as e:
        sec = text("docker group, accounts", "")
        sec.update(rc=None, error=str(e))
        return sec
    return text("grep ^docker: /etc/group; cut -d: -f1,3,4,7 /etc/passwd", "\n".join(out) + "\n")


def sec_containers():
    """Running containers' privilege and mounts (`docker inspect`, reduced here: no environment, no labels)."""
    ps = run(["docker", "ps", "-q", "--no-trunc"], 10)
    if ps["error"] or ps["rc"] != 0:
        ps["cmd"] = "docker ps -q; docker inspect"
        return ps
    ids = ps["stdout"].split()[:200]
    if not ids:
        return text("docker ps -q; docker inspect", "[]\n")
    sec = run(["docker", "inspect"] + ids, 20)
    sec["cmd"] = "docker ps -q; docker inspect (privilege, mounts)"
    try:
        docs = json.loads(sec["stdout"])
    except ValueError:
        return sec
    keep = []
    for d in docs:
        hc = d.get("HostConfig") or {}
        keep.append({"id": (d.get("Id") or "")[:12], "name": (d.get("Name") or "").lstrip("/"),
                     "image": (d.get("Config") or {}).get("Image"), "privileged": hc.get("Privileged"),
                     "pid_mode": hc.get("PidMode"), "network_mode": hc.get("NetworkMode"), "cap_add": hc.get("CapAdd"),
                     "mounts": [{"source": m.get("Source"), "destination": m.get("Destination"), "type": m.get("Type")}
                                for m in d.get("Mounts") or []]})
    sec["stdout"] = json.dumps(keep, indent=1) + "\n"
    return sec


def security_jobs():
    return {
        "sec_jupyter": sec_jupyter,
        "sec_listening": sec_listening,
        "sec_daemons": sec_daemons,
        "sec_sshd_config": _sec_sshd_T,
        "sec_login": sec_login,
        "sec_accounts": sec_accounts,
        "sec_containers": sec_containers,
    }
