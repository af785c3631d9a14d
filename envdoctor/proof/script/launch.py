"""The script's entry: spawned workers import the main module from its file, so a script read from stdin first
writes itself into a private temporary directory and re-executes from there; then the parent runs, bounded by
the time budget counted from this process's own start."""

import os
import shutil
import signal
import sys
import tempfile
import threading
import time

from .contract import PROOF_VERSION
from .messages import Emitter
from .options import parse_args, resolve_defaults
from .supervisor import Parent, run_parent
from .values import first_line

WORKER_FILE = "envdoctor_proof.py"


def running_from_stdin():
    path = getattr(sys.modules["__main__"], "__file__", None)
    return not path or not os.path.isfile(path)


def reexec_from_file(argv, t_start, emit):
    """Spawned workers import the main module from its file, and stdin has none: write this script into a
    private temporary directory (mkdtemp: mode 0700, only ours) and run it from there. The new process
    removes the directory when it ends."""
    src = globals().get("PROOF_SOURCE")
    if not src:
        emit({"event": "result", "proof_version": PROOF_VERSION, "error": "the proof script came without its "
              "source line (PROOF_SOURCE): spawned workers need it as a file", "workers": [], "gpus": []})
        return 0
    d = tempfile.mkdtemp(prefix="envdoctor-proof-")
    try:
        path = os.path.join(d, WORKER_FILE)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(src)
        sys.stdout.flush()
        os.execv(sys.executable, [sys.executable, path] + list(argv) + ["--workdir", d, "--t-start", repr(t_start)])
    except Exception as e:
        shutil.rmtree(d, ignore_errors=True)
        emit({"event": "result", "proof_version": PROOF_VERSION, "error": "cannot start the proof script from "
              "a temporary file: " + first_line(e), "workers": [], "gpus": []})
        return 0


def process_start_time():
    """time.time() when this process started (Linux: /proc/self/stat starttime), else now. The budget is
    counted from there: interpreter start-up and reading this script from stdin are part of it."""
    now = time.time()
    try:
        with open("/proc/self/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
        started = int(fields[19]) / float(os.sysconf("SC_CLK_TCK"))  # field 22: clock ticks after boot
        age = time.clock_gettime(time.CLOCK_BOOTTIME) - started
        return now - age if 0.0 <= age < 600.0 else now
    except Exception:
        return now


def main(argv=None):
    t_start = process_start_time()
    argv = list(sys.argv[1:] if argv is None else argv)
    emit = Emitter()
    a = parse_args(argv)
    if a.workdir is None and running_from_stdin():
        return reexec_from_file(argv, t_start, emit)
    t_start = a.t_start or t_start
    parent = Parent(resolve_defaults(a), t_start, emit)
    threading.Thread(target=parent.watchdog, name="proof-watchdog", daemon=True).start()

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)  # through the finally below: workers ended, the directory removed

    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, on_signal)
    try:
        return run_parent(parent)
    finally:
        parent.end_workers()
        for p in parent.procs:
            p.join(max(0.0, min(2.0, parent.hard_stop - time.time())))
        if a.workdir:
            shutil.rmtree(a.workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
