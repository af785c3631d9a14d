"""Hosts that misbehave cannot take the controller down: one fleet run over real sshd test hosts where good
hosts sit next to one whose "python" floods its output, a Python 2.7 stand-in, a host that hangs up in the
middle of the probe, and an interpreter given as a command line (`/usr/bin/env python3`); SIGTERM during a
run; a become password with a line break."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner

from envdoctor.cli import main
from tests.support.testhost import SYSTEM_PYTHON, established_sockets

ROOT = Path(__file__).resolve().parents[2]
CONSTRUCTED = ROOT / "tests" / "data" / "constructed" / "hosts"


# The child reports its own peak (VmHWM of its own memory) when it exits. wait4's ru_maxrss cannot be used:
# Linux carries the forking process's high-water mark across exec, so under a suite that has grown to
# 1 GB (torch imported) every child would read as 1 GB.
_PEAK_WRAPPER = """
import atexit, os, runpy, sys
def _peak():
    with open("/proc/self/status") as f:
        kib = next(line.split()[1] for line in f if line.startswith("VmHWM:"))
    with open(os.environ["ENVDOCTOR_TEST_PEAK_FILE"], "w") as out:
        out.write(kib)
atexit.register(_peak)
sys.argv = ["envdoctor", *sys.argv[1:]]
runpy.run_module("envdoctor", run_name="__main__", alter_sys=True)
"""


def run_envdoctor(args: list[str], tmp_path: Path) -> tuple[int, str, str, int]:
    """envdoctor in a process of its own: exit code, stdout, stderr and that process's peak RSS in KiB."""
    out_f, err_f, peak_f = tmp_path / "stdout", tmp_path / "stderr", tmp_path / "peak_kib"
    with open(out_f, "w") as out, open(err_f, "w") as err:
        p = subprocess.run([sys.executable, "-c", _PEAK_WRAPPER, *args], cwd=ROOT, stdout=out, stderr=err,
                           stdin=subprocess.DEVNULL, env={**os.environ, "ENVDOCTOR_TEST_PEAK_FILE": str(peak_f)})
    return p.returncode, out_f.read_text(), err_f.read_text(), int(peak_f.read_text())


def test_misbehaving_hosts_next_to_good_ones(fleet, tmp_path):
    h0, h1, h2 = fleet.hosts
    inv = fleet.inventory(tmp_path / "fleet.yml", {
        "good0": f"ansible_port: {h0.port}",
        "good2": f"ansible_port: {h2.port}",
        "envpython": f'ansible_port: {h2.port}, ansible_python_interpreter: "/usr/bin/env python3"',
        "flood": f'ansible_port: {h1.port}, ansible_python_interpreter: "/bin/sh {CONSTRUCTED / "flood.sh"}"',
        "python27": f'ansible_port: {h1.port}, ansible_python_interpreter: '
                    f'"/usr/bin/env PYTHONPATH={CONSTRUCTED / "py27"} {SYSTEM_PYTHON}"',
        "hangup": f'ansible_port: {h1.port}, ansible_python_interpreter: "/bin/sh {CONSTRUCTED / "hangup.sh"}"',
    })
    code, out, err, peak_kib = run_envdoctor(["check", "--json", "--no-proof", "-i", str(inv), "--known-hosts",
                                              str(fleet.known_hosts), "--timeout", "60"], tmp_path)
    assert "Traceback" not in err, err
    hosts = {h["host"]: h for h in json.loads(out)["hosts"]}
    for name in ("good0", "good2", "envpython"):  # evaluated, long before their 60 s timeout
        assert hosts[name]["error"] is None and hosts[name]["status"] == "fail", hosts[name]  # no GPU here
        assert hosts[name]["checks"]
    assert hosts["flood"]["status"] == "error"
    assert "wrote more than 64 MiB instead of the probe's report; it was stopped" in hosts["flood"]["error"]
    assert hosts["python27"]["status"] == "error"
    assert hosts["python27"]["error"].startswith("needs Python ≥ 3.6 on the target, found 2.7")
    assert (hosts["hangup"]["status"], hosts["hangup"]["error"]) == (
        "unreachable", "connection closed by the host during the probe")
    assert code == 1  # the good hosts' failed check wins over the others (3)
    assert peak_kib < 400 * 1024, f"controller peak RSS {peak_kib / 1024:.0f} MiB"
    assert subprocess.run(["pgrep", "-f", "yes envdoctor-test-flood"], capture_output=True).returncode != 0


def test_sigterm_reports_what_finished_and_ends_the_remote_probes(fleet, tmp_path):
    slow = tmp_path / "slow-python"
    slow.write_text("#!/bin/sh\nexec sleep 53.25\n")
    slow.chmod(0o755)
    h0, h1, _ = fleet.hosts
    inv = tmp_path / "inv.ini"
    inv.write_text(f"[all:vars]\nansible_host=127.0.0.1\nansible_user=root\n"
                   f"ansible_ssh_private_key_file={fleet.client_key}\n"
                   f"[fast]\nquick ansible_port={h0.port} ansible_python_interpreter={SYSTEM_PYTHON}\n"
                   f"[slow]\nstuck1 ansible_port={h1.port} ansible_python_interpreter={slow}\n"
                   f"stuck2 ansible_port={h0.port} ansible_python_interpreter={slow}\n")
    p = subprocess.Popen([sys.executable, "-m", "envdoctor", "check", "--json", "--no-proof", "-i", str(inv),
                          "--known-hosts", str(fleet.known_hosts)], cwd=ROOT, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)

    def remote_sleeps() -> int:
        r = subprocess.run(["pgrep", "-c", "-f", "sleep 53.25"], capture_output=True, text=True)
        return int(r.stdout.strip() or 0)

    deadline = time.monotonic() + 60  # until both hung probes run on their targets
    while remote_sleeps() < 2:
        assert time.monotonic() < deadline and p.poll() is None
        time.sleep(0.2)
    deadline = time.monotonic() + 60  # and the quick host has its result
    while not _quick_done(p.pid):
        assert time.monotonic() < deadline and p.poll() is None
        time.sleep(0.2)
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err
    hosts = {h["host"]: h for h in json.loads(out)["hosts"]}
    assert hosts["quick"]["status"] == "fail" and hosts["quick"]["checks"]
    for name in ("stuck1", "stuck2"):
        assert hosts[name]["status"] == "error" and "interrupted" in hosts[name]["error"]
    deadline = time.monotonic() + 10  # ended on the targets, not left to run out their 180 s
    while remote_sleeps():
        assert time.monotonic() < deadline, "the interrupted remote probes are still running"
        time.sleep(0.2)


def _quick_done(pid: int) -> bool:
    """The controller holds two SSH connections, the hung ones: the quick host's is closed, it finished."""
    sockets = established_sockets(pid)
    return sockets is not None and len(sockets) == 2


def test_a_become_password_with_a_line_break_is_refused(fleet, monkeypatch):
    monkeypatch.setenv("ENVDOCTOR_BECOME_PASSWORD", "first-line\nsecond-line")
    r = CliRunner().invoke(main, ["check", "--json", *fleet.args("h0"), "--become", "--python", SYSTEM_PYTHON])
    assert r.exit_code == 2
    assert r.stderr.strip() == ("envdoctor: error: the become password ($ENVDOCTOR_BECOME_PASSWORD) contains a "
                                "line break; sudo reads only one line, so it is refused")
    assert "second-line" not in r.output and "first-line" not in r.output
