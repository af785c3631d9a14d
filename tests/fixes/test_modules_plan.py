"""Module plans are pure functions of the host's state (the helper's `stat`/`exec` results): tested
here without a host. The states below are constructed in the shape the helper returns."""

import base64
import hashlib
import json

from envdoctor.facts import HostFacts
from envdoctor.facts.torch import CudaToolkit
from envdoctor.fixes.derived import cuda_toolkit_for_driver, cuda_uses_alternatives
from envdoctor.fixes.modules import MODULES
from envdoctor.fixes.modules.mount import options_differ
from envdoctor.fixes.ops import result_of


def file_state(text: str | None, mode: int = 0o644) -> dict:
    if text is None:
        return {"exists": False}
    data = text.encode()
    return {"exists": True, "type": "file", "mode": mode, "uid": 0, "gid": 0, "owner": "root", "group": "root",
            "size": len(data), "content_b64": base64.b64encode(data).decode(), "sha256": hashlib.sha256(data).hexdigest()}


def plan(module: str, args: dict, state: list[dict]):
    """The module's plan from the helper's answers (`state`: one dict per read op, as the wire has them)."""
    m = MODULES[module]
    a = m.Args.model_validate(args)
    return m.plan(a, [result_of(op, raw) for op, raw in zip(m.reads(a), state)])


def test_json_merge_keeps_every_key_and_is_idempotent():
    # constructed: a daemon.json with settings of its own
    before = json.dumps({"log-driver": "journald", "runtimes": {"runc": {"path": "runc"}}, "data-root": "/d"})
    p = plan("json_merge", {"path": "/etc/docker/daemon.json", "data": {"runtimes": {"nvidia": {"path": "x"}}}},
             [file_state(before)])
    assert p.changed and not p.failed
    after = json.loads(base64.b64decode(p.ops[0].content_b64))
    assert after == {"log-driver": "journald", "runtimes": {"runc": {"path": "runc"}, "nvidia": {"path": "x"}},
                     "data-root": "/d"}
    assert p.ops[0].expect_sha256 == hashlib.sha256(before.encode()).hexdigest()  # refuses a racing edit
    again = plan("json_merge", {"path": "/etc/docker/daemon.json", "data": {"runtimes": {"nvidia": {"path": "x"}}}},
                 [file_state(json.dumps(after))])
    assert not again.changed and not again.ops


def test_json_merge_refuses_a_file_that_does_not_parse():
    p = plan("json_merge", {"path": "/etc/docker/daemon.json", "data": {"a": 1}}, [file_state('{"a": 1,,}')])
    assert p.failed and "not valid JSON" in p.failed and "left untouched" in p.failed and not p.ops
    p = plan("json_merge", {"path": "/etc/docker/daemon.json", "data": {"a": 1}}, [file_state("[1, 2]")])
    assert p.failed and "not an object" in p.failed


def test_lineinfile_replaces_the_matching_line_once():
    args = {"path": "/etc/x.conf", "line": "size=8G", "regexp": "^size="}
    p = plan("lineinfile", args, [file_state("a=1\nsize=1G\nb=2\n")])
    assert base64.b64decode(p.ops[0].content_b64).decode() == "a=1\nsize=8G\nb=2\n"
    assert "-size=1G" in p.diffs[0].unified() and "+size=8G" in p.diffs[0].unified()
    assert not plan("lineinfile", args, [file_state("a=1\nsize=8G\nb=2")]).changed  # no final newline: untouched


def test_blockinfile_replaces_its_block():
    args = {"path": "/etc/x", "block": "one\ntwo"}
    first = plan("blockinfile", args, [file_state("keep\n")])
    text = base64.b64decode(first.ops[0].content_b64).decode()
    assert text.startswith("keep\n# BEGIN ENVDOCTOR MANAGED BLOCK\none\ntwo\n# END")
    assert not plan("blockinfile", args, [file_state(text)]).changed
    changed = plan("blockinfile", {"path": "/etc/x", "block": "three"}, [file_state(text)])
    assert base64.b64decode(changed.ops[0].content_b64).decode().count("BEGIN") == 1


def test_copy_only_mode_differs_changes_attributes_not_content():
    p = plan("copy", {"path": "/etc/x", "content": "a\n", "mode": "0600"}, [file_state("a\n", 0o644)])
    assert p.changed and p.ops[0].op == "attrs" and p.ops[0].mode == 0o600


def test_symlink_refuses_a_directory_and_is_idempotent():
    link = {"exists": True, "type": "link", "link_target": "/usr/local/cuda-12.4"}
    target = {"exists": True, "type": "dir"}
    assert not plan("symlink", {"path": "/usr/local/cuda", "target": "/usr/local/cuda-12.4"}, [link, target]).changed
    p = plan("symlink", {"path": "/usr/local/cuda", "target": "/usr/local/cuda-12.1"}, [link, target])
    assert p.changed and "-> /usr/local/cuda-12.4" in p.diffs[0].unified()
    assert plan("symlink", {"path": "/usr/local/cuda", "target": "/x"}, [{"exists": True, "type": "dir"}, target]).failed
    assert plan("symlink", {"path": "/usr/local/cuda", "target": "/x"}, [link, {"exists": False}]).failed


def test_command_guards():
    assert plan("command", {"cmd": "x", "creates": "/a"}, [{"exists": True}]).skipped
    assert plan("command", {"cmd": "x", "unless": "true"}, [{"rc": 0}]).skipped
    assert plan("command", {"cmd": "x", "unless": "false"}, [{"rc": 1}]).changed


def test_service_without_systemd_is_skipped_with_the_manual_step():
    # constructed: what `systemctl is-system-running` says where systemd is not PID 1
    offline = {"rc": 1, "stdout": "offline\n", "stderr": ""}
    p = plan("service", {"name": "docker", "state": "restarted"}, [offline, {}, {}])
    assert not p.changed and not p.failed
    assert "systemd is not running" in p.skipped and "manual step: `service docker restart`" in p.skipped
    p = plan("service", {"name": "docker", "state": "restarted"}, [{"not_found": True}, {}, {}])
    assert p.skipped.startswith("no systemctl on this host") and not p.failed
    p = plan("service", {"daemon_reexec": True}, [offline])
    assert "reboot" in p.skipped


def test_package_manager_detected():
    p = plan("package", {"name": ["a", "b"]}, [{"rc": 0, "stdout": "manager=dnf\na yes\nb no\n"}])
    assert p.changed and p.ops[0].argv == ["dnf", "install", "-y", "b"]
    p = plan("package", {"name": "a"}, [{"rc": 0, "stdout": "manager=apt\na yes\n"}])
    assert not p.changed


def test_mount_options_compare_sizes_in_bytes():
    mem = 64 << 30
    assert options_differ("rw,nosuid,nodev,size=50%", "rw,nosuid,nodev,size=33554432k", mem) == []
    assert options_differ("rw,size=8g", "rw,size=65536k", mem) == ["size=8g"]
    assert options_differ("defaults,size=64m", "rw,relatime,size=65536k", mem) == []
    # regression: a tmpfs at its default size (half of RAM) shows no size= at all; it was remounted on every run
    assert options_differ("rw,nosuid,nodev,size=50%", "rw,nosuid,nodev,relatime", mem) == []


def test_cuda_toolkit_for_driver():
    f = HostFacts()
    f.gpu.cuda_driver_version = "12.4"
    f.cuda_env.toolkits = [CudaToolkit(path="/usr/local/cuda-11.8", version="11.8.89"),
                           CudaToolkit(path="/usr/local/cuda-12.4", version="12.4.1"),
                           CudaToolkit(path="/usr/local/cuda-12.6", version="12.6.0"),
                           CudaToolkit(path="/usr/local/cuda", is_link=True, link_target="/etc/alternatives/cuda")]
    assert cuda_toolkit_for_driver(f) == "/usr/local/cuda-12.4"
    assert cuda_uses_alternatives(f)
    f.gpu.cuda_driver_version = None  # driver unknown: no choice made
    assert cuda_toolkit_for_driver(f) is None


def test_a_file_that_is_not_utf8_is_never_rewritten():
    # Review regression: bytes that are not UTF-8 were read with replacement characters and written back
    # altered. Constructed: an fstab comment in Latin-1 ("é" as the single byte 0xE9).
    data = b"# mont\xe9 par l'admin\nUUID=1 / ext4 defaults 0 1\n"
    st = {**file_state("x"), "size": len(data), "content_b64": base64.b64encode(data).decode(),
          "sha256": hashlib.sha256(data).hexdigest()}
    p = plan("lineinfile", {"path": "/etc/fstab", "line": "tmpfs /dev/shm tmpfs defaults,size=8G 0 0"}, [st])
    assert p.failed and "not UTF-8" in p.failed and not p.ops


def test_lineinfile_and_blockinfile_on_a_missing_file():
    for module, extra in (("lineinfile", {"line": "a"}), ("blockinfile", {"block": "a"})):
        args = {"path": "/etc/new.conf", **extra}
        created = plan(module, args, [file_state(None)])
        assert created.changed and created.ops[0].op == "write" and "(new file)" in created.msg
        refused = plan(module, {**args, "create": False}, [file_state(None)])
        assert refused.failed and "create: false" in refused.failed and not refused.ops
        gone = plan(module, {**args, "state": "absent"}, [file_state(None)])
        assert not gone.changed and not gone.failed and "nothing to remove" in gone.msg
