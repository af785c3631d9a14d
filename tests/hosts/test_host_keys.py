"""The host-key policy on its own (no connection): what a new, a recorded and a revoked key get, with keys
made by ssh-keygen."""

from __future__ import annotations

import paramiko
import pytest

from envdoctor.hosts.transport.base import TransportError
from envdoctor.hosts.transport.host_keys import KnownHosts
from envdoctor.models import HostStatus
from tests.support.testhost import keygen


def _key(tmp_path, name):
    return paramiko.PKey.from_path(keygen(tmp_path / name))


def test_a_new_key_met_by_two_forks_is_recorded_once(tmp_path):
    kh = tmp_path / "known_hosts"
    known, key = KnownHosts(kh), _key(tmp_path, "a")
    for _ in range(2):  # two targets naming the same host:port, connecting at once
        client = paramiko.SSHClient()
        known.install(client, accept_new=True)
        client._policy.missing_host_key(client, "[127.0.0.1]:2201", key)
    assert kh.read_text() == f"[127.0.0.1]:2201 {key.get_name()} {key.get_base64()}\n"


def test_unknown_changed_and_revoked(tmp_path):
    kh = tmp_path / "known_hosts"
    old, new = _key(tmp_path, "old"), _key(tmp_path, "new")
    kh.write_text(f"[h]:2201 {old.get_name()} {old.get_base64()}\n@revoked * {new.get_name()} {new.get_base64()}\n")
    client = paramiko.SSHClient()
    known = KnownHosts(kh)
    known.install(client, accept_new=True)
    assert client.get_host_keys().lookup("[h]:2201")[old.get_name()] == old
    with pytest.raises(TransportError) as e:
        client._policy.missing_host_key(client, "[other]:2201", new)  # revoked wins over --accept-new-host-keys
    assert e.value.status == HostStatus.HOST_KEY_CHANGED and "@revoked" in e.value.message
    strict = paramiko.SSHClient()
    KnownHosts(kh).install(strict, accept_new=False)
    with pytest.raises(TransportError) as e:
        strict._policy.missing_host_key(strict, "[fresh]:2202", old)
    assert e.value.status == HostStatus.HOST_KEY_UNKNOWN and "ssh-keyscan -p 2202 fresh" in e.value.message
