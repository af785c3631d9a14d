"""Fixes that are really in effect, over SSH on isolated test hosts: handlers that an interrupted or
failed run did not run are recorded on the target and run by the next play (and shown by --check);
one play at a time per host; no false success on files that cannot be read; no backup pile-up."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.fixes.conftest import ROOT, can_run_hosts
from tests.support.testhost import SYSTEM_PYTHON

pytestmark = pytest.mark.skipif(not can_run_hosts(), reason="needs root, openssh-server and /usr/bin/python3")

PENDING = "var/lib/envdoctor/pending-handlers.json"


def handlers(recap):
    return {t["task"]: t for t in recap["tasks"] if t["handler"]}


def test_a_failed_handler_is_pending_shown_by_check_and_run_by_the_next_play(host):
    host.install_fake_systemctl()
    host.sh("mkdir -p /etc/fake-systemd-fail && touch /etc/fake-systemd-fail/daemon-reexec")
    rc, first, r = host.play("memlock.yml")
    assert rc == 1 and handlers(first)["reexec systemd"]["status"] == "failed", r.stdout
    assert "restart docker" not in handlers(first)  # a failed host runs no more handlers
    pending = json.loads(host.h.root(PENDING).read_text())
    assert set(pending) == {"reexec systemd", "restart docker"}
    # The files are in place now: without the record, the next run would report ok and never reexec.
    rc, plan, r = host.play("memlock.yml", "--check")
    assert rc == 0 and plan["failed"] == 0
    shown = handlers(plan)
    assert shown["reexec systemd"]["status"] == "changed"
    assert "pending from an earlier run" in shown["reexec systemd"]["msg"]
    assert "pending from an earlier run" in shown["restart docker"]["msg"]
    assert json.loads(host.h.root(PENDING).read_text()) == pending  # check mode changed nothing
    host.sh("rm /etc/fake-systemd-fail/daemon-reexec")
    rc, again, r = host.play("memlock.yml")
    assert rc == 0 and again["failed"] == 0, r.stdout
    assert [t["status"] for t in again["tasks"] if not t["handler"] and t["module"] != "manual"] == ["ok"] * 3
    assert {n: t["status"] for n, t in handlers(again).items()} == {"reexec systemd": "changed",
                                                                     "restart docker": "changed"}
    assert json.loads(host.h.root(PENDING).read_text()) == {}
    assert host.systemctl_log().count("daemon-reexec") == 1 and host.systemctl_log().count("restart docker") == 1
    rc, last, _ = host.play("memlock.yml")
    assert rc == 0 and last["changed"] == 0 and not handlers(last)


def test_a_run_killed_between_the_write_and_its_handler_is_finished_by_the_next_play(host, tmp_path):
    host.install_fake_systemctl()
    pb = tmp_path / "slow.yml"
    pb.write_text("""# constructed: a change, then a step that waits for the test, during which the run is killed
- name: slow
  tasks:
    - name: the change
      copy: {path: /etc/envdoctor-t/conf, content: "x=1\\n", create_parents: true}
      notify: restart thing
    - name: slow step
      command: {cmd: "while [ ! -e /etc/envdoctor-t/go ]; do sleep 0.1; done", timeout: 120}
  handlers:
    - name: restart thing
      service: {name: thing, state: restarted}
""")
    proc = subprocess.Popen([sys.executable, "-m", "envdoctor", "play", str(pb), *host.args()], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while not host.h.root("etc/envdoctor-t/conf").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert host.h.root("etc/envdoctor-t/conf").exists(), "the first run never made its change"
    os.killpg(proc.pid, signal.SIGKILL)  # the play our test started, by its id
    proc.wait(30)
    host.sh("touch /etc/envdoctor-t/go")  # the killed run's step on the target ends; the next run's passes
    assert "restart thing" in json.loads(host.h.root(PENDING).read_text())
    assert "restart thing" not in host.systemctl_log()
    # The killed run's lock is left behind, naming a connection that is gone: the next run takes it.
    assert host.h.root("var/lib/envdoctor/play.lock").exists()
    rc, again, r = host.play(str(pb))
    assert rc == 0, r.stdout
    assert again["tasks"][0]["status"] == "ok"  # the file was already in place
    assert handlers(again)["restart thing"]["status"] == "changed"
    assert host.systemctl_log().count("restart thing") == 1


def test_two_concurrent_plays_on_one_file_both_changes_survive(host, tmp_path):
    host.sh("mkdir -p /etc/envdoctor-t && echo '{\"site\": true}' > /etc/envdoctor-t/conf.json")
    books = []
    for key in ("a", "b"):
        pb = tmp_path / f"{key}.yml"
        pb.write_text(f"""# constructed: one key of a shared JSON file, then a pause that keeps the play going
- name: key {key}
  tasks:
    - name: set {key}
      json_merge: {{path: /etc/envdoctor-t/conf.json, data: {{{key}: 1}}}}
    - name: pause
      command: {{cmd: "sleep 2"}}
""")
        books.append(pb)
    procs = []
    for pb in books:
        procs.append(subprocess.Popen([sys.executable, "-m", "envdoctor", "play", str(pb), *host.args(), "--json"],
                                      cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outs = [p.communicate(timeout=240) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, out + err
        assert json.loads(out)["hosts"][0]["failed"] == 0
    assert json.loads(host.read("/etc/envdoctor-t/conf.json")) == {"site": True, "a": 1, "b": 1}


def _as_user(host, tmp_path, name="alice"):
    host.h.add_user(name, "Pw-4711-alice", sudo=False)
    cfg = tmp_path / "ssh_config_user"
    cfg.write_text(host.h.ssh_config_block().replace("User root", f"User {name}"))
    return [host.name, "-F", str(cfg), "--known-hosts", str(host.h.known_hosts), "--python", SYSTEM_PYTHON,
            "--no-torch"]


def test_absent_on_a_file_that_cannot_be_read_or_stated_is_a_failure_naming_it(host, tmp_path):
    host.sh("mkdir -p /etc/envdoctor-t/closed && printf 'secret=1\\n' > /etc/envdoctor-t/unreadable && "
            "chmod 600 /etc/envdoctor-t/unreadable && printf 'x=1\\n' > /etc/envdoctor-t/closed/conf && "
            "chmod 700 /etc/envdoctor-t/closed")
    args = _as_user(host, tmp_path)
    for path in ("/etc/envdoctor-t/unreadable", "/etc/envdoctor-t/closed/conf"):
        for module in ("lineinfile: {path: %s, line: 'secret=1', state: absent}",
                       "blockinfile: {path: %s, state: absent}", "lineinfile: {path: %s, line: 'y=2'}"):
            pb = tmp_path / "pb.yml"
            pb.write_text(f"# constructed: a file this user cannot read\n- name: t\n  tasks:\n"
                          f"    - name: edit\n      {module % path}\n")
            r = host.envdoctor("play", str(pb), *args, "--json")
            recap = json.loads(r.stdout)["hosts"][0]
            assert r.returncode == 1 and recap["failed"] == 1, (module, r.stdout)
            msg = recap["tasks"][0]["msg"]
            assert path in msg and "Permission denied" in msg, msg
    assert host.read("/etc/envdoctor-t/unreadable") == "secret=1\n"


def test_a_failed_write_leaves_no_new_backup_each_try(host, tmp_path):
    # constructed: a sticky, world-writable directory (like /tmp) holding root's file: this user may
    # create the temp file and the backup there, but not rename over root's file.
    host.sh("mkdir -p /etc/envdoctor-sticky && chmod 1777 /etc/envdoctor-sticky && "
            "printf 'a=1\\n' > /etc/envdoctor-sticky/conf && chmod 644 /etc/envdoctor-sticky/conf")
    args = _as_user(host, tmp_path)
    pb = tmp_path / "pb.yml"
    pb.write_text("# constructed\n- name: t\n  tasks:\n    - name: edit\n"
                  "      lineinfile: {path: /etc/envdoctor-sticky/conf, line: 'b=2'}\n")
    for _ in range(3):
        r = host.envdoctor("play", str(pb), *args, "--json")
        recap = json.loads(r.stdout)["hosts"][0]
        assert r.returncode == 1 and "/etc/envdoctor-sticky/conf" in recap["tasks"][0]["msg"], r.stdout
    left = host.sh("ls -a /etc/envdoctor-sticky").split()
    assert [n for n in left if n not in (".", "..")] == ["conf"], left  # no backups, no temp files
    assert host.read("/etc/envdoctor-sticky/conf") == "a=1\n"
