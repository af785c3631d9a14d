"""/proc mounted with hidepid= hides other users' processes from a probe that is not root: "no Jupyter
server" is then unknown, never a pass. Real: the probe's own sections run in a private mount and PID
namespace (`unshare --mount --pid --mount-proc`, the machine's /proc untouched) whose /proc is remounted
hidepid=invisible, once as root and once as nobody."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from envdoctor.diagnosis.bundle import Bundle, Section
from envdoctor.diagnosis.host_facts import facts_from_bundle
from envdoctor.parsers.security import proc_hidepid
from envdoctor.probe import SOURCE as PROBE_SOURCE
from tests.checks.support import run

# the probe's source comes on stdin, so nobody need not read this checkout
DRIVER = ("import json, sys; ns = {'__name__': 'probe'}; exec(sys.stdin.read(), ns); "
          "print(json.dumps({'sec_jupyter': ns['sec_jupyter'](), 'mounts': ns['read']('/proc/mounts')}))")


def _seen(as_nobody: bool) -> dict:
    who = f"setpriv --reuid=65534 --regid=65534 --clear-groups {shutil.which('python3')}" if as_nobody else "python3"
    r = subprocess.run(["unshare", "--mount", "--pid", "--fork", "--mount-proc", "sh", "-c",
                        f'mount -o remount,hidepid=invisible /proc && exec {who} -c "$0"', DRIVER],
                       input=PROBE_SOURCE, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def _status(seen: dict, check: str) -> tuple[str, str]:
    res = run(check, facts_from_bundle(Bundle(sections={n: Section(**seen[n]) for n in ("sec_jupyter", "mounts")})))
    return res.status.value, res.summary


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("setpriv"),
                    reason="needs root, unshare and setpriv")
def test_hidden_processes_make_no_server_unknown_for_a_non_root_probe():
    nobody = _seen(as_nobody=True)
    assert "hidepid=invisible" in nobody["mounts"]["stdout"] and json.loads(nobody["sec_jupyter"]["stdout"])["euid"] == 65534
    status, summary = _status(nobody, "security_jupyter_auth")
    assert status == "unknown" and "hidepid=invisible" in summary and "uid 65534" in summary, summary
    assert _status(nobody, "security_jupyter_root")[0] == "unknown"
    root = _seen(as_nobody=False)  # root sees every process: none is a Jupyter server here
    assert _status(root, "security_jupyter_auth") == ("pass", "no Jupyter server running")
    assert _status(root, "security_jupyter_root")[0] == "skip"


def test_proc_hidepid_reads_the_proc_line_on_top():
    # constructed: /proc/mounts lines in the kernel's format (numeric and named hidepid values)
    assert proc_hidepid("proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0\n") is None
    assert proc_hidepid("proc /proc proc rw,relatime,hidepid=2 0 0\n") == "2"
    assert proc_hidepid("proc /proc proc rw,relatime,hidepid=off 0 0\n") is None
    assert proc_hidepid("proc /proc proc rw,hidepid=2 0 0\nproc /proc proc rw,relatime 0 0\n") is None  # the top one
    assert proc_hidepid("proc /host/proc proc rw,hidepid=invisible 0 0\n") is None  # not this /proc
    assert proc_hidepid(None) is None
