"""One way to run a command on a target (envdoctor/probe/script/process_group.py), shared by the probe and the
fix helper: a command that runs past its timeout is killed with its whole process group, so no child of a shell
pipeline goes on running on the target. The pipeline's child writes its own pid; the test polls /proc until it
is gone."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
import time
from pathlib import Path

from envdoctor.fixes.remote import HELPER_SOURCE
from envdoctor.probe import SOURCE as PROBE_SOURCE
from envdoctor.probe.script.process_group import kill_group, run_command
from tests.support.sent_scripts import sent_probe


def _pipeline(pidfile: Path) -> str:
    """A shell pipeline whose first command writes its pid, then sleeps for ten minutes."""
    child = "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(600)"
    return f"{sys.executable} -c \"{child}\" {pidfile} | cat"


def _alive(pid: int, marker: str) -> bool:
    """The process is running (not gone, not a zombie) and is still ours (its command line names `marker`)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X") and marker in cmdline


def _child_pid_after_timeout(run, pidfile: Path) -> int:
    """Run the pipeline through `run(shell_line, timeout)` until its child started before the timeout
    (a longer timeout each try, so a slow machine needs more tries, not luck); the child's pid."""
    for timeout in (2, 8, 30):
        pidfile.unlink(missing_ok=True)
        assert run(_pipeline(pidfile), timeout), "the pipeline was expected to time out"
        if pidfile.exists() and pidfile.read_text():
            return int(pidfile.read_text())
    raise AssertionError("the pipeline's child never started")


def _assert_exits(pid: int, marker: str) -> None:
    deadline = time.monotonic() + 30
    while _alive(pid, marker):
        assert time.monotonic() < deadline, f"pid {pid}, a child of the timed-out pipeline, is still running"
        time.sleep(0.05)  # polling a condition: the SIGKILL was sent before run_command returned


def test_a_timed_out_pipeline_leaves_no_child_running(tmp_path):
    pidfile = tmp_path / "child.pid"

    def run(line: str, timeout: float) -> bool:
        rc, _, _, timed_out = run_command(["sh", "-c", line], timeout)
        return timed_out and rc is None

    _assert_exits(_child_pid_after_timeout(run, pidfile), str(pidfile))


def test_the_fix_helper_as_sent_kills_a_timed_out_pipeline_whole(tmp_path):
    pidfile = tmp_path / "child.pid"

    def run(line: str, timeout: float) -> bool:
        req = {"ops": [{"op": "exec", "shell": line, "timeout": timeout}]}
        p = subprocess.run([sys.executable, "-c", HELPER_SOURCE], input=json.dumps(req), capture_output=True,
                           text=True, timeout=timeout + 60)
        result = json.loads(p.stdout)["results"][0]
        return result.get("timed_out") is True and result["rc"] is None

    _assert_exits(_child_pid_after_timeout(run, pidfile), str(pidfile))


def test_the_probe_as_sent_kills_a_timed_out_pipeline_whole(tmp_path):
    pidfile, probe = tmp_path / "child.pid", sent_probe()

    def run(line: str, timeout: float) -> bool:
        sec = probe.run(["sh", "-c", line], timeout)
        return sec["error"] == "timeout" and sec["rc"] is None

    _assert_exits(_child_pid_after_timeout(run, pidfile), str(pidfile))


def test_the_probe_and_the_helper_carry_the_one_runner():
    for source in (PROBE_SOURCE, HELPER_SOURCE):
        assert source.count("def run_command(") == 1 and source.count("killpg") == 1
        assert inspect.getsource(run_command) in source and inspect.getsource(kill_group) in source


def test_a_command_that_finishes_gives_its_exit_code_and_output(tmp_path):
    assert run_command(["sh", "-c", "cat; echo err >&2; exit 3"], 30, stdin=b"in") == (3, b"in", b"err\n", False)
    assert run_command(["true"], 30) == (0, b"", b"", False)
