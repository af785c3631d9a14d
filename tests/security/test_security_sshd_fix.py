"""sshd-hardening.yml applied for real over SSH to an isolated test host (its /etc is a copy-on-write
overlay). Inside it a second sshd runs from the host's own /etc/ssh/sshd_config (on loopback), so the
play's `sshd -t`, `sshd -T` and reload act on a real server: check mode first, then apply, a second run
changes nothing, the server stops offering passwords, and a lock-out is refused before anything is written."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from tests.fixes.conftest import Host, can_run_hosts
from tests.support.testhost import SSHD, TestHost, free_port

pytestmark = pytest.mark.skipif(not can_run_hosts(), reason="needs root, openssh-server and /usr/bin/python3")

DROPIN = "/etc/ssh/sshd_config.d/00-envdoctor-hardening.conf"


class SecondSshd:
    """An sshd inside the test host's mount namespace that reads the host's /etc/ssh/sshd_config."""

    def __init__(self, host: Host, authorized_keys: str):
        self.host, self.port = host, free_port()
        d = host.h.dir
        self.pidfile = d / "second-sshd.pid"
        # constructed: a site's sshd_config that lets root in with a password (the Include comes first, as on Debian)
        host.sh("mkdir -p /etc/ssh/sshd_config.d && rm -f /etc/ssh/sshd_config.d/* && cat > /etc/ssh/sshd_config <<'EOF'\n"
                "Include /etc/ssh/sshd_config.d/*.conf\n"
                f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {host.h.host_key}\nPidFile {self.pidfile}\n"
                f"AuthorizedKeysFile {authorized_keys}\n"
                "PermitRootLogin yes\nPasswordAuthentication yes\nKbdInteractiveAuthentication no\nUsePAM no\n"
                "StrictModes no\nLogLevel ERROR\nEOF")

    def __enter__(self) -> "SecondSshd":
        r = self.host.h.run_inside([SSHD, "-f", "/etc/ssh/sshd_config"])  # daemonizes, writes its PidFile
        assert r.returncode == 0, r.stderr
        return self

    def __exit__(self, *exc) -> None:
        try:
            os.kill(int(self.pidfile.read_text()), signal.SIGTERM)
        except (OSError, ValueError):
            pass

    def offered(self) -> str:
        """The methods the server offers, from the client's refusal: "publickey,password"."""
        r = subprocess.run(["ssh", "-p", str(self.port), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                            "-o", "UserKnownHostsFile=/dev/null", "-o", "PreferredAuthentications=none",
                            "-o", "ConnectTimeout=20", "root@127.0.0.1", "true"],
                           capture_output=True, text=True, timeout=60)
        return r.stderr.rsplit("Permission denied (", 1)[-1].split(")")[0] if "Permission denied" in r.stderr else r.stderr

    def wait_offered(self, want: str) -> str:
        deadline = time.monotonic() + 60  # the HUP'd sshd re-executes itself before it answers again
        got = self.offered()
        while got != want and time.monotonic() < deadline:
            time.sleep(0.5)
            got = self.offered()
        return got


@pytest.fixture
def host(tmp_path):
    h = TestHost(tmp_path / "host", alias="sshdhost", isolated=True).start()
    try:
        yield Host(h)
    finally:
        h.stop()


def effective(host: Host, key: str) -> str:
    return next(l for l in host.sh(f"{SSHD} -T").splitlines() if l.startswith(key + " "))


def test_hardening_check_mode_apply_reload_and_second_run(host):
    with SecondSshd(host, str(host.h.dir / "authorized_keys")) as sshd:  # root's key: the one the test logs in with
        assert sshd.offered() == "publickey,password"
        before = host.snapshot()
        rc, plan, r = host.play("sshd-hardening.yml", "--check", "--diff")
        assert rc == 0 and plan["failed"] == 0, r.stdout
        assert host.snapshot() == before, "check mode changed the host"
        assert "+PasswordAuthentication no" in r.stdout or any(
            "PasswordAuthentication no" in d["diff"] for t in plan["tasks"] for d in t["diffs"])

        rc, first, r = host.play("sshd-hardening.yml")
        assert rc == 0 and first["failed"] == 0, r.stdout
        # the drop-in, then its handlers in order: sshd -t, sshd -T, the reload
        assert [(t["task"], t["status"]) for t in first["tasks"] if t["status"] == "changed"] == [
            ("hardened sshd drop-in", "changed"), ("sshd -t accepts it", "changed"), ("sshd -T shows it", "changed"),
            ("reload sshd", "changed")]
        assert "PermitRootLogin prohibit-password" in host.read(DROPIN)
        assert effective(host, "passwordauthentication") == "passwordauthentication no"
        assert effective(host, "permitrootlogin") == "permitrootlogin without-password"  # sshd's own name for it
        assert sshd.wait_offered("publickey") == "publickey"  # reloaded: passwords no longer offered

        after = host.snapshot()
        rc, second, r = host.play("sshd-hardening.yml")
        assert rc == 0 and second["changed"] == 0 and second["failed"] == 0, r.stdout
        assert host.snapshot() == after


def test_lock_out_is_refused_with_the_reason_and_nothing_is_written(host):
    with SecondSshd(host, "/nonexistent/%u") as sshd:  # root has no authorized key sshd would read
        before = host.snapshot()
        for mode in (["--check"], []):
            rc, res, r = host.play("sshd-hardening.yml", *mode)
            assert rc != 0 and res["failed"] == 1 and res["changed"] == 0, r.stdout
            assert "refused: this would lock out root, who has no authorized key" in res["error"]
            assert "/nonexistent/root (0)" in res["error"]
            assert host.snapshot() == before
        assert host.read(DROPIN) is None
        assert sshd.offered() == "publickey,password"  # untouched


def test_a_drop_in_sshd_t_rejects_is_removed_and_sshd_not_reloaded(host):
    with SecondSshd(host, str(host.h.dir / "authorized_keys")) as sshd:
        rc, res, r = host.play("sshd-hardening.yml", "-e", "sshd_permit_root_login=maybe")
        assert rc != 0 and res["failed"] == 1, r.stdout
        assert "sshd -t rejected the configuration" in res["error"] and "removed, sshd not reloaded" in res["error"]
        assert host.read(DROPIN) is None
        assert sshd.offered() == "publickey,password"
