"""Fabric-side features against real sshd: a host reached only through a ProxyCommand (its sshd serves the
connection on stdin/stdout, there is no listening socket), logging in with a passphrase-protected key
(passphrase from the environment, from a terminal prompt, missing, wrong), and a ProxyJump hop whose host
key is unknown (Fabric's own hops would trust it)."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.testhost import SYSTEM_PYTHON, TestHost

ROOT = Path(__file__).resolve().parents[2]
PASSPHRASE = "Quiet-horse-5521"


@pytest.fixture(scope="module")
def hidden(tmp_path_factory, fleet):
    """`hidden`: HostName hidden.invalid (does not resolve), only a ProxyCommand reaches it; its login key
    is encrypted with PASSPHRASE."""
    d = tmp_path_factory.mktemp("hidden")
    key = d / "id_encrypted"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", PASSPHRASE, "-f", str(key)], check=True)
    h = TestHost(d / "h", alias="hidden", client_key=key)
    kind, pub = (h.dir / "ssh_host_ed25519_key.pub").read_text().split()[:2]
    kh = d / "known_hosts"
    kh.write_text(f"hidden.invalid {kind} {pub}\n")
    cfg = d / "ssh_config"
    cfg.write_text(f"Host hidden\n  HostName hidden.invalid\n  User root\n  IdentityFile {key}\n  IdentitiesOnly yes\n"
                   f"  ProxyCommand {h.inetd_proxy_command()}\n")
    return cfg, kh, key


def run_check(cfg: Path, kh: Path, env_passphrase: str | None, *extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("ENVDOCTOR_SSH_KEY_PASSPHRASE", "SSH_AUTH_SOCK")}
    if env_passphrase is not None:
        env["ENVDOCTOR_SSH_KEY_PASSPHRASE"] = env_passphrase
    return subprocess.run([sys.executable, "-m", "envdoctor", "check", "--no-proof", "hidden", "-F", str(cfg),
                           "--known-hosts", str(kh), "--python", SYSTEM_PYTHON, *extra], cwd=ROOT, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)


def test_proxycommand_host_with_the_passphrase_from_the_environment(hidden):
    cfg, kh, _ = hidden
    p = run_check(cfg, kh, PASSPHRASE, "--json")
    host = json.loads(p.stdout)["hosts"][0]
    assert host["error"] is None and host["status"] == "fail", host  # evaluated (no torch in the system python)
    assert host["checks"]
    assert PASSPHRASE not in p.stdout + p.stderr


@pytest.mark.parametrize("given, expected", [
    (None, "is passphrase-protected: give its passphrase in $ENVDOCTOR_SSH_KEY_PASSPHRASE, or run envdoctor on a "
           "terminal"),
    ("Not-the-passphrase", "the passphrase in $ENVDOCTOR_SSH_KEY_PASSPHRASE does not unlock key"),
])
def test_a_locked_key_without_its_passphrase_says_how_to_give_it(hidden, given, expected):
    cfg, kh, key = hidden
    p = run_check(cfg, kh, given, "--json")
    host = json.loads(p.stdout)["hosts"][0]
    assert host["status"] == "auth-failed"
    assert expected in host["error"] and str(key) in host["error"]
    assert "Traceback" not in p.stderr and (given is None or given not in p.stdout + p.stderr)


def test_passphrase_prompt_on_a_terminal(hidden):
    cfg, kh, _ = hidden
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k not in ("ENVDOCTOR_SSH_KEY_PASSPHRASE", "SSH_AUTH_SOCK")}
    p = subprocess.Popen([sys.executable, "-m", "envdoctor", "check", "--no-proof", "--json", "hidden", "-F", str(cfg),
                          "--known-hosts", str(kh), "--python", SYSTEM_PYTHON], cwd=ROOT, env=env, stdin=slave,
                         stdout=subprocess.PIPE, stderr=slave, start_new_session=True)
    os.close(slave)
    seen, deadline = b"", time.monotonic() + 60
    while b"passphrase for" not in seen:
        assert time.monotonic() < deadline and p.poll() is None, seen
        if select.select([master], [], [], 0.5)[0]:
            seen += os.read(master, 4096)
    os.write(master, PASSPHRASE.encode() + b"\n")
    out, _ = p.communicate(timeout=120)
    try:
        while select.select([master], [], [], 0.2)[0]:
            seen += os.read(master, 4096)
    except OSError:
        pass
    os.close(master)
    host = json.loads(out)["hosts"][0]
    assert host["error"] is None and host["checks"], host
    assert PASSPHRASE.encode() not in seen + out  # not echoed, not in the report


def test_a_jump_host_with_an_unknown_key_is_refused(fleet, tmp_path):
    h0, h1, _ = fleet.hosts
    cfg = tmp_path / "ssh_config"
    cfg.write_text(fleet.ssh_config.read_text() + f"Host behind\n  HostName 127.0.0.1\n  Port {h1.port}\n"
                   f"  User root\n  IdentityFile {fleet.client_key}\n  ProxyJump h0\n")
    kh = tmp_path / "known_hosts"
    kh.write_text(h1.known_hosts_line())  # the target is known, its jump host is not
    p = subprocess.run([sys.executable, "-m", "envdoctor", "check", "--json", "--no-proof", "behind", "-F", str(cfg),
                        "--known-hosts", str(kh), "--python", SYSTEM_PYTHON], cwd=ROOT, capture_output=True,
                       text=True, timeout=120)
    host = json.loads(p.stdout)["hosts"][0]
    assert host["status"] == "host-key-unknown", host
    assert host["error"].startswith(f"jump host root@127.0.0.1:{h0.port}:")
    assert kh.read_text() == h1.known_hosts_line()  # nothing was trusted on the way
