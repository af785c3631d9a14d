"""The executor's control flow, playbook in and recap out, on a host held in memory (memory_host.py):
`when`, tags, handlers, check mode, failures, pending handlers, the lock and the recap's counts, with no
sshd and no root. What the changes do on a real host is tested in test_playbooks_on_hosts.py."""

from __future__ import annotations

import sys

import pytest

from envdoctor.fixes.executor import HandlerQueue, HostRecap, run_handlers, run_playbook
from envdoctor.fixes.ops import ExecOp, StatOp, WriteOp
from envdoctor.fixes.playbook import load_playbook
from envdoctor.fixes.remote import Remote, release
from envdoctor.hosts.transport.local import LocalTransport
from envdoctor.models import CheckResult, Status
from tests.fixes.memory_host import Answer, MemoryHost


def run(tmp_path, text: str, host: MemoryHost, *, results: dict | None = None, groups=(), name="pb.yml",
        **kw) -> HostRecap:
    """Run the playbook `text` (constructed) on `host`, whose checks had `results` ({id: status})."""
    path = tmp_path / name
    path.write_text(text)
    checks = [CheckResult(id=i, title=i, status=Status(s), summary="constructed") for i, s in (results or {}).items()]
    session = host.session(results=checks, groups=list(groups))
    try:
        return run_playbook(load_playbook(path), session, **kw)
    finally:
        release(session.remote)  # as closing the host does: the play lock goes back


def statuses(recap: HostRecap) -> list[tuple[str, str]]:
    return [(t.task, t.status) for t in recap.tasks]


def counts(recap: HostRecap) -> dict:
    d = recap.to_json()
    return {k: d[k] for k in ("ok", "changed", "failed", "skipped", "unreachable", "ignored")}


# -- when -------------------------------------------------------------------------------------------------

WHEN = """# constructed: tasks guarded by check results and variables
- name: guarded
  vars: {size: 8G}
  tasks:
    - name: only when shm fails
      when: check.shm_size == "fail"
      lineinfile: {path: /etc/shm.conf, line: "size={{ size }}"}
    - name: only when memlock fails
      when: ['check.memlock_limit in ["fail", "warn"]', size == "8G"]
      lineinfile: {path: /etc/memlock.conf, line: "memlock=unlimited"}
"""


def test_when_runs_a_task_only_where_its_conditions_hold(tmp_path):
    host = MemoryHost()
    recap = run(tmp_path, WHEN, host, results={"shm_size": "fail", "memlock_limit": "pass"})
    assert statuses(recap) == [("only when shm fails", "changed"), ("only when memlock fails", "skipped")]
    assert host.files == {"/etc/shm.conf": "size=8G\n"}  # the variable rendered into the argument
    assert recap.tasks[1].msg.startswith("condition not met: "), recap.tasks[1].msg
    assert counts(recap) == {"ok": 1, "changed": 1, "failed": 0, "skipped": 1, "unreachable": 0, "ignored": 0}


def test_a_when_naming_what_is_not_defined_fails_the_task_and_stops_the_host(tmp_path):
    host = MemoryHost()
    recap = run(tmp_path, WHEN, host, results={"memlock_limit": "fail"})  # no shm_size result
    assert statuses(recap) == [("only when shm fails", "failed")]
    assert "shm_size" in recap.tasks[0].msg and "not defined" in recap.tasks[0].msg
    assert recap.error.startswith("only when shm fails: ")
    assert host.files == {}


def test_extra_vars_win_over_play_vars(tmp_path):
    host = MemoryHost()
    run(tmp_path, WHEN, host, results={"shm_size": "fail", "memlock_limit": "fail"}, extra_vars={"size": "16G"})
    assert host.files == {"/etc/shm.conf": "size=16G\n"}  # and size != "8G": the memlock task skipped


# -- tags -------------------------------------------------------------------------------------------------

TAGS = """# constructed: tagged tasks, and a play tag every task inherits
- name: tagged
  tags: [node]
  tasks:
    - name: docker part
      tags: [docker]
      command: {cmd: configure-docker}
    - name: host part
      tags: [host]
      command: {cmd: configure-host}
    - name: always part
      tags: [always]
      command: {cmd: log-run}
"""


@pytest.mark.parametrize("tags, skip_tags, ran", [
    (set(), set(), ["configure-docker", "configure-host", "log-run"]),
    ({"docker"}, set(), ["configure-docker", "log-run"]),
    ({"node"}, set(), ["configure-docker", "configure-host", "log-run"]),  # the play's tag
    ({"all"}, {"host"}, ["configure-docker", "log-run"]),
    ({"nothing-has-it"}, set(), ["log-run"]),
    (set(), {"always"}, ["configure-docker", "configure-host"]),
])
def test_tags_select_tasks_and_unselected_ones_leave_no_record(tmp_path, tags, skip_tags, ran):
    host = MemoryHost()
    recap = run(tmp_path, TAGS, host, tags=tags, skip_tags=skip_tags)
    assert host.ran == ran
    assert len(recap.tasks) == len(ran) and recap.changed == len(ran)


# -- handlers ---------------------------------------------------------------------------------------------

HANDLERS = """# constructed: two changes notify one handler, an unchanged task notifies another
- name: with handlers
  tasks:
    - name: first change
      copy: {path: /etc/a.conf, content: "a=1\\n"}
      notify: restart thing
    - name: second change
      copy: {path: /etc/b.conf, content: "b=1\\n"}
      notify: [restart thing, reload by topic]
    - name: already in place
      copy: {path: /etc/c.conf, content: "c=1\\n"}
      notify: never needed
  handlers:
    - name: restart thing
      command: {cmd: restart-thing}
    - name: never needed
      command: {cmd: never-run}
    - name: reload other
      listen: [reload by topic]
      command: {cmd: reload-other}
"""


def test_handlers_run_once_at_the_end_of_the_play_and_only_when_notified_by_a_change(tmp_path):
    host = MemoryHost(files={"/etc/c.conf": "c=1\n"})
    recap = run(tmp_path, HANDLERS, host)
    assert statuses(recap) == [("first change", "changed"), ("second change", "changed"),
                               ("already in place", "ok"), ("restart thing", "changed"), ("reload other", "changed")]
    assert [t.handler for t in recap.tasks] == [False, False, False, True, True]
    assert host.ran == ["restart-thing", "reload-other"]  # once each, after every task; `listen` answered
    assert host.pending == {}  # recorded before the changes, forgotten once run


def test_a_second_run_changes_nothing_and_runs_no_handler(tmp_path):
    host = MemoryHost(files={"/etc/c.conf": "c=1\n"})
    run(tmp_path, HANDLERS, host)
    host.ran.clear()
    again = run(tmp_path, HANDLERS, host)
    assert statuses(again) == [("first change", "ok"), ("second change", "ok"), ("already in place", "ok")]
    assert host.ran == [] and again.changed == 0


def test_a_failed_task_stops_the_host_before_its_handlers_which_stay_pending(tmp_path):
    text = HANDLERS.replace("      notify: never needed\n", "      notify: never needed\n"
                            "    - name: breaks\n      command: {cmd: broken-step}\n    - name: after it\n"
                            "      command: {cmd: not-reached}\n")
    host = MemoryHost(files={"/etc/c.conf": "c=1\n"}, answers={"broken-step": Answer(rc=2, stderr="constructed")})
    recap = run(tmp_path, text, host)
    assert statuses(recap)[-1] == ("breaks", "failed")
    assert "exit 2" in recap.tasks[-1].msg and recap.error.startswith("breaks: ")
    assert host.ran == ["broken-step"]  # no later task, no handler
    assert set(host.pending) == {"restart thing", "reload other"}  # the next play runs them
    assert (recap.failed, recap.changed) == (1, 2)


def test_handlers_left_pending_by_a_failed_run_are_run_by_the_next_one(tmp_path):
    # every file already in place: only the record on the host says the handler is still owed
    host = MemoryHost(files={"/etc/a.conf": "a=1\n", "/etc/b.conf": "b=1\n", "/etc/c.conf": "c=1\n"})
    host.pending = {"restart thing": {"name": "restart thing", "module": "command",
                                      "args": {"cmd": "restart-thing"}, "play": "with handlers"}}
    recap = run(tmp_path, HANDLERS, host)
    assert statuses(recap)[-1] == ("restart thing", "changed")
    assert "pending from an earlier run" in recap.tasks[-1].msg
    assert host.ran == ["restart-thing"] and host.pending == {}


def test_a_pending_handler_no_play_of_this_run_has_is_run_from_its_record(tmp_path):
    host = MemoryHost()
    host.pending = {"rebuild": {"name": "rebuild", "module": "command", "args": {"cmd": "rebuild-initramfs"},
                                "play": "an older playbook"}}
    recap = run(tmp_path, "# constructed\n- name: unrelated\n  tasks:\n    - name: noop\n"
                          "      copy: {path: /etc/x, content: x}\n", host)
    assert statuses(recap) == [("noop", "changed"), ("rebuild", "changed")]
    assert (recap.tasks[-1].play, host.ran, host.pending) == ("an older playbook", ["rebuild-initramfs"], {})


def test_a_pending_record_that_is_not_understood_is_a_failure_not_run(tmp_path):
    host = MemoryHost()
    host.pending = {"odd": {"name": "odd", "module": "no-such-module", "args": {}}}
    recap = run(tmp_path, "# constructed\n- name: p\n  tasks:\n    - name: t\n      copy: {path: /x, content: x}\n", host)
    assert statuses(recap)[-1] == ("odd", "failed") and "not understood" in recap.tasks[-1].msg
    assert host.ran == []


def test_handlers_queued_across_playbooks_run_once_after_all_of_them(tmp_path):
    """`envdoctor fix` applies one playbook per failed check: docker is restarted once, at the very end."""
    host = MemoryHost()
    session = host.session()
    queue, recap = HandlerQueue(), HostRecap(session.name)
    for i in (1, 2):
        path = tmp_path / f"pb{i}.yml"
        path.write_text(f"# constructed\n- name: play {i}\n  tasks:\n    - name: change {i}\n"
                        f"      copy: {{path: /etc/f{i}, content: '{i}'}}\n      notify: restart docker\n"
                        "  handlers:\n    - name: restart docker\n      command: {cmd: restart-docker}\n")
        run_playbook(load_playbook(path), session, recap=recap, handlers=queue)
        assert host.ran == []  # queued, not run at the end of the play
    run_handlers(queue, session, False, recap)
    assert host.ran == ["restart-docker"]
    assert statuses(recap) == [("change 1", "changed"), ("change 2", "changed"), ("restart docker", "changed")]


def test_queued_handlers_do_not_run_on_a_host_that_failed(tmp_path):
    host = MemoryHost(answers={"broken": Answer(rc=1)})
    session = host.session()
    queue, recap = HandlerQueue(), HostRecap(session.name)
    path = tmp_path / "pb.yml"
    path.write_text("# constructed\n- name: p\n  tasks:\n    - name: change\n      copy: {path: /etc/f, content: x}\n"
                    "      notify: restart docker\n    - name: breaks\n      command: {cmd: broken}\n"
                    "  handlers:\n    - name: restart docker\n      command: {cmd: restart-docker}\n")
    run_playbook(load_playbook(path), session, recap=recap, handlers=queue)
    run_handlers(queue, session, False, recap)
    assert host.ran == ["broken"] and statuses(recap) == [("change", "changed"), ("breaks", "failed")]
    assert set(host.pending) == {"restart docker"}


# -- check mode -------------------------------------------------------------------------------------------

def test_check_mode_changes_nothing_and_says_what_would_change(tmp_path):
    host = MemoryHost(files={"/etc/c.conf": "c=1\n", "/etc/a.conf": "a=0\n"})
    before = dict(host.files)
    recap = run(tmp_path, HANDLERS, host, check=True)
    assert host.files == before and host.ran == [] and host.pending == {}
    assert host.lock_holder is None and not any(op["op"] == "lock" for ops in host.requests for op in ops)
    assert statuses(recap) == [("first change", "changed"), ("second change", "changed"),
                               ("already in place", "ok"), ("restart thing", "changed"), ("reload other", "changed")]
    assert all(t.msg.startswith("(check mode) would change") for t in recap.tasks if t.status == "changed")
    diff = recap.tasks[0].to_json()["diffs"][0]
    assert diff["path"] == "/etc/a.conf" and "-a=0" in diff["diff"] and "+a=1" in diff["diff"]


def test_check_mode_shows_handlers_pending_from_an_earlier_run_and_keeps_them(tmp_path):
    host = MemoryHost(files={"/etc/a.conf": "a=1\n", "/etc/b.conf": "b=1\n", "/etc/c.conf": "c=1\n"})
    host.pending = {"restart thing": {"name": "restart thing", "module": "command", "args": {"cmd": "restart-thing"}}}
    recap = run(tmp_path, HANDLERS, host, check=True)
    assert statuses(recap)[-1] == ("restart thing", "changed")
    assert "pending from an earlier run" in recap.tasks[-1].msg
    assert host.ran == [] and set(host.pending) == {"restart thing"}


def test_in_check_mode_a_handler_that_cannot_be_planned_is_skipped_not_failed(tmp_path):
    text = ("# constructed\n- name: p\n  tasks:\n    - name: change\n      copy: {path: /etc/x, content: x}\n"
            "      notify: verify\n  handlers:\n    - name: verify\n      fail: {msg: 'state unknown before the change'}\n")
    recap = run(tmp_path, text, MemoryHost(), check=True)
    assert statuses(recap) == [("change", "changed"), ("verify", "skipped")]
    assert recap.tasks[-1].msg.startswith("(check mode) would not run as things are now")
    recap = run(tmp_path, text, MemoryHost())
    assert statuses(recap) == [("change", "changed"), ("verify", "failed")]
    assert recap.error.startswith("handler verify: ")


# -- failures ---------------------------------------------------------------------------------------------

FAILING = """# constructed: a failure that is ignored, a refusal guarded by when, and a task after them
- name: failures
  tasks:
    - name: may fail
      command: {cmd: flaky}
      ignore_errors: true
    - name: refuse on a login without a key
      when: check.security_sshd == "fail"
      fail: {msg: "no authorized key for the login user: refusing to lock it out"}
    - name: last
      copy: {path: /etc/last, content: done}
"""


def test_an_ignored_failure_is_counted_as_ignored_and_the_play_goes_on(tmp_path):
    host = MemoryHost(answers={"flaky": Answer(rc=1, stdout="constructed failure")})
    recap = run(tmp_path, FAILING, host, results={"security_sshd": "pass"})
    assert statuses(recap) == [("may fail", "failed"), ("refuse on a login without a key", "skipped"),
                               ("last", "changed")]
    assert recap.tasks[0].ignored and "constructed failure" in recap.tasks[0].msg
    assert counts(recap) == {"ok": 1, "changed": 1, "failed": 0, "skipped": 1, "unreachable": 0, "ignored": 1}
    assert recap.error is None


def test_a_fail_task_stops_the_host_with_its_message(tmp_path):
    host = MemoryHost()
    recap = run(tmp_path, FAILING, host, results={"security_sshd": "fail"})
    assert statuses(recap)[-1] == ("refuse on a login without a key", "failed")
    assert recap.error == "refuse on a login without a key: no authorized key for the login user: refusing to lock it out"
    assert "/etc/last" not in host.files


def test_a_task_that_needs_root_fails_on_a_login_that_is_not_root(tmp_path):
    text = ("# constructed\n- name: p\n  become: true\n  tasks:\n    - name: root only\n"
            "      copy: {path: /etc/x, content: x}\n")
    host = MemoryHost(uid=1000)
    recap = run(tmp_path, text, host)
    assert statuses(recap) == [("root only", "failed")]
    assert "needs root" in recap.tasks[0].msg and "--become" in recap.tasks[0].msg and host.files == {}
    assert statuses(run(tmp_path, text, MemoryHost(uid=0))) == [("root only", "changed")]


def test_a_file_changed_since_it_was_read_is_not_written_over(tmp_path):
    host = MemoryHost(files={"/etc/x": "old\n"})
    text = "# constructed\n- name: p\n  tasks:\n    - name: edit\n      lineinfile: {path: /etc/x, line: new}\n"
    real_write = host.op_write

    def someone_else_wrote_first(op):
        host.files["/etc/x"] = "another admin\n"
        return real_write(op)

    host.op_write = someone_else_wrote_first
    recap = run(tmp_path, text, host)
    assert statuses(recap) == [("edit", "failed")] and "changed since it was read" in recap.tasks[0].msg
    assert host.files["/etc/x"] == "another admin\n"


def test_an_unreachable_host_is_counted_unreachable(tmp_path):
    host = MemoryHost(unreachable_from=0)
    recap = run(tmp_path, HANDLERS, host)
    assert statuses(recap) == [("(read state)", "unreachable")]
    assert recap.unreachable == 1 and "connection refused" in recap.error
    session = host.session()
    session.remote, session.error = None, "auth-failed: constructed"  # could not be opened at all
    path = tmp_path / "pb.yml"
    recap = run_playbook(load_playbook(path), session)
    assert (recap.unreachable, recap.error, recap.tasks) == (1, "auth-failed: constructed", [])


def test_a_host_lost_in_the_middle_stops_there_and_runs_no_handler(tmp_path):
    host = MemoryHost(unreachable_from=2)  # the reads and the first change get through
    recap = run(tmp_path, HANDLERS, host)
    assert statuses(recap) == [("first change", "changed"), ("second change", "unreachable")]
    assert recap.error.startswith("second change: ") and host.ran == []


def test_a_helper_that_answers_no_json_fails_the_host(tmp_path):
    recap = run(tmp_path, HANDLERS, MemoryHost(garbage_from=0))
    assert statuses(recap) == [("(read state)", "failed")]
    assert "the fix helper failed (exit 1)" in recap.error


def test_a_host_locked_by_another_run_is_left_alone(tmp_path):
    host = MemoryHost(lock_holder="another run's token")
    recap = run(tmp_path, HANDLERS, host)
    assert statuses(recap) == [("(lock host)", "failed")] and "another envdoctor run" in recap.error
    assert host.files == {} and host.ran == []
    assert statuses(run(tmp_path, HANDLERS, host, check=True))[0] == ("first change", "changed")  # reads need no lock


def test_a_play_variable_that_cannot_be_rendered_stops_the_host(tmp_path):
    text = ("# constructed\n- name: p\n  vars: {where: '{{ no_such_var }}'}\n  tasks:\n    - name: t\n"
            "      copy: {path: /etc/x, content: x}\n")
    host = MemoryHost()
    recap = run(tmp_path, text, host)
    assert statuses(recap) == [("(play vars)", "failed")] and "no_such_var" in recap.error and host.files == {}


def test_an_argument_that_renders_to_a_wrong_value_fails_the_task_naming_it(tmp_path):
    text = ("# constructed\n- name: p\n  tasks:\n    - name: t\n"
            "      copy: {path: /etc/x, content: x, mode: '{{ file_mode }}'}\n")
    recap = run(tmp_path, text, MemoryHost(), extra_vars={"file_mode": "rw-r--r--"})
    assert statuses(recap) == [("t", "failed")]
    assert "mode" in recap.tasks[0].msg and "octal" in recap.tasks[0].msg


# -- plays, reads, recap ----------------------------------------------------------------------------------

def test_plays_apply_to_the_hosts_and_groups_they_name(tmp_path):
    text = ("# constructed\n- name: gpu nodes\n  hosts: gpu*,login\n  tasks:\n    - name: a\n      command: {cmd: a}\n"
            "- name: workers\n  hosts: workers\n  tasks:\n    - name: b\n      command: {cmd: b}\n")
    host = MemoryHost()
    recap = run(tmp_path, text, host, groups=["workers"])
    assert (statuses(recap), host.ran) == ([("b", "changed")], ["b"])


def test_every_task_reads_the_host_in_one_round_trip(tmp_path):
    """Nothing to change: one round trip for the whole play, whatever the number of tasks."""
    host = MemoryHost(files={"/etc/a.conf": "a=1\n", "/etc/b.conf": "b=1\n", "/etc/c.conf": "c=1\n"})
    recap = run(tmp_path, HANDLERS, host)
    assert [t.status for t in recap.tasks] == ["ok"] * 3
    assert [[op["op"] for op in ops] for ops in host.requests] == [
        ["lock", "pending", "which", "stat", "stat", "stat"], ["unlock"]]  # the unlock: closing the host


def test_a_command_that_changed_the_host_makes_later_tasks_read_it_again(tmp_path):
    text = ("# constructed\n- name: p\n  tasks:\n    - name: generate\n      command: {cmd: generate-conf}\n"
            "    - name: edit\n      lineinfile: {path: /etc/gen.conf, line: 'x=1'}\n")
    host = MemoryHost(answers={"generate-conf": Answer(effect=lambda h: h.files.update({"/etc/gen.conf": "x=1\n"}))})
    recap = run(tmp_path, text, host)
    assert statuses(recap) == [("generate", "changed"), ("edit", "ok")]  # not a plan made on the old state


def test_a_guarded_command_is_skipped_and_a_replaced_file_names_its_backup(tmp_path):
    text = ("# constructed\n- name: p\n  tasks:\n    - name: install\n      command: {cmd: install-it, creates: /opt/done}\n"
            "    - name: config\n      copy: {path: /etc/x, content: \"new\\n\"}\n")
    host = MemoryHost(files={"/opt/done": "", "/etc/x": "old\n"})
    recap = run(tmp_path, text, host)
    assert statuses(recap) == [("install", "skipped"), ("config", "changed")] and host.ran == []
    assert "/opt/done exists" in recap.tasks[0].msg
    assert recap.tasks[1].msg.endswith("(previous content kept as /etc/x.envdoctor-backup-1)")
    assert host.files["/etc/x.envdoctor-backup-1"] == "old\n"


def test_each_record_is_emitted_as_it_happens(tmp_path):
    seen = []
    recap = run(tmp_path, HANDLERS, MemoryHost(), emit=seen.append)
    assert seen == recap.tasks and len(seen) == 6  # three changes, three handlers


def test_the_recap_in_json_names_each_task_with_its_play_and_place(tmp_path):
    recap = run(tmp_path, FAILING, MemoryHost(answers={"flaky": Answer(rc=1)}), results={"security_sshd": "pass"})
    doc = recap.to_json()
    assert doc["host"] == "memhost" and doc["ignored"] == 1
    first = doc["tasks"][0]
    assert (first["play"], first["module"], first["ignored"]) == ("failures", "command", True)
    assert first["where"].endswith("pb.yml:4")  # the task's line


# -- the stand-in itself ----------------------------------------------------------------------------------

def test_memory_host_matches_the_helper(tmp_path):
    """The ops the tests above lean on, answered by the real helper on this machine (in a temporary
    directory: no lock and no pending record, which live in the helper's state directory) and by the
    stand-in: the same fields and the same values where they do not depend on the machine."""
    path = str(tmp_path / "f.conf")
    sha_of_old = __import__("hashlib").sha256(b"old\n").hexdigest()

    def ops():
        return [StatOp(path=path, read=True),
                WriteOp(path=path, content_b64="b2xkCg==", expect_sha256=None),
                StatOp(path=path, read=True),
                WriteOp(path=path, content_b64="bmV3Cg==", expect_sha256=sha_of_old),
                ExecOp(shell="exit 3", timeout=60),
                ExecOp(shell="true", timeout=60, stop_on_failure=True),
                WriteOp(path=path, content_b64="eAo=", expect_sha256="0" * 64)]

    real = Remote(LocalTransport(), python=sys.executable).call(ops())
    fake = MemoryHost(answers={"exit 3": Answer(rc=3)}).session().remote.call(ops())
    assert [type(r) for r in fake] == [type(r) for r in real]
    answered = [r.model_dump(exclude_unset=True) for r in real], [r.model_dump(exclude_unset=True) for r in fake]
    assert [sorted(r) for r in answered[1]] == [sorted(r) for r in answered[0]]
    same = lambda r: {k: v for k, v in r.items() if k not in ("backup", "stderr", "uid", "gid")}  # noqa: E731
    assert [same(r) for r in answered[1][:5]] == [same(r) for r in answered[0][:5]]
    assert real[6].error.endswith("changed since it was read; nothing written (run again)")
    assert fake[6].error == real[6].error
