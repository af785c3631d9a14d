"""Stopping a run over a huge range: the hosts never started get one summary line, not a report each.
No real host is reached: every target is this machine's loopback on a port that accepts and never speaks."""

from __future__ import annotations

import json
import os
import pty
import resource
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

ROOT = Path(__file__).resolve().parents[2]
CPU_S = 60  # resolving 100,000 targets and starting 32 takes a few CPU-s; a report per host took 22
MEMORY = 1800 * 1024 * 1024  # address space: 1.4 GB at the start (32 thread stacks, arenas); the per-host
# reports added 700 MB of RSS


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_S, CPU_S))
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))


@pytest.mark.parametrize("outputs", ["text", "json+junit"])
def test_sigterm_of_a_100000_host_run_prints_one_line_for_the_hosts_never_started(tmp_path, outputs):
    """Constructed attack: `check gpu[01-100000]` stopped by SIGTERM while the first 32 hosts hang in the
    SSH banner. Before: 400,004 report lines, 22 CPU-s and 800 MB; now the 32 running hosts are reported
    and the 99,968 others are one stderr line. --json and --junit list those as not started (before: they
    were missing from both, so a CI job read 32 hosts as the whole run)."""
    junit = tmp_path / "report.xml"
    extra = ["--json", "--junit", str(junit)] if outputs == "json+junit" else []
    silent = socket.socket()  # accepts (the kernel's backlog) and never sends a banner
    silent.bind(("127.0.0.1", 0))
    silent.listen(128)
    cfg = tmp_path / "ssh_config"
    cfg.write_text(f"Host gpu*\n  HostName 127.0.0.1\n  Port {silent.getsockname()[1]}\n")
    master, slave = pty.openpty()  # stderr on a terminal: the progress line is the readiness signal
    p = subprocess.Popen([sys.executable, "-m", "envdoctor", "check", "--no-proof", "-F", str(cfg),
                          "--known-hosts", str(tmp_path / "known_hosts"), "--connect-timeout", "600",
                          *extra, "gpu[01-100000]"], cwd=ROOT, stdout=subprocess.PIPE, stderr=slave,
                         stdin=subprocess.DEVNULL, preexec_fn=_limits, text=True)
    os.close(slave)
    ready = threading.Event()
    seen = bytearray()

    def read_terminal() -> None:  # read all the time, so the child never blocks on a full terminal
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child's side is closed
                chunk = b""
            seen.extend(chunk)
            if b"hosts done" in seen or not chunk:
                ready.set()
            if not chunk:
                return

    reader = threading.Thread(target=read_terminal, daemon=True)
    reader.start()
    held = []  # with --json there is no progress line: 32 connections show that 32 hosts were started

    def accept() -> None:
        while len(held) < 32:
            held.append(silent.accept()[0])
        ready.set()

    if extra:
        threading.Thread(target=accept, daemon=True).start()
    try:
        ready.wait()  # the SIGTERM handler is in place before a host is started and the progress line drawn
        assert b"hosts done" in seen or len(held) == 32, f"envdoctor ended before its run started: {bytes(seen[-500:])!r}"
        p.send_signal(signal.SIGTERM)
        out, _ = p.communicate(timeout=300)  # a guard against a hang only: CPU is bounded by RLIMIT_CPU
    finally:
        if p.poll() is None:
            p.kill()
        silent.close()
        for c in held:
            c.close()
    reader.join()
    os.close(master)
    err = seen.decode().replace("\r", "\n")
    assert p.returncode == 130, err
    assert "Traceback" not in err
    summary = [ln for ln in err.splitlines() if "were started" in ln]
    assert len(summary) == 1
    assert "interrupted before 99968 of 100000 hosts were started (gpu33 ... gpu100000)" in summary[0]
    if not extra:
        assert len(out.splitlines()) < 32 * 5 + 10  # the 32 hosts that were running, a few lines each
        assert out.count("interrupted (Ctrl-C or SIGTERM) while running") == 32
        return
    doc = json.loads(out)
    assert doc["interrupted"] is True and len(doc["hosts"]) == 32
    assert all("interrupted (Ctrl-C or SIGTERM) while running" in h["error"] for h in doc["hosts"])
    assert doc["not_started"]["count"] == 99968
    assert doc["not_started"]["hosts"] == [f"gpu{n}" for n in range(33, 100001)]
    root = ET.parse(junit).getroot()
    assert root.get("errors") == str(32 + 1) and len(root.findall("testsuite")) == 33
    error = root.find("testsuite[@name='not started']/testcase[@name='not_started']/error")
    assert error.get("type") == "interrupted"
    assert error.get("message") == ("interrupted before 99968 of 100000 hosts were started (gpu33 ... gpu100000); "
                                    "they were not checked")
    assert error.text.split("\n") == doc["not_started"]["hosts"]
