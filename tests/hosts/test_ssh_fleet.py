"""`envdoctor check` against real sshd test hosts on loopback: several hosts, every fault for real (no mock
of the connection), host-key policy, exit codes, and a hung host not holding up the others."""

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
from tests.support.testhost import SYSTEM_PYTHON, SilentListener, established_sockets, free_port, keygen

ROOT = Path(__file__).resolve().parents[2]


def check(*args: str) -> tuple[int, dict, str]:
    r = CliRunner().invoke(main, ["check", "--json", *args])
    assert "Traceback" not in r.output, r.output
    return r.exit_code, json.loads(r.stdout), r.stderr


def by_host(doc: dict) -> dict:
    return {h["host"]: h for h in doc["hosts"]}


def test_two_hosts_in_one_report_with_fleet_summary(fleet):
    code, doc, err = check(*fleet.args("h0", "h1"), "--python", SYSTEM_PYTHON)
    assert err == ""  # --json: nothing but the document, no progress
    hosts = by_host(doc)
    assert list(hosts) == ["h0", "h1"]
    for h in hosts.values():
        assert h["status"] == "fail", h  # /usr/bin/python3 has no torch: torch_installed fails
        assert {c["id"]: c["status"] for c in h["checks"]}["torch_installed"] == "fail"
        assert h["headline"]["torch"] is None
    assert code == 1
    assert [r["host"] for r in doc["fleet"]["rows"]] == ["h0", "h1"]
    assert doc["fleet"]["drift"] == []


def test_each_fault_gets_its_status_and_the_others_still_report(fleet, tmp_path):
    """One run over a good host and seven broken ones, each broken for real."""
    h0, h1, h2 = fleet.hosts
    known_hosts = fleet.fresh_known_hosts("kh-faults")
    # h2's entry now holds h0's key: what a reinstalled (or impersonated) host looks like
    lines = [ln for ln in known_hosts.read_text().splitlines() if f":{h2.port} " not in ln]
    lines.append(h0.known_hosts_line().strip().replace(f"]:{h0.port} ", f"]:{h2.port} "))
    known_hosts.write_text("\n".join(lines) + "\n")
    stranger = keygen(tmp_path / "not_authorized")
    slow = tmp_path / "slow-python"
    slow.write_text("#!/bin/sh\nexec sleep 61.25\n")  # a probe that hangs
    slow.chmod(0o755)
    with SilentListener() as silent:
        inv = fleet.inventory(tmp_path / "fleet.yml", {
            "good": f"ansible_port: {h0.port}",
            "refused": f"ansible_port: {free_port()}",
            "silent": f"ansible_port: {silent.port}",
            "changed": f"ansible_port: {h2.port}",
            "unknown": f"ansible_host: localhost, ansible_port: {h0.port}",
            "badkey": f"ansible_port: {h1.port}, ansible_ssh_private_key_file: {stranger}",
            "nopython": f"ansible_port: {h1.port}, ansible_python_interpreter: /nonexistent/python3",
            "hung": f"ansible_port: {h1.port}, ansible_python_interpreter: {slow}",
        })
        t0 = time.monotonic()
        code, doc, _ = check("-i", str(inv), "--known-hosts", str(known_hosts), "--connect-timeout", "2",
                             "--timeout", "3")
        elapsed = time.monotonic() - t0
    hosts = by_host(doc)
    status = {n: h["status"] for n, h in hosts.items()}
    assert status == {"good": "fail", "refused": "unreachable", "silent": "timeout", "changed": "host-key-changed",
                      "unknown": "host-key-unknown", "badkey": "auth-failed", "nopython": "error", "hung": "timeout"}
    assert elapsed < 12, elapsed  # every fault within its timeout, in parallel
    assert "ssh-keygen -R" in hosts["changed"]["error"]
    assert "--accept-new-host-keys" in hosts["unknown"]["error"]
    assert "/nonexistent/python3 not found" in hosts["nopython"]["error"]
    assert "no SSH banner" in hosts["silent"]["error"]
    assert "3 s" in hosts["hung"]["error"]
    assert hosts["good"]["checks"] and all(h["error"] for n, h in hosts.items() if n != "good")
    assert code == 1  # a failed check wins over the unreachable hosts (3)
    assert len(doc["fleet"]["rows"]) == 8
    # the hung probe does not outlive the timeout on the target (killed by the target's `timeout`)
    deadline = time.monotonic() + 8
    while subprocess.run(["pgrep", "-f", "sleep 61.25"], capture_output=True).returncode == 0:
        assert time.monotonic() < deadline, "the timed-out remote command is still running"
        time.sleep(0.2)


def test_unknown_host_key_is_refused_then_trusted_on_request(fleet, tmp_path):
    kh = tmp_path / "known_hosts"
    kh.write_text("")
    code, doc, _ = check(*fleet.args("h1", known_hosts=kh), "--python", SYSTEM_PYTHON)
    assert (code, doc["hosts"][0]["status"]) == (3, "host-key-unknown")
    assert kh.read_text() == ""
    code, doc, _ = check(*fleet.args("h1", known_hosts=kh), "--python", SYSTEM_PYTHON, "--accept-new-host-keys")
    assert doc["hosts"][0]["status"] == "fail" and code == 1  # evaluated
    assert kh.read_text() == fleet.hosts[1].known_hosts_line()  # recorded, as OpenSSH writes it
    code, doc, _ = check(*fleet.args("h1", known_hosts=kh), "--python", SYSTEM_PYTHON)
    assert doc["hosts"][0]["status"] == "fail"  # trusted from now on without the flag


def test_changed_key_is_refused_even_with_accept_new(fleet, tmp_path):
    kh = tmp_path / "known_hosts"
    kh.write_text(fleet.hosts[0].known_hosts_line().replace(str(fleet.hosts[0].port), str(fleet.hosts[1].port)))
    code, doc, _ = check(*fleet.args("h1", known_hosts=kh), "--accept-new-host-keys")
    assert (code, doc["hosts"][0]["status"]) == (3, "host-key-changed")


def test_revoked_key_is_refused_even_with_accept_new(fleet, tmp_path):
    # regression: paramiko skips "@revoked" lines, so a revoked key looked unknown and was trusted
    kh = tmp_path / "known_hosts"
    kh.write_text("@revoked * " + " ".join(fleet.hosts[1].known_hosts_line().split()[1:]) + "\n")
    code, doc, _ = check(*fleet.args("h1", known_hosts=kh), "--accept-new-host-keys")
    assert (code, doc["hosts"][0]["status"]) == (3, "host-key-changed")
    assert "marked @revoked" in doc["hosts"][0]["error"]
    assert "@revoked" in kh.read_text() and kh.read_text().count("\n") == 1  # nothing recorded


def test_marker_lines_do_not_hide_the_other_known_hosts(fleet, tmp_path):
    # regression: paramiko's loader raised on a "@cert-authority" line, so every host ended in "error"
    kh = tmp_path / "known_hosts"
    ca = " ".join(fleet.hosts[0].known_hosts_line().split()[1:])  # any valid key will do for the marker line
    kh.write_text(f"@cert-authority *.example.org {ca}\n" + fleet.hosts[1].known_hosts_line())
    code, doc, _ = check(*fleet.args("h1", known_hosts=kh), "--python", SYSTEM_PYTHON)
    assert (code, doc["hosts"][0]["status"]) == (1, "fail")  # connected and evaluated


def test_only_unreachable_hosts_exit_3(fleet):
    port = free_port()
    code, doc, _ = check(*fleet.args(f"root@127.0.0.1:{port}"), "--connect-timeout", "2")
    assert code == 3
    assert doc["hosts"][0]["status"] == "unreachable"
    assert "connection refused" in doc["hosts"][0]["error"]


def test_target_default_python3_with_torch(fleet):
    """The target's default python3 on this test machine has torch: imported over SSH, in the headline. The
    exit code follows the host's verdict (0 pass/warn, 1 fail) as for a local run."""
    code, doc, _ = check(*fleet.args("h0"))
    h = doc["hosts"][0]
    assert h["headline"]["torch"] and h["headline"]["torch"][0].isdigit()
    assert {c["id"]: c["status"] for c in h["checks"]}["torch_installed"] == "pass"
    assert code == {"pass": 0, "warn": 0, "fail": 1, "unknown": 0}[h["status"]]


def test_explicit_localhost_goes_over_ssh(fleet):
    code, doc, _ = check(*fleet.args(f"root@localhost:{fleet.hosts[0].port}"), "--python", SYSTEM_PYTHON)
    assert doc["hosts"][0]["status"] == "host-key-unknown"  # not the local transport: known_hosts has 127.0.0.1


def test_proxy_jump_through_another_host(fleet, tmp_path):
    h0, h1, _ = fleet.hosts
    cfg = tmp_path / "ssh_config"
    cfg.write_text(fleet.ssh_config.read_text() + f"Host behind\n  HostName 127.0.0.1\n  Port {h1.port}\n"
                   f"  User root\n  IdentityFile {fleet.client_key}\n  ProxyJump h0\n")
    r = CliRunner().invoke(main, ["check", "--json", "behind", "-F", str(cfg), "--known-hosts",
                                  str(fleet.known_hosts), "--python", SYSTEM_PYTHON])
    assert json.loads(r.stdout)["hosts"][0]["status"] == "fail", r.output  # evaluated, through h0


def test_ctrl_c_stops_and_reports_what_finished(fleet, tmp_path):
    stuck_pid, quick_done = tmp_path / "stuck.pid", tmp_path / "quick.done"
    slow = tmp_path / "slow-python"
    slow.write_text(f"#!/bin/sh\necho $$ > {stuck_pid}.new && mv {stuck_pid}.new {stuck_pid}\nexec sleep 47.5\n")
    slow.chmod(0o755)
    quick = tmp_path / "quick-python"  # the system python, saying when its probe has ended
    quick.write_text(f'#!/bin/sh\n{SYSTEM_PYTHON} "$@"\nrc=$?\ntouch {quick_done}\nexit $rc\n')
    quick.chmod(0o755)
    inv = tmp_path / "inv.ini"
    h0, h1, _ = fleet.hosts
    inv.write_text(f"[all:vars]\nansible_host=127.0.0.1\nansible_user=root\n"
                   f"ansible_ssh_private_key_file={fleet.client_key}\n"
                   f"[fast]\nquick ansible_port={h0.port} ansible_python_interpreter={quick}\n"
                   f"[slow]\nstuck ansible_port={h1.port} ansible_python_interpreter={slow}\n")
    # SIGINT at its default in envdoctor, as in a foreground process Ctrl-C reaches: where the suite itself runs
    # as a background job of a non-interactive shell, SIGINT is ignored and the child would inherit that
    p = subprocess.Popen([sys.executable, "-m", "envdoctor", "check", "--json", "-i", str(inv), "--known-hosts",
                          str(fleet.known_hosts)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        # Until the hung probe runs on its target, and the quick host's probe has ended and envdoctor has
        # closed its connection (it has its evidence: what is left is building its report).
        deadline = time.monotonic() + 120
        while not (stuck_pid.exists() and quick_done.exists() and not _connected(p.pid, h0.port)):
            assert time.monotonic() < deadline and p.poll() is None, p.poll()
            time.sleep(0.2)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()  # the run this test started
            p.communicate()
        if stuck_pid.exists():
            try:
                os.kill(int(stuck_pid.read_text()), signal.SIGKILL)  # the remote leftover, if any: by its id
            except ProcessLookupError:
                pass
    assert p.returncode == 130, err
    hosts = by_host(json.loads(out))
    assert hosts["quick"]["status"] == "fail" and hosts["quick"]["checks"]
    assert hosts["stuck"]["status"] == "error" and "interrupted" in hosts["stuck"]["error"]
    assert "Traceback" not in err


def _connected(pid: int, port: int) -> bool:
    """Whether process `pid` has an established TCP connection to `port` (on loopback)."""
    return bool(established_sockets(pid, port))


def test_progress_goes_to_a_terminal_only(fleet):
    """Progress is for a terminal: a pseudo-terminal on stderr gets it; --json runs show none (above)."""
    import pty

    master, slave = pty.openpty()
    p = subprocess.Popen([sys.executable, "-m", "envdoctor", "check", *fleet.args("h0", "h1", "h2"), "--python",
                          SYSTEM_PYTHON], cwd=ROOT, stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL)
    os.close(slave)
    out, _ = p.communicate(timeout=60)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    assert b"hosts done" in seen and b"/3" in seen
    assert b"hosts done" not in out
    assert b"Fleet summary (3 hosts" in out
