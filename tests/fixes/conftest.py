"""Isolated test hosts for the fix tests: a real sshd in its own mount namespace whose /etc and
/usr/local are copy-on-write overlays, reached over SSH exactly as a user's host is."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.testhost import SSHD, SYSTEM_PYTHON, TestHost

ROOT = Path(__file__).resolve().parents[2]


def can_run_hosts() -> bool:
    return os.geteuid() == 0 and os.path.exists(SSHD) and os.path.exists(SYSTEM_PYTHON)


# A stand-in for systemctl inside a test host (which has no systemd): it answers as a running systemd
# would, keeps unit state in files, and logs every call, so handler runs can be counted.
FAKE_SYSTEMCTL = r"""#!/bin/sh
# constructed: fake systemctl for envdoctor's tests (no systemd in a test host); queries change nothing
d=/etc/fake-systemd
case "$1" in
  is-system-running) echo running; exit 0 ;;
  show|status|list-units|list-unit-files|cat) exit 0 ;;
  is-active) if [ -e $d/$2.active ]; then echo active; exit 0; else echo inactive; exit 3; fi ;;
  is-enabled) if [ -e $d/$2.enabled ]; then echo enabled; exit 0; else echo disabled; exit 1; fi ;;
esac
# a test makes an action fail (as a wedged PID 1 or a unit that will not start would) with a file
if [ -e /etc/fake-systemd-fail/$1 ]; then echo "Failed to $1: constructed failure" >&2; exit 1; fi
echo "$*" >> /etc/fake-systemd.log
mkdir -p $d
case "$1" in
  start|restart) touch $d/$2.active ;;
  stop) rm -f $d/$2.active ;;
  enable) touch $d/$2.enabled ;;
  disable) rm -f $d/$2.enabled ;;
esac
exit 0
"""


class Host:
    """A started isolated TestHost plus the CLI arguments that reach it over SSH."""

    def __init__(self, h: TestHost):
        self.h = h
        self.name = h.alias

    def sh(self, script: str) -> str:
        r = self.h.run_inside(["sh", "-c", script])
        assert r.returncode == 0, r.stderr
        return r.stdout

    def read(self, path: str) -> str | None:
        r = self.h.run_inside(["cat", path])
        return r.stdout if r.returncode == 0 else None

    def args(self) -> list[str]:
        return [self.name, "-F", str(self.h.ssh_config), "--known-hosts", str(self.h.known_hosts),
                "--python", SYSTEM_PYTHON, "--no-torch"]

    def envdoctor(self, *argv: str, input: str | None = None, timeout: float = 240) -> subprocess.CompletedProcess:
        """Run the real CLI in a subprocess (stdin not a terminal)."""
        return subprocess.run([sys.executable, "-m", "envdoctor", *argv], cwd=ROOT, capture_output=True, text=True,
                              input=input if input is not None else "", timeout=timeout)

    # The test hosts live in this machine's container, so they read as containers; unless a test says
    # otherwise they play a machine with a docker daemon of its own (the docker tasks run).
    AS_DOCKER_HOST = ("-e", "manage_docker=true")

    def play(self, playbook: str, *extra: str) -> tuple[int, dict, subprocess.CompletedProcess]:
        r = self.envdoctor("play", playbook, *self.args(), "--json", *self.AS_DOCKER_HOST, *extra)
        try:
            doc = json.loads(r.stdout)
        except ValueError:
            raise AssertionError(f"no JSON (exit {r.returncode}): {r.stdout}\n{r.stderr}") from None
        return r.returncode, doc["hosts"][0], r

    def snapshot(self) -> dict[str, str]:
        """Every file and link this host has written to its /etc and /usr/local (the overlays' upper
        layers), with a hash of its content: equal snapshots mean nothing changed."""
        out = {}
        for top in (self.h.dir / "overlay" / "etc" / "upper", self.h.dir / "overlay" / "usr_local" / "upper"):
            for p in sorted(top.rglob("*")):
                rel = str(p.relative_to(self.h.dir / "overlay"))
                if p.is_symlink():
                    out[rel] = "-> " + os.readlink(p)
                elif p.is_file():
                    out[rel] = hashlib.sha256(p.read_bytes()).hexdigest() + f" {oct(p.stat().st_mode)}"
                elif p.is_dir():
                    out[rel] = "dir"
        # The live /dev/shm size is state too (the shm playbook remounts it).
        out["mount:/dev/shm"] = " ".join(ln for ln in self.sh("cat /proc/self/mounts").splitlines()
                                         if " /dev/shm " in ln)
        return out

    def install_fake_systemctl(self) -> None:
        self.sh(f"cat > /usr/local/bin/systemctl <<'EOF'\n{FAKE_SYSTEMCTL}EOF\nchmod 755 /usr/local/bin/systemctl")

    def systemctl_log(self) -> list[str]:
        return (self.read("/etc/fake-systemd.log") or "").splitlines()


@pytest.fixture
def host(tmp_path, request):
    """An isolated test host. A test that needs RDMA devices on it (where the locked-memory limit matters)
    names them with `@pytest.mark.parametrize("host", [("mlx5_0",)], indirect=True)`: constructed entries
    in the host's own /sys/class/infiniband (see TestHost's rdma_devices)."""
    if not can_run_hosts():
        pytest.skip("needs root, openssh-server and /usr/bin/python3")
    rdma = getattr(request, "param", ())
    h = TestHost(tmp_path / "host", alias="fixhost", isolated=True, rdma_devices=rdma).start()
    try:
        yield Host(h)
    finally:
        h.stop()
