"""`sshd -T` from the real OpenSSH server, run by the test on configurations it writes (sshd -T only
prints the effective configuration; nothing listens), parsed and judged by security_sshd."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from envdoctor.diagnosis.bundle import Bundle
from envdoctor.diagnosis.host_facts import facts_from_bundle
from envdoctor.parsers.security import parse_sshd_T, passwords_accepted, sshd_reachable
from tests.checks.support import run, sec
from tests.support.testhost import SSHD, keygen

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists(SSHD) or not shutil.which("unshare"),
                                reason="needs root, openssh-server and unshare")


def sshd_T(tmp_path, main: str, dropins: dict[str, str] | None = None) -> str:
    """sshd -T of `main` (with an Include of its own drop-in directory at the top, as Debian ships it).
    It runs in a private mount namespace with its own /run, where sshd wants its privilege separation
    directory, so this machine's /run is not touched."""
    d = tmp_path / "sshd_config.d"
    d.mkdir(exist_ok=True)
    for name, text in (dropins or {}).items():
        (d / name).write_text(text)
    key = keygen(tmp_path / "hostkey")
    cfg = tmp_path / "sshd_config"
    cfg.write_text(f"Include {d}/*.conf\nHostKey {key}\n{main}")
    r = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                        'mount -t tmpfs tmpfs /run && mkdir /run/sshd && exec "$@"', "sh", SSHD, "-T", "-f", str(cfg)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout


def verdict(out: str):
    facts = facts_from_bundle(Bundle(sections={"sec_sshd_config": sec(out, cmd="sshd -T")}))
    return run("security_sshd", facts)


def test_debian_defaults_with_a_cloud_drop_in_allowing_root_passwords_fail(tmp_path):
    out = sshd_T(tmp_path, "KbdInteractiveAuthentication no\nUsePAM yes\n",
                 {"50-cloud-init.conf": "PasswordAuthentication yes\nPermitRootLogin yes\n"})
    cfg = parse_sshd_T(out)
    assert cfg.settings["passwordauthentication"] == "yes" and cfg.settings["permitrootlogin"] == "yes"
    assert sshd_reachable(cfg)  # sshd's default: every address
    r = verdict(out)
    assert r.status.value == "fail" and "PermitRootLogin yes with passwords" in r.summary
    assert "sshd -T: permitrootlogin yes" in r.evidence
    assert r.fix.playbook == "sshd-hardening.yml"


def test_first_value_wins_a_drop_in_overrides_a_later_line_that_a_grep_would_see(tmp_path):
    out = sshd_T(tmp_path, "PasswordAuthentication yes\nPermitRootLogin yes\nKbdInteractiveAuthentication no\n",
                 {"00-keys-only.conf": "PasswordAuthentication no\nPermitRootLogin prohibit-password\n"})
    cfg = parse_sshd_T(out)
    assert passwords_accepted(cfg) == []
    r = verdict(out)
    assert r.status.value == "pass", r


def test_empty_passwords_fail_and_pam_keyboard_interactive_counts_as_passwords(tmp_path):
    out = sshd_T(tmp_path, "PasswordAuthentication no\nKbdInteractiveAuthentication yes\nUsePAM yes\n"
                           "PermitEmptyPasswords yes\nPermitRootLogin prohibit-password\n")
    cfg = parse_sshd_T(out)
    assert passwords_accepted(cfg) == ["kbdinteractiveauthentication yes (with usepam yes)"]
    r = verdict(out)
    assert r.status.value == "fail" and "PermitEmptyPasswords yes" in r.summary


def test_passwords_for_users_only_warn(tmp_path):
    out = sshd_T(tmp_path, "PasswordAuthentication yes\nPermitRootLogin prohibit-password\n"
                           "KbdInteractiveAuthentication no\nListenAddress 0.0.0.0\nListenAddress ::\n")
    r = verdict(out)
    assert r.status.value == "warn" and "passwords accepted" in r.summary
    assert "0.0.0.0:22" in r.summary and "[::]:22" in r.summary


def test_loopback_only_is_not_reachable(tmp_path):
    out = sshd_T(tmp_path, "PasswordAuthentication yes\nPermitRootLogin yes\nListenAddress 127.0.0.1\nPort 2222\n")
    cfg = parse_sshd_T(out)
    assert cfg.listen_addresses == ["127.0.0.1:2222"] and cfg.ports == [2222]
    r = verdict(out)
    assert r.status.value == "pass" and "loopback only" in r.summary


def test_sshd_T_error_and_missing_sshd_are_unknown_and_skip():
    err = Bundle(sections={"sec_sshd_config": sec("", rc=255, cmd="sshd -T")})
    err.sections["sec_sshd_config"].stderr = "sshd: no hostkeys available -- exiting.\n"
    r = run("security_sshd", facts_from_bundle(err))
    assert r.status.value == "unknown" and "no hostkeys available" in r.summary
    missing = Bundle(sections={"sec_sshd_config": sec(error="not-found")})
    assert run("security_sshd", facts_from_bundle(missing)).status.value == "skip"
    assert run("security_sshd", facts_from_bundle(Bundle())).status.value == "unknown"


def test_an_sshd_that_is_not_running_warns_and_leaves_the_playbook_to_the_user(tmp_path):
    out = sshd_T(tmp_path, "PasswordAuthentication yes\nPermitRootLogin yes\n")
    b = Bundle(sections={"sec_sshd_config": sec(out, cmd="sshd -T"), "sec_daemons": sec("[]"),
                         "sec_listening": sec("# /proc/net/tcp\n")})
    f = facts_from_bundle(b)
    assert f.security.sshd_running is False
    r = run("security_sshd", f)
    assert r.status.value == "warn" and "not running now" in r.summary
    assert r.fix.playbook is None and r.fix.manual
