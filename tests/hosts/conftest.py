"""Real OpenSSH test hosts on loopback, shared by the tests of this directory (started once)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.support.testhost import SSHD, SYSTEM_PYTHON, TestHost, fleet_files, keygen


def _can_run_sshd() -> bool:
    return os.geteuid() == 0 and os.path.exists(SSHD) and os.path.exists(SYSTEM_PYTHON)



class Fleet:
    def __init__(self, base: Path):
        self.base = base
        self.client_key = keygen(base / "id_ed25519")
        self.hosts = [TestHost(base / f"h{i}", alias=f"h{i}", client_key=self.client_key) for i in range(3)]
        self.ssh_config, self.known_hosts = fleet_files(self.hosts, base / "client")

    def args(self, *targets: str, known_hosts: Path | None = None) -> list[str]:
        return list(targets) + ["-F", str(self.ssh_config), "--known-hosts", str(known_hosts or self.known_hosts)]

    def fresh_known_hosts(self, name: str) -> Path:
        p = self.base / "client" / name
        shutil.copy(self.known_hosts, p)
        return p


@pytest.fixture(scope="session")
def fleet(tmp_path_factory):
    if not _can_run_sshd():
        pytest.skip("needs root, openssh-server and /usr/bin/python3")
    f = Fleet(tmp_path_factory.mktemp("fleet"))
    for h in f.hosts:
        h.start()
    yield f
    for h in f.hosts:
        h.stop()
