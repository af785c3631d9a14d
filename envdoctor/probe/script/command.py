"""Running one command as a section: its own session (process group), its own timeout, the whole group
killed when it runs past it; a missing program is "not-found", never a crash."""

import os
import shutil
import time

from .process_group import run_command
from .section import trim


def run(argv, timeout, env=None, show=None):
    """Run a command; return a section dict. argv[0] missing -> error "not-found". `show` names the
    command in the bundle when argv holds an inline script."""
    t0 = time.time()
    sec = {"cmd": show or " ".join(argv), "rc": None, "stdout": "", "stderr": "", "secs": 0.0, "error": None}
    if not (os.path.isabs(argv[0]) and os.path.exists(argv[0])) and shutil.which(argv[0]) is None:
        sec["error"] = "not-found"
        return sec
    try:
        sec["rc"], out, err, timed_out = run_command(argv, timeout, env=env)
    except OSError as e:
        sec["error"] = "%s" % e
        return sec
    if timed_out:
        sec["error"] = "timeout"
    sec["stdout"], sec["stderr"] = trim(out), trim(err)
    sec["secs"] = round(time.time() - t0, 3)
    return sec
