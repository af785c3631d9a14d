"""SSHTransport itself against a real sshd: argv quoting, stdin streaming, per-line stdout, timeouts, and
--become through a real sudo with a password that must never show up anywhere."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from envdoctor.hosts.inventory import resolve
from envdoctor.hosts.transport.ssh import SSHTransport
from tests.support.testhost import SYSTEM_PYTHON, TestHost

ROOT = Path(__file__).resolve().parents[2]


def transport(fleet, name="h0", **kw) -> SSHTransport:
    (t,) = resolve([name], ssh_config=fleet.ssh_config)
    return SSHTransport(t, known_hosts=fleet.known_hosts, **kw)


def test_argv_reaches_the_target_verbatim(fleet):
    nasty = ["it's", "$HOME", "a b", "`id`", ";", "*", "\"q\""]
    with transport(fleet) as tr:
        r = tr.run([SYSTEM_PYTHON, "-c", "import json,sys; print(json.dumps(sys.argv[1:]))"] + nasty)
    assert r.rc == 0 and json.loads(r.stdout) == nasty


def test_stdin_is_streamed_and_lines_come_one_by_one(fleet):
    data = b"".join(b"line %d\n" % i for i in range(20000))  # ~200 KB, more than one SSH window
    seen = []
    with transport(fleet) as tr:
        r = tr.run(["cat"], stdin=data, timeout=30, on_line=seen.append)
        r2 = tr.run(["sh", "-c", "echo out; echo err >&2; exit 7"])  # same connection, a second command
    assert r.rc == 0 and r.stdout.encode() == data
    assert seen == [f"line {i}" for i in range(20000)]
    assert (r2.rc, r2.stdout, r2.stderr) == (7, "out\n", "err\n")


def test_timeout_returns_timed_out(fleet):
    with transport(fleet) as tr:
        r = tr.run(["sleep", "30"], timeout=1.5)
    assert r.timed_out and r.rc is None and 1.4 < r.secs < 4


@pytest.fixture(scope="module")
def sudo_host(tmp_path_factory):
    if not shutil.which("sudo") or not shutil.which("unshare"):
        pytest.skip("needs sudo and unshare (tests/run.sh installs sudo)")
    h = TestHost(tmp_path_factory.mktemp("sudo") / "h", alias="sudohost", isolated=True)
    try:
        h.start()
    except RuntimeError as e:
        pytest.skip(f"cannot start an isolated test host here: {e}")
    h.add_user("envdtest", "Right-pw-4711")
    cfg = h.dir / "ssh_config_envdtest"
    cfg.write_text(h.ssh_config_block().replace("User root", "User envdtest"))
    yield h, cfg
    h.stop()


def test_become_runs_as_root_with_the_password(sudo_host):
    h, cfg = sudo_host
    (t,) = resolve(["sudohost"], ssh_config=cfg)
    with SSHTransport(t, known_hosts=h.known_hosts) as tr:
        assert tr.run(["id", "-u"]).stdout.strip() != "0"  # the login itself is not root
    with SSHTransport(t, known_hosts=h.known_hosts, become=True, become_password="Right-pw-4711") as tr:
        r = tr.run([SYSTEM_PYTHON, "-c", "import os,sys; print(os.getuid(), sys.stdin.read())"], stdin=b"probe")
    assert r.stdout.split() == ["0", "probe"]  # root, and stdin after the password line is intact
    assert "Right-pw-4711" not in r.stdout + r.stderr + repr(tr)


@pytest.mark.parametrize("password", ["Right-pw-4711", "Wrong-pw-0815", None])
def test_become_password_never_appears_in_output(sudo_host, password):
    h, cfg = sudo_host
    env = {k: v for k, v in os.environ.items() if k != "ENVDOCTOR_BECOME_PASSWORD"}
    if password:
        env["ENVDOCTOR_BECOME_PASSWORD"] = password
    outs = []
    for fmt in (["--json"], []):
        p = subprocess.run([sys.executable, "-m", "envdoctor", "check", "sudohost", "-F", str(cfg), "--known-hosts",
                            str(h.known_hosts), "--become", "--python", SYSTEM_PYTHON, "--debug"] + fmt,
                           cwd=ROOT, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
        outs.append(p)
    doc = json.loads(outs[0].stdout)
    status = doc["hosts"][0]["status"]
    if password == "Right-pw-4711":
        assert status == "fail"  # evaluated as root (no torch in /usr/bin/python3)
    else:
        assert status == "auth-failed"
        assert "sudo" in doc["hosts"][0]["error"]
    for p in outs:
        for text in (p.stdout, p.stderr):
            assert "Right-pw-4711" not in text and "Wrong-pw-0815" not in text
    assert "Traceback" not in outs[1].stderr
