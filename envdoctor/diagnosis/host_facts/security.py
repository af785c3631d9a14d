"""A host's security facts from its Bundle: listening sockets, Jupyter servers, sshd's effective
configuration, logins, and how docker's daemon is exposed; the values come from envdoctor/parsers/security.py."""

from __future__ import annotations

import json
from typing import Any

from envdoctor.diagnosis.bundle import Bundle
from envdoctor.diagnosis.host_facts.system import section_text
from envdoctor.facts.security import DockerExposure, ListenSocket, SecurityFacts
from envdoctor.parsers.security import (DOCKER_TCP_PORTS, dockerd_hosts, jupyter_servers, parse_accounts,
                                        parse_containers, parse_login, parse_proc_net_tcp, parse_sshd_T, proc_hidepid)


def _docker(bundle: Bundle, daemons: list[dict] | None, listening: list[ListenSocket] | None) -> DockerExposure:
    d = DockerExposure()
    hosts: list[str] | None = []
    verify = None
    sec = bundle.get("docker_daemon_json")
    if sec is not None and sec.error is None:
        try:
            doc = json.loads(sec.stdout) if sec.stdout.strip() else {}
        except ValueError:
            doc = None
        if isinstance(doc, dict):
            for h in doc.get("hosts") or []:
                hosts.append(str(h))
                d.evidence.append(f'/etc/docker/daemon.json "hosts": {h}')
            if "tlsverify" in doc:
                verify = bool(doc["tlsverify"])
                d.evidence.append(f'/etc/docker/daemon.json "tlsverify": {str(doc["tlsverify"]).lower()}')
    elif sec is None or sec.error != "not-found":
        hosts = None  # daemon.json not read (a paste), or present but unreadable
    inodes: set[str] | None = set()
    if daemons is not None:
        d.dockerd_running = any(p.get("kind") == "dockerd" for p in daemons)
    argv_hosts: list[str] = []
    for p in [p for p in daemons or [] if p.get("kind") == "dockerd"]:
        h, v = dockerd_hosts(p.get("argv") or [])
        argv_hosts += h
        for x in h:
            d.evidence.append(f"dockerd -H {x} (pid {p.get('pid')})")
        verify = v if v is not None else verify
        if p.get("socket_inodes") is None:
            inodes = None
        elif inodes is not None:
            inodes |= set(p["socket_inodes"])
    # dockerd's own -H flags count even where daemon.json could not be read
    tcp = [h for h in dict.fromkeys((hosts or []) + argv_hosts) if h.startswith("tcp://")]
    d.tcp_hosts = None if hosts is None and not tcp else tcp
    d.tls_verify = verify
    if listening is not None:
        if inodes:
            d.tcp_listening = [s for s in listening if s.inode in inodes]
        else:  # dockerd's sockets not known: docker's own ports tell
            d.tcp_listening = [s for s in listening if s.port in DOCKER_TCP_PORTS]
    t = section_text(bundle, "sec_accounts")
    if t is not None:
        d.group_members, d.people = parse_accounts(t)
    sec = bundle.get("sec_containers")
    if sec is not None:
        if sec.error is None and sec.rc == 0:
            try:
                d.containers = parse_containers(sec.stdout)
            except (ValueError, TypeError, AttributeError) as e:
                d.containers_error = f"docker inspect output not understood: {type(e).__name__}"
        else:
            err = (sec.stderr or sec.stdout).strip().splitlines()
            d.containers_error = sec.error or (err[-1] if err else f"exit {sec.rc}")
    return d


def _json(bundle: Bundle, name: str) -> Any:
    t = section_text(bundle, name)
    if t is None:
        return None
    try:
        return json.loads(t)
    except ValueError:
        return None


def build_security_facts(bundle: Bundle) -> SecurityFacts:
    f = SecurityFacts()
    t = section_text(bundle, "sec_listening")
    f.listening = parse_proc_net_tcp(t) if t is not None else None
    doc = _json(bundle, "sec_jupyter")
    if isinstance(doc, dict):
        f.jupyter = jupyter_servers(doc, f.listening)
        f.probe_euid = doc.get("euid") if isinstance(doc.get("euid"), int) else None
        f.proc_hidepid = proc_hidepid(section_text(bundle, "mounts"))
    sec = bundle.get("sec_sshd_config")
    if sec is not None:
        cfg = parse_sshd_T(sec.stdout) if sec.error is None else None
        f.sshd = cfg
        if cfg is None:
            err = (sec.stderr or "").strip().splitlines()
            f.sshd_error = sec.error or (err[-1] if err else f"sshd -T exit {sec.rc}")
    daemons = _json(bundle, "sec_daemons")
    daemons = daemons if isinstance(daemons, list) else None
    if f.sshd is not None and (daemons is not None or f.listening is not None):
        ports = set(f.sshd.ports or [22])
        # an sshd started with -f reads another file than the one `sshd -T` showed
        running = any(p.get("kind") == "sshd" and " -f " not in " %s " % " ".join(p.get("argv") or [])
                      for p in daemons or [])
        on_port = any(s.port in ports for s in f.listening or [])
        f.sshd_running = running or on_port
    login = _json(bundle, "sec_login")
    if isinstance(login, dict) and login.get("user"):
        f.login = parse_login(login)
    f.docker = _docker(bundle, daemons, f.listening)
    return f
