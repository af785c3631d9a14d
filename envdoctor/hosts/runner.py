"""Fan-out over hosts: at most `forks` at once, a hard per-host deadline, progress (hosts/progress.py), and a
clean stop on Ctrl-C. A host's failure is a HostReport with its status, never an exception.

Workers are daemon threads (not a ThreadPoolExecutor, whose threads are joined at exit): after Ctrl-C or
a host past its deadline, envdoctor reports and exits without waiting for a hung connection. SIGTERM is
handled like Ctrl-C; either way the commands still running on the hosts are ended there, not left to run
out their timeout.
"""

from __future__ import annotations

import contextlib
import queue
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, TextIO, TypeVar

from envdoctor.hosts.progress import progress_for
from envdoctor.hosts.targets import Target
from envdoctor.hosts.transport.base import end_running
from envdoctor.models import HostReport, HostStatus
from envdoctor.printable import printable

DEFAULT_FORKS = 32

R = TypeVar("R")


@dataclass
class RunResult:
    reports: list[Any]  # in the order of the targets: every host that was started, finished or not (a HostReport,
    # or what the caller's `work` returns when it passed `lost`)
    interrupted: bool = False
    not_started: list[str] = field(default_factory=list)  # after an interrupt: the rest, in order (a suffix)


INTERRUPT_GRACE_S = 5.0  # after an interrupt, how long hosts that are only building their report may finish


def run_hosts(targets: list[Target], work: Callable[[Target], R], forks: int = DEFAULT_FORKS,
              deadline_s: float | None = None, progress: bool | None = None,
              stream: TextIO | None = None, lost: Callable[[Target, HostReport], R] | None = None,
              what: str | None = None) -> RunResult:
    """Run `work(target)` for every target. `deadline_s` is a last-resort per-host limit (the transports
    have their own timeouts); a host past it is reported as `timeout`. `progress`: None -> a live line
    when `stream` (stderr) is a terminal, else one plain line for the phase (`what` names it); False ->
    none (--json). `work` returns a HostReport, or with `lost` a result of the caller's
    own type: `lost` turns the runner's report of a host that gave none (a bug, the deadline, an
    interrupt) into that type, so every report is of one type."""
    stream = stream or sys.stderr
    results: dict[int, HostReport] = {}
    running: dict[int, float] = {}
    lock = threading.Lock()
    todo: queue.Queue = queue.Queue()
    for i in range(len(targets)):
        todo.put(i)
    stop = threading.Event()
    finished = threading.Event()

    def worker() -> None:
        while True:
            with lock:  # taking a host and marking it running is one step: an interrupt sees either or neither
                if stop.is_set():
                    return
                try:
                    i = todo.get_nowait()
                except queue.Empty:
                    return
                running[i] = time.monotonic()
            try:
                rep = work(targets[i])
            except Exception as e:  # a bug of ours for one host must not lose the others
                rep = HostReport(host=targets[i].name, status=HostStatus.ERROR,
                                 error=f"envdoctor error: {type(e).__name__}: {e}")
            with lock:
                running.pop(i, None)
                results.setdefault(i, rep)
                if len(results) == len(targets):
                    finished.set()

    if not targets:
        return RunResult([])
    threads = [threading.Thread(target=worker, daemon=True, name=f"envdoctor-host-{n}")
               for n in range(max(1, min(forks, len(targets))))]
    bar = progress_for(stream, progress, len(targets), forks, what)
    interrupted = False
    frozen = None
    not_started: list[int] = []
    try:
        with _sigterm_as_interrupt():
            # after the handler is in place: a SIGTERM once a host was started or the bar shows is an interrupt
            for t in threads:
                t.start()
            if bar:
                bar.show(0, {})
            _wait(finished, lock, running, results, targets, deadline_s, bar)
    except KeyboardInterrupt:
        interrupted = True
        with lock:  # what finished before the interrupt; a host ended by it below is reported interrupted
            stop.set()
            frozen = (dict(results), dict(running))
            not_started = _drain(todo)
        end_running()
        # A host whose transport had already answered is only building its report here (parsing, checks):
        # let it finish, bounded, so what finished is reported; the ended transports return at once.
        grace = time.monotonic() + INTERRUPT_GRACE_S
        for t in threads:
            if t.ident is not None:  # the interrupt may have come while the threads were being started
                t.join(max(0.0, grace - time.monotonic()))
    finally:
        if bar:
            with lock:
                bar.show(len(results), {})
            bar.clear()
    with lock:
        done, busy = frozen or (results, running)
        reports = []
        skipped = set(not_started)
        for i, t in enumerate(targets):
            if i in skipped:
                continue
            rep = done.get(i)
            late = results.get(i) if rep is None and i in busy else None
            if late is not None and (lost is not None or late.status.evaluated):
                rep = late  # it had its evidence before the interrupt and finished its report after
            if rep is None:
                was_running = i in busy
                rep = HostReport(host=t.name, status=HostStatus.ERROR,
                                 error="interrupted (Ctrl-C or SIGTERM) while " + ("running" if was_running else "waiting"))
            reports.append(lost(t, rep) if lost is not None and isinstance(rep, HostReport) else rep)
    names = [targets[i].name for i in not_started]
    if names:  # one line for them all: a report per host never started would be 100,000 lines of nothing
        stream.write(f"envdoctor: interrupted before {len(names)} of {len(targets)} hosts were started "
                     f"({printable(names[0])}{' ... ' + printable(names[-1]) if len(names) > 1 else ''}); they were not checked\n")
        stream.flush()
    return RunResult(reports, interrupted, names)


def _drain(todo: queue.Queue) -> list[int]:
    """The hosts still queued (FIFO: the targets after the last one started)."""
    out = []
    while True:
        try:
            out.append(todo.get_nowait())
        except queue.Empty:
            return out


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """SIGTERM (a scheduler, `kill`, systemd stopping a job) ends a run the way Ctrl-C does."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _wait(finished, lock, running, results, targets, deadline_s, bar) -> None:
    """Until every host has a result: enforce the per-host deadline and keep the progress line fresh."""
    while not finished.wait(0.2):
        now = time.monotonic()
        with lock:
            if deadline_s is not None:
                for i, started in list(running.items()):
                    if now - started > deadline_s:  # abandon it: its thread is a daemon
                        running.pop(i)
                        results.setdefault(i, HostReport(
                            host=targets[i].name, status=HostStatus.TIMEOUT,
                            error=f"no result within {deadline_s:.0f} s", gather_secs=round(now - started, 3)))
                if len(results) == len(targets):
                    return
            if bar:
                bar.show(len(results), {targets[i].name: s for i, s in running.items()})
