"""Running one command on a target, the one way the probe and the fix helper both do it: in its own session (a
new process group), with a timeout after which the whole group is killed, so that a shell pipeline's children do
not go on running on the target after the command was reported as timed out. A part of the probe that the fix
helper carries too (envdoctor/fixes/remote.py writes it into the helper in place of its import)."""

import os
import signal
import subprocess

KILL_GRACE = 5.0  # seconds to collect what a killed group printed; a process that left the group may hold a pipe


def run_command(argv, timeout, stdin=None, env=None, cwd=None):
    """Run argv; return (rc, stdout bytes, stderr bytes, timed_out). rc is None when it timed out. `stdin`:
    bytes to write to it, or None for /dev/null. Raises OSError when argv[0] cannot be started."""
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd, start_new_session=True)
    try:
        out, err = p.communicate(stdin, timeout=timeout)
        return p.returncode, out, err, False
    except subprocess.TimeoutExpired:
        kill_group(p.pid)
    try:
        out, err = p.communicate(timeout=KILL_GRACE)
    except subprocess.TimeoutExpired:  # a descendant left the group (setsid) and keeps the pipe open
        for f in (p.stdin, p.stdout, p.stderr):
            if f:
                f.close()
        p.wait()
        out, err = b"", b""
    return None, out, err, True


def kill_group(pgid):
    """SIGKILL every process of a process group (the session run_command started)."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:  # already gone
        pass
