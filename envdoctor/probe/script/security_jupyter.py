"""Security posture (issue 13): Jupyter servers, what `jupyter server list` and their runtime files say (tokens
redacted) and whether an unauthenticated request is answered."""

import json
import os
import shutil
import time

from .command import run
from .redaction import _SEC_TOKEN_IN_URL
from .section import text
from .security_proc import _sec_environ, _sec_listening, _sec_once, _sec_processes


def _sec_http_status(host, port, base_url):
    """The status an unauthenticated GET of Jupyter's /api/kernels gets (200: no token, no password)."""
    import ssl
    import urllib.error
    import urllib.request
    h = "[%s]" % host if ":" in host else host
    path = "/" + (base_url or "/").strip("/") + "/api/kernels"
    path = path.replace("//", "/")
    for scheme in ("http", "https"):
        ctx = ssl._create_unverified_context() if scheme == "https" else None
        try:
            with urllib.request.urlopen("%s://%s:%d%s" % (scheme, h, port, path), timeout=3, context=ctx) as r:
                return "%s %d" % (scheme, r.status)
        except urllib.error.HTTPError as e:
            return "%s %d" % (scheme, e.code)
        except Exception as e:  # not HTTP (an https server), refused, timed out: try the other scheme
            last = "%s: %s" % (type(e).__name__, e)
    return "no answer: " + last


def _sec_jupyter_row(d, listed_by):
    if not isinstance(d, dict):
        return None
    d["token"] = "<redacted>" if d.get("token") else ""
    for k, v in list(d.items()):
        if isinstance(v, str):
            d[k] = _SEC_TOKEN_IN_URL.sub(r"\1<redacted>", v)
    d["listed_by"] = listed_by
    return d


_SEC_RUNTIME_MAX = 1 << 20  # a runtime file is a few hundred bytes


def _sec_read_owned(path, uid):
    """The file's text, only when it is a regular file owned by `uid`, opened without following a link:
    the path comes from the server's environment, which its user controls, and the probe may be root."""
    import stat

    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != uid:
            raise OSError("not a regular file of uid %d: %s" % (uid, path))
        data = os.read(fd, _SEC_RUNTIME_MAX + 1)
    finally:
        os.close(fd)
    if len(data) > _SEC_RUNTIME_MAX:
        raise ValueError("larger than a runtime file: " + path)
    return data.decode("utf-8")


def _sec_runtime_file(pid):
    """The server's own jpserver-PID.json (nbserver-PID.json for classic Notebook): what `jupyter server
    list` reads, found through the server's environment, so other users' servers are seen too (as root)."""
    try:
        uid = os.stat("/proc/%d" % pid).st_uid
    except OSError:
        return None
    env = _sec_environ(pid) or {}
    home = env.get("HOME") or ""
    dirs = [env.get("JUPYTER_RUNTIME_DIR"),
            os.path.join(env["JUPYTER_DATA_DIR"], "runtime") if env.get("JUPYTER_DATA_DIR") else None,
            os.path.join(env["XDG_DATA_HOME"], "jupyter", "runtime") if env.get("XDG_DATA_HOME") else None,
            os.path.join(home, ".local", "share", "jupyter", "runtime") if home else None]
    for d in [x for x in dirs if x]:
        for name in ("jpserver-%d.json" % pid, "nbserver-%d.json" % pid):
            path = os.path.join(d, name)
            try:
                return _sec_jupyter_row(json.loads(_sec_read_owned(path, uid)), "runtime file " + name)
            except (OSError, ValueError):
                continue
    return None


def _sec_jupyter_list(procs):
    """Each server's runtime file, and `jupyter server list --json` for servers without one found (it
    costs seconds: importing jupyter_server); tokens redacted."""
    rows, cmds = [], []
    for p in procs:
        row = _sec_runtime_file(p["pid"])
        if row is not None:
            rows.append(row)
    if all(any(r.get("pid") == p["pid"] for r in rows) for p in procs):
        return rows, cmds
    exes = [shutil.which("jupyter")] if shutil.which("jupyter") else []
    for p in procs:
        try:
            j = os.path.join(os.path.dirname(os.readlink("/proc/%d/exe" % p["pid"])), "jupyter")
        except OSError:
            continue
        if os.path.exists(j) and j not in exes:
            exes.append(j)
    for exe in exes[:2]:
        sec = run([exe, "server", "list", "--json"], 30)
        cmds.append("%s server list --json: %s" % (exe, sec["error"] or "rc=%s" % sec["rc"]))
        for line in sec["stdout"].splitlines():
            try:
                row = _sec_jupyter_row(json.loads(line), "jupyter server list")
            except ValueError:
                continue
            if row is not None and not any(r.get("pid") == row.get("pid") for r in rows):
                rows.append(row)
    return rows, cmds


def _sec_addr(hexaddr):
    ip, port = hexaddr.split(":")
    if len(ip) == 8:
        b = bytes.fromhex(ip)[::-1]
        return ".".join(str(x) for x in b), int(port, 16)
    import socket as _s
    b = b"".join(bytes.fromhex(ip[i:i + 8])[::-1] for i in range(0, 32, 8))
    return _s.inet_ntop(_s.AF_INET6, b), int(port, 16)


def sec_jupyter():
    """Jupyter servers: processes, their listening sockets, `jupyter server list`, and whether an
    unauthenticated request is answered. One JSON document."""
    t0 = time.time()
    procs = [p for p in _sec_once("procs", _sec_processes) if p["kind"] == "jupyter"]
    listen, _ = _sec_listening()
    by_inode = {}
    for l in listen:
        f = l.split()
        if len(f) > 9 and not l.startswith("#"):
            by_inode[f[9]] = f[1]
    rows, cmds = _sec_jupyter_list(procs) if procs else ([], [])
    probes = []
    targets = set()
    for p in procs:
        for ino in p["socket_inodes"] or []:
            if ino in by_inode:
                targets.add((by_inode[ino], p["pid"]))
    for hexaddr, pid in sorted(targets)[:16]:  # each GET may wait 2 x 3 s
        host, port = _sec_addr(hexaddr)
        conn = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
        base = next((r.get("base_url") for r in rows if r.get("pid") == pid), None)
        probes.append({"pid": pid, "address": host, "port": port, "unauthenticated_get": _sec_http_status(conn, port, base)})
    # euid: with /proc mounted hidepid= (the mounts section), a non-root probe sees only its own processes
    body = {"processes": procs, "servers_listed": rows, "list_commands": cmds, "http": probes, "euid": os.geteuid()}
    sec = text("jupyter processes, jupyter server list --json, GET /api/kernels without a token",
               json.dumps(body, indent=1) + "\n")
    sec["secs"] = round(time.time() - t0, 3)
    return sec
