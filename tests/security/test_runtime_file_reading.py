"""The probe reads a Jupyter server's runtime file from a path the server's user controls (its
environment), possibly as root: only a regular file owned by that user, never through a link."""

import json
import os
import subprocess
import sys

import pytest

from envdoctor.probe.script import security_jupyter


@pytest.fixture
def server(tmp_path):
    """A real process standing in for a Jupyter server: what the probe reads is its environment."""
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "JUPYTER_RUNTIME_DIR": str(runtime)}
    p = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE, env=env)
    try:
        yield p.pid, runtime / f"jpserver-{p.pid}.json"
    finally:
        p.stdin.close()
        p.wait(timeout=60)


def _row(pid):
    # constructed: the fields a jpserver-PID.json holds
    return {"pid": pid, "port": 8888, "token": "abc", "url": "http://localhost:8888/?token=abc"}


def test_own_regular_file_is_read(server):
    pid, path = server
    path.write_text(json.dumps(_row(pid)))
    row = security_jupyter._sec_runtime_file(pid)
    assert row is not None and row["listed_by"] == f"runtime file jpserver-{pid}.json"
    assert row["port"] == 8888 and row["token"] == "<redacted>" and "abc" not in row["url"]


def test_symlink_to_another_file_is_not_followed(server, tmp_path):
    pid, path = server
    target = tmp_path / "root-only.json"
    target.write_text(json.dumps({**_row(pid), "private_setting": "not for the report"}))
    path.symlink_to(target)
    assert security_jupyter._sec_runtime_file(pid) is None


def test_file_of_another_user_is_not_read(server):
    pid, path = server
    path.write_text(json.dumps(_row(pid)))
    os.chown(path, 65534, 65534)  # inside the test's own directory
    if os.stat(path).st_uid == os.getuid():
        pytest.skip("cannot give the file to another user here")
    assert security_jupyter._sec_runtime_file(pid) is None


def test_a_fifo_is_not_read(server):
    pid, path = server
    os.mkfifo(path)
    assert security_jupyter._sec_runtime_file(pid) is None  # returns at once: O_NONBLOCK, then not a regular file
