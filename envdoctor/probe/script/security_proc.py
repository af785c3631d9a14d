"""Security posture (issue 13), from /proc: the Jupyter servers, dockerd and sshd processes (argv redacted,
their sockets' inodes, whether a server's environment sets a token) and the listening TCP sockets."""

import os
import re
import threading

from .redaction import _sec_redact_argv

_SEC_JUPYTER = re.compile(r"(^|/)(jupyter-(lab|notebook|server)|jupyter_server|jupyterlab|notebook)(\.py)?$")
_sec_lock = threading.Lock()
_sec_memo = {}


def _sec_once(key, fn):
    """Run fn once for the sections that share it (sshd -T, the /proc scan)."""
    with _sec_lock:
        if key not in _sec_memo:
            _sec_memo[key] = fn()
        return _sec_memo[key]


def _sec_is_jupyter(argv):
    """A Jupyter *server* (lab, notebook, server), not a kernel or a `jupyter ... list`."""
    if not argv or "list" in argv[1:5] or any("ipykernel" in a for a in argv[:3]):
        return False
    # argv[0] is the program (jupyter-lab) or the interpreter running it (python .../jupyter-lab, python -m ...);
    # `jupyter lab` execs jupyter-lab, so wrappers (timeout, sh -c) are not servers themselves.
    for i, a in enumerate(argv[:2]):
        if _SEC_JUPYTER.search(a):
            return True
        if a == "-m" and i + 1 < len(argv) and argv[i + 1] in ("jupyter", "jupyterlab", "notebook", "jupyter_server"):
            return True
        if (a.endswith("/jupyter") or a == "jupyter") and i + 1 < len(argv) and argv[i + 1] in ("lab", "notebook",
                                                                                                 "server"):
            return True
    return False


def _sec_socket_inodes(pid):
    inodes = []
    try:
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                t = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            except OSError:
                continue
            if t.startswith("socket:["):
                inodes.append(t[8:-1])
    except OSError:
        return None  # another user's process: only root can see its sockets
    return inodes


def _sec_environ(pid):
    try:
        with open("/proc/%d/environ" % pid, "rb") as fh:
            raw = fh.read(200000).split(b"\0")
    except OSError:
        return None
    env = {}
    for kv in raw:
        k, _, v = kv.partition(b"=")
        env[k.decode("utf-8", "replace")] = v.decode("utf-8", "replace")
    return env


def _sec_env_flags(pid):
    """JUPYTER_TOKEN / JUPYTER_PASSWORD in a server's environment: whether set, never the value."""
    env = _sec_environ(pid)
    if env is None:
        return None
    return {k: "<set>" if env[k] else "" for k in ("JUPYTER_TOKEN", "JUPYTER_PASSWORD") if k in env}


def _sec_processes():
    """Jupyter servers, dockerd and sshd from /proc: pid, uid, redacted argv, and their sockets' inodes."""
    procs = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        pid = int(d)
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as fh:
                argv = [a.decode("utf-8", "replace") for a in fh.read(65536).split(b"\0") if a]
        except OSError:
            continue
        if not argv:
            continue
        base = os.path.basename(argv[0])
        # sshd's listener renames itself "sshd: /usr/sbin/sshd -D [listener] ..."; its per-connection children are skipped
        kind = ("jupyter" if _sec_is_jupyter(argv) else "dockerd" if base == "dockerd"
                else "sshd" if base == "sshd" or "[listener]" in argv[0] else None)
        if kind is None:
            continue
        uid = None
        try:
            with open("/proc/%d/status" % pid) as fh:
                for line in fh:
                    if line.startswith("Uid:"):
                        uid = int(line.split()[1])
        except OSError:
            pass
        p = {"pid": pid, "uid": uid, "kind": kind, "argv": _sec_redact_argv(argv)[:60],
             "socket_inodes": _sec_socket_inodes(pid)}
        if kind == "jupyter":
            p["env"] = _sec_env_flags(pid)
        procs.append(p)
    return procs


def _sec_listening():
    """LISTEN sockets (state 0A) of /proc/net/tcp and tcp6, with the header line."""
    out, err = [], []
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as fh:
                lines = fh.read().splitlines()
        except OSError as e:
            err.append("%s: %s" % (path, e))
            continue
        out.append("# " + path)
        out += [l for l in lines[1:] if len(l.split()) > 3 and l.split()[3] == "0A"]
    return out, err
