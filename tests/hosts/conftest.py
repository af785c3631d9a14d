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

    def inventory(self, path: Path, hosts: dict[str, str]) -> Path:
        """A YAML inventory of loopback test hosts: the common vars (127.0.0.1, root, the client key, the
        system python), then `name: {vars}` per host, e.g. {"good": f"ansible_port: {port}"}."""
        path.write_text("all:\n  vars:\n    ansible_host: 127.0.0.1\n    ansible_user: root\n"
                        f"    ansible_ssh_private_key_file: {self.client_key}\n"
                        f"    ansible_python_interpreter: {SYSTEM_PYTHON}\n  hosts:\n"
                        + "".join(f"    {name}: {{{v}}}\n" for name, v in hosts.items()))
        return path

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
