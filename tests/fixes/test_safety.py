"""Safety over SSH on isolated test hosts: malformed files are left alone, writes are atomic even when
the helper is killed, owner/mode and backups are kept, nothing changes without consent, and a failing
task or host stops only what it should."""

import base64
import json
import os
import signal
import threading
import time

import pytest

from envdoctor.fixes.ops import WriteOp
from envdoctor.fixes.remote import HelperError, Remote
from envdoctor.hosts.targets import Target
from envdoctor.hosts.transport.ssh import SSHTransport
from tests.fixes.conftest import can_run_hosts
from tests.support.testhost import SYSTEM_PYTHON, TestHost

pytestmark = pytest.mark.skipif(not can_run_hosts(), reason="needs root, openssh-server and /usr/bin/python3")

# constructed: a daemon.json with a trailing comma (docker itself refuses to start with it)
MALFORMED = '{\n    "log-driver": "journald",\n}\n'


def remote_for(host) -> Remote:
    h = host.h
    t = Target(name=h.alias, hostname="127.0.0.1", port=h.port, user="root", identity_files=[str(h.client_key)])
    return Remote(SSHTransport(t, known_hosts=h.known_hosts), python=SYSTEM_PYTHON)


def test_malformed_daemon_json_is_left_untouched(host):
    host.sh(f"mkdir -p /etc/docker && printf '%s' '{MALFORMED}' > /etc/docker/daemon.json")
    before = host.snapshot()
    rc, recap, r = host.play("container-toolkit.yml")
    assert rc == 1 and recap["failed"] == 1 and recap["changed"] == 0
    msg = [t for t in recap["tasks"] if t["status"] == "failed"][0]["msg"]
    assert "/etc/docker/daemon.json is not valid JSON" in msg and "left untouched" in msg
    assert host.read("/etc/docker/daemon.json") == MALFORMED
    assert host.snapshot() == before  # no backup, no temp file, nothing
    # The text output says it in one line too.
    r = host.envdoctor("play", "container-toolkit.yml", *host.args(), *host.AS_DOCKER_HOST)
    assert r.returncode == 1 and "is not valid JSON" in r.stdout and "stopped:" in r.stdout


def test_owner_mode_kept_and_previous_content_backed_up(host):
    host.sh("mkdir -p /etc/docker && echo '{\"debug\": true}' > /etc/docker/daemon.json && "
            "chown nobody:nogroup /etc/docker/daemon.json && chmod 640 /etc/docker/daemon.json")
    rc, recap, r = host.play("shm.yml", "--tags", "docker", "--skip-tags", "host", "-e", "manage_host_shm=false")
    st = host.sh("stat -c '%U:%G %a' /etc/docker/daemon.json").strip()
    assert st == "nobody:nogroup 640"
    backups = [n for n in host.sh("ls -a /etc/docker").split() if ".envdoctor-backup-" in n]
    assert len(backups) == 1 and host.read(f"/etc/docker/{backups[0]}") == '{"debug": true}\n'
    assert not [n for n in host.sh("ls -a /etc/docker").split() if "envdoctor-tmp" in n]
    assert json.loads(host.read("/etc/docker/daemon.json")) == {"debug": True, "default-shm-size": "8G"}


def _write_op(path: str, text: str, sha: str | None) -> WriteOp:
    return WriteOp(path=path, content_b64=base64.b64encode(text.encode()).decode(), expect_sha256=sha)


def _temps(host, directory="docker"):
    d = host.h.root(f"etc/{directory}")
    return [p for p in d.iterdir() if ".envdoctor-tmp-" in p.name] if d.exists() else []


def test_kill_between_temp_write_and_rename_leaves_the_old_file(host):
    old = '{"log-driver": "journald"}\n'
    host.sh(f"mkdir -p /etc/docker && printf '%s' '{old}' > /etc/docker/daemon.json")
    import hashlib

    sha = hashlib.sha256(old.encode()).hexdigest()
    new = json.dumps({"log-driver": "journald", "default-shm-size": "8G"}, indent=4) + "\n"
    remote = remote_for(host)
    done = {}
    t = threading.Thread(target=lambda: done.setdefault("r", remote.transport.run(
        [SYSTEM_PYTHON, "-c", __import__("envdoctor.fixes.remote", fromlist=["x"]).HELPER_SOURCE,
         "--test-pause-before-rename", "30"],
        stdin=json.dumps({"ops": [_write_op("/etc/docker/daemon.json", new, sha).wire()]}).encode(), timeout=60)))
    t.start()
    deadline = time.monotonic() + 20
    while not _temps(host) and time.monotonic() < deadline:
        time.sleep(0.02)
    temps = _temps(host)
    assert temps, "the helper never wrote its temp file"
    pid = int(temps[0].name.split(".envdoctor-tmp-")[1].split("-")[0])
    # The backup is made after the temp file is written and fsynced, just before the pause and the rename.
    while not list(host.h.root("etc/docker").glob("daemon.json.envdoctor-backup-*")):
        assert time.monotonic() < deadline and t.is_alive(), "the helper never reached its backup"
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)  # the helper process our own test started, by its id
    t.join(30)
    assert host.read("/etc/docker/daemon.json") == old  # whole, and the old one
    assert temps[0].read_text() == new  # the new content was complete but never renamed into place
    # The next run finishes the job and clears the dead helper's temp file.
    rc, recap, r = host.play("shm.yml", "--tags", "docker", "-e", "manage_host_shm=false")
    assert recap["changed"] >= 1 and json.loads(host.read("/etc/docker/daemon.json"))["default-shm-size"] == "8G"
    assert _temps(host) == []
    remote.transport.close()


def _call_quietly(remote, op):
    try:
        remote.call([op])
    except HelperError:  # the helper was killed: expected
        pass


def test_kill_during_a_large_write_never_leaves_half_a_file(host):
    """A 24 MB file rewritten while the helper is killed at whatever point it has reached: the file is
    always the old one or the new one, whole."""
    remote = remote_for(host)
    old = "old\n" * (6 << 20)
    host.sh("mkdir -p /etc/big && python3 -c \"import sys; sys.stdout.write('old\\n' * (6 << 20))\" > /etc/big/file")
    import hashlib

    killed_mid = 0
    for attempt in range(6):
        cur = host.h.root("etc/big/file").read_text() if host.h.root("etc/big/file").exists() else old
        new = (f"new{attempt}\n" * (6 << 20))[: len(old)]
        op = _write_op("/etc/big/file", new, hashlib.sha256(cur.encode()).hexdigest())
        t = threading.Thread(target=_call_quietly, args=(remote, op), daemon=True)
        t.start()
        pid = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and t.is_alive():
            temps = _temps(host, "big")
            if temps:
                pid = int(temps[0].name.split(".envdoctor-tmp-")[1].split("-")[0])
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed_mid += 1
                except ProcessLookupError:
                    pass
                break
            time.sleep(0.001)
        t.join(60)
        text = host.read("/etc/big/file")
        assert text in (cur, new), "a half-written file"
    assert killed_mid >= 1, "never caught the helper mid-write"
    remote.transport.close()


# An RDMA device on the host (constructed), where the locked-memory limit matters: memlock.yml is
# planned beside shm.yml, and both notify the same handler.
@pytest.mark.parametrize("host", [("mlx5_0",)], ids=["rdma"], indirect=True)
def test_fix_changes_nothing_without_yes_then_applies_and_verifies(host):
    host.sh("mount -t tmpfs -o rw,nosuid,nodev,size=64m tmpfs /dev/shm")
    host.install_fake_systemctl()
    before = host.snapshot()
    r = host.envdoctor("fix", *host.args(), "-e", "manage_host_shm=true manage_docker=true")  # stdin is not a terminal
    assert r.returncode == 1
    assert "nothing was changed" in r.stdout + r.stderr and "shm.yml" in r.stdout
    assert host.snapshot() == before
    r = host.envdoctor("fix", *host.args(), "--check", "--diff", "-e", "manage_host_shm=true manage_docker=true")
    assert "+    \"default-shm-size\": \"8G\"" in r.stdout and host.snapshot() == before
    r = host.envdoctor("fix", *host.args(), "--yes", "--include-warn", "--json", "-e", "manage_host_shm=true manage_docker=true")
    doc = json.loads(r.stdout)
    h = doc["hosts"][0]
    assert doc["applied"] and {"shm.yml", "memlock.yml"} <= set(h["playbooks"]) and h["apply"]["failed"] == 0
    assert h["verify"]["shm_size"] == "pass"
    # Both playbooks notified "restart docker": it ran once, after both.
    log = host.systemctl_log()
    assert log.count("restart docker") == 1 and log.count("daemon-reexec") == 1, log
    assert [t["task"] for t in h["apply"]["tasks"]][-2:] == ["reexec systemd", "restart docker"] or \
        [t["task"] for t in h["apply"]["tasks"]][-2:] == ["restart docker", "reexec systemd"]
    r = host.envdoctor("fix", *host.args(), "--yes", "--json", "-e", "manage_host_shm=true manage_docker=true")
    doc = json.loads(r.stdout)
    assert "shm.yml" not in doc["hosts"][0]["playbooks"]  # fixed: no longer planned


def test_tags_ignore_errors_and_a_failing_task_stops_the_host(host, tmp_path):
    pb = tmp_path / "pb.yml"
    pb.write_text("""# constructed: exercises ignore_errors, tags, stop-on-failure and handlers
- name: behaviour
  tasks:
    - name: may fail
      command: {cmd: "exit 3"}
      ignore_errors: true
    - name: tagged
      tags: [one]
      copy: {path: /etc/envdoctor-t/one, content: "1\\n", create_parents: true}
      notify: h
    - name: fails
      command: {argv: ["false"]}
    - name: never reached
      copy: {path: /etc/envdoctor-t/two, content: "2\\n", create_parents: true}
  handlers:
    - name: h
      copy: {path: /etc/envdoctor-t/handler, content: "ran\\n", create_parents: true}
""")
    rc, recap, r = host.play(str(pb), "--tags", "one")
    assert rc == 0 and [t["task"] for t in recap["tasks"]] == ["tagged", "h"]
    rc, recap, r = host.play(str(pb))
    assert rc == 1 and recap["ignored"] == 1 and recap["failed"] == 1
    assert [t["task"] for t in recap["tasks"]] == ["may fail", "tagged", "fails"]
    assert "`false` failed (exit 1)" in recap["error"]
    assert host.read("/etc/envdoctor-t/two") is None  # the host stopped at the failure


def test_one_host_failing_does_not_stop_the_others(host, tmp_path):
    other = TestHost(tmp_path / "other", alias="other", isolated=True, client_key=host.h.client_key).start()
    try:
        host.sh(f"mkdir -p /etc/docker && printf '%s' '{MALFORMED}' > /etc/docker/daemon.json")
        cfg = tmp_path / "ssh_config"
        cfg.write_text(host.h.ssh_config_block() + other.ssh_config_block())
        kh = tmp_path / "known_hosts"
        kh.write_text(host.h.known_hosts_line() + other.known_hosts_line())
        dead = "root@127.0.0.1:1"  # nothing listens on port 1
        r = host.envdoctor("play", "shm.yml", "fixhost", "other", dead, "-F", str(cfg), "--known-hosts", str(kh),
                           "--python", SYSTEM_PYTHON, "--no-torch", "--tags", "docker", "--json", *host.AS_DOCKER_HOST,
                           "--connect-timeout", "3")
        hosts = {h["host"]: h for h in json.loads(r.stdout)["hosts"]}
        assert r.returncode == 1
        assert hosts["fixhost"]["failed"] == 1 and "not valid JSON" in hosts["fixhost"]["error"]
        assert hosts["other"]["changed"] == 1 and hosts["other"]["failed"] == 0  # its daemon.json
        # No systemd there: the docker restart is skipped with the manual step, not a failure.
        restart = [t for t in hosts["other"]["tasks"] if t["task"] == "restart docker"][0]
        assert restart["status"] == "skipped" and "manual step: `service docker restart`" in restart["msg"]
        assert hosts[dead]["unreachable"] == 1
        assert "default-shm-size" in (other.root("etc/docker/daemon.json").read_text())
    finally:
        other.stop()


def test_a_play_reads_the_host_in_one_round_trip(host):
    """Reads of all a play's tasks are batched: a run with nothing to change costs one helper round
    trip per play (plus the probe); each change adds one."""
    from envdoctor.diagnosis.catalog import load_catalog
    from envdoctor.fixes.executor import run_playbook
    from envdoctor.fixes.playbook import find_playbook, load_playbook
    from envdoctor.fixes.session import OpenHost

    h = host.h
    target = Target(name=h.alias, hostname="127.0.0.1", port=h.port, user="root", identity_files=[str(h.client_key)])
    host.install_fake_systemctl()
    pb = load_playbook(find_playbook("memlock.yml"))
    oh = OpenHost(target, python=SYSTEM_PYTHON, known_hosts=h.known_hosts)
    try:
        session = oh.open(load_catalog(), no_torch=True)
        docker = {"manage_docker": True}
        first = run_playbook(pb, session, extra_vars=docker)
        # One read batch, one write per changed file (3), and each of the 2 handlers reads then acts.
        assert first.changed == 5 and session.remote.round_trips == 1 + 3 + 2 * 2
        session.remote.round_trips = 0
        again = run_playbook(pb, session, extra_vars=docker)
        assert again.changed == 0 and session.remote.round_trips == 1
        # The same for a playbook of seven imported plays: one round trip when there is nothing to do.
        onboard = load_playbook(find_playbook("onboard-node.yml"))
        run_playbook(onboard, session, extra_vars={"rebuild_initramfs": False, **docker})
        session.remote.round_trips = 0
        again = run_playbook(onboard, session, extra_vars={"rebuild_initramfs": False, **docker})
        assert again.changed == 0 and again.failed == 0 and session.remote.round_trips == 1
    finally:
        oh.close()


def test_play_with_inventory_and_limit(host, tmp_path):
    other = TestHost(tmp_path / "other", alias="other", isolated=True, client_key=host.h.client_key).start()
    try:
        cfg = tmp_path / "ssh_config"
        cfg.write_text(host.h.ssh_config_block() + other.ssh_config_block())
        kh = tmp_path / "known_hosts"
        kh.write_text(host.h.known_hosts_line() + other.known_hosts_line())
        inv = tmp_path / "hosts.ini"
        inv.write_text("# constructed: an Ansible INI inventory of the two test hosts\n[gpu]\nfixhost\nother\n")
        r = host.envdoctor("play", "shm.yml", "-i", str(inv), "--limit", "other", "-F", str(cfg), "--known-hosts",
                           str(kh), "--python", SYSTEM_PYTHON, "--no-torch", "--tags", "docker", "--json", *host.AS_DOCKER_HOST)
        hosts = [h["host"] for h in json.loads(r.stdout)["hosts"]]
        assert hosts == ["other"]
        assert other.root("etc/docker/daemon.json").exists()
        assert host.read("/etc/docker/daemon.json") is None
    finally:
        other.stop()
