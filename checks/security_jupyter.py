"""Security: Jupyter servers reachable beyond loopback, without a token, or running as root."""

from envdoctor.diagnosis.catalog import check, fail, passed, skip, unknown, warn
from envdoctor.facts.security import JupyterServer
from envdoctor.models import Fix
from envdoctor.parsers.security import is_loopback


def _exposure(s: JupyterServer) -> list[str] | None:
    """Where beyond loopback the server listens ("0.0.0.0:8888"); None when its sockets are not known
    and its command line does not say (--ip)."""
    if s.listening is not None and (s.listening or s.ip is None):
        return [x.show() for x in s.beyond_loopback]
    if s.ip is not None:  # sockets not readable (another user's process): --ip tells
        ip = s.ip.strip("'\"")
        port = s.port or 8888
        return [] if ip and is_loopback(ip) else [f"{ip or '*'}:{port} (from --ip)"]
    return None


def _port(s: JupyterServer) -> int:
    ports = [x.port for x in s.listening or []]
    return ports[0] if ports else (s.port or 8888)


def _who(s: JupyterServer) -> str:
    return f"pid {s.pid}" + (f" (uid {s.uid})" if s.uid is not None else "")


def _tunnel_fix(port: int, in_container: bool | None, open_server: bool) -> Fix:
    cmds = []
    if open_server:
        cmds += ["jupyter server password        # or start it with a token: --IdentityProvider.token=\"$(openssl "
                 "rand -hex 24)\" (Notebook < 7 / JupyterLab < 4: --NotebookApp.token=...)"]
    cmds += [f"jupyter lab --ip=127.0.0.1 --port={port}   # restart it on loopback only",
             f"ssh -N -L {port}:127.0.0.1:{port} USER@THIS_HOST   # then browse http://127.0.0.1:{port} on your machine"]
    if in_container:
        cmds.insert(0, f"docker run -p 127.0.0.1:{port}:{port} ...   # publish the container's port on the host's "
                       "loopback only, then tunnel with ssh -L")
    summary = ("Require a token or a password, " if open_server else "") + \
        "listen on 127.0.0.1 only and reach the server through an SSH tunnel (ssh -L)"
    return Fix(summary=summary[0].upper() + summary[1:] + ".", commands=cmds, manual=True)


def _hidden(sec) -> str | None:
    """Why other users' servers may be missing from the process list, or None."""
    if sec.proc_hidepid and sec.probe_euid != 0:
        who = f"uid {sec.probe_euid}" if sec.probe_euid is not None else "a user not known to be root"
        return (f"/proc is mounted with hidepid={sec.proc_hidepid} and the probe ran as {who}: other users' "
                "processes are invisible (run with --become)")
    return None


@check("security_jupyter_auth", "Jupyter servers are not reachable beyond loopback without a token", order=900)
def security_jupyter_auth(facts):
    """A Jupyter server runs code as the user who started it: whoever reaches its port and passes its
    authentication gets a shell on the machine. Images built for training often start one with
    `--ip=0.0.0.0` (and sometimes an empty token) so that `docker run -p 8888:8888` works.

    Verdict: fail when a server listens beyond loopback and asks for neither a token nor a password
    (an unauthenticated GET of /api/kernels is answered 200, or `jupyter server list` / the command line
    says so); warn when it listens beyond loopback with a token or password (the exposure: address and
    port; tunnel with `ssh -L` instead); pass when servers listen on loopback only, or there are none.
    Evidence: Jupyter processes in /proc (command lines with tokens redacted), their sockets in
    /proc/net/tcp{,6}, `jupyter server list --json`, and a GET of /api/kernels without a token.
    Unknown when the process list or a server's sockets cannot be read, or when /proc hides other users'
    processes (hidepid=) from a probe that is not root and it would otherwise pass."""
    sec = facts.security
    if sec.jupyter is None:
        return unknown("Jupyter servers not known", missing=["the process list (/proc/*/cmdline)"])
    if not sec.jupyter:
        hidden = _hidden(sec)
        return unknown(f"no Jupyter server of this user running; {hidden}") if hidden else \
            passed("no Jupyter server running")
    open_, tokened, unknown_auth, unread, local = [], [], [], [], []
    for s in sec.jupyter:
        where = _exposure(s)
        if where is None:
            unread.append(s)
        elif not where:
            local.append(s)
        elif s.unauthenticated_ok or (s.unauthenticated_ok is None and s.token is False and s.password is False):
            open_.append((s, where))
        elif s.unauthenticated_ok is False or s.token or s.password:
            tokened.append((s, where))
        else:
            unknown_auth.append((s, where))
    ev = []
    for s, where in open_ + tokened + unknown_auth:
        ev.append(f"{_who(s)} listens on {', '.join(where)}: {' '.join(s.argv)[:200]}")
        ev += [f"  {e}" for e in s.evidence]
    in_ctr = facts.system.in_container
    if open_:
        s, where = open_[0]
        return fail(f"Jupyter server ({_who(s)}) on {', '.join(where)} asks for no token and no password: anyone who "
                    "reaches the port runs code as " + ("root" if s.uid == 0 else f"uid {s.uid}"), ev,
                    cause="started with an empty token and no password (e.g. --ServerApp.token='' / "
                          "--NotebookApp.token='') and bound beyond loopback (--ip=0.0.0.0)",
                    fix=_tunnel_fix(_port(s), in_ctr, True))
    if tokened or unknown_auth:
        s, where = (tokened or unknown_auth)[0]
        auth = "with a token or password" if tokened else "(whether it asks for a token is not known)"
        return warn(f"Jupyter server ({_who(s)}) reachable beyond loopback on {', '.join(where)} {auth}: its token "
                    "is all that guards a shell on this machine", ev,
                    cause="bound to a non-loopback address (--ip=0.0.0.0 or a host address)",
                    fix=_tunnel_fix(_port(s), in_ctr, False))
    if unread:
        return unknown(f"{len(unread)} Jupyter server(s) whose sockets could not be read (another user's process: "
                       "run with --become)", evidence=[f"{_who(s)}: {' '.join(s.argv)[:200]}" for s in unread])
    if _hidden(sec):
        return unknown(f"{len(local)} Jupyter server(s) seen, on loopback only; {_hidden(sec)}")
    return passed(f"{len(local)} Jupyter server(s), on loopback only",
                  [f"{_who(s)} on {', '.join(x.show() for x in s.listening or []) or 'no socket yet'}" for s in local])


@check("security_jupyter_root", "Jupyter servers do not run as root", order=901)
def security_jupyter_root(facts):
    """A notebook running as root gives every notebook user root on the machine (or in the container,
    whose root reaches the host through mounted volumes and devices). The images' `--allow-root` exists
    for convenience, not safety.

    Verdict: warn when a Jupyter server runs as uid 0; pass when none does; skip without servers.
    Evidence: the uid of each Jupyter process (/proc/PID/status). Unknown instead of pass or skip when
    /proc hides other users' processes (hidepid=) from a probe that is not root."""
    sec = facts.security
    if sec.jupyter is None:
        return unknown("Jupyter servers not known", missing=["the process list (/proc/*/cmdline)"])
    if _hidden(sec) and not any(s.uid == 0 for s in sec.jupyter):
        return unknown(f"root's Jupyter servers cannot be seen: {_hidden(sec)}")
    if not sec.jupyter:
        return skip("no Jupyter server running")
    root = [s for s in sec.jupyter if s.uid == 0]
    if root:
        return warn(f"{len(root)} Jupyter server(s) run as root", [f"{_who(s)}: {' '.join(s.argv)[:200]}" for s in root],
                    cause="started by root (in containers: `--allow-root`, the image's default user)",
                    fix=Fix(summary="Run Jupyter as an unprivileged user.",
                            commands=["sudo -u USER jupyter lab --ip=127.0.0.1",
                                      "docker run --user \"$(id -u):$(id -g)\" ...   # in a container"], manual=True))
    if any(s.uid is None for s in sec.jupyter):
        return unknown("the user of a Jupyter server could not be read")
    return passed(f"{len(sec.jupyter)} Jupyter server(s), none as root",
                  [f"{_who(s)}" for s in sec.jupyter])
