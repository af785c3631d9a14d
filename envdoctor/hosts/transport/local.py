"""This machine, through subprocess: no SSH, nothing installed."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import threading
import time
from typing import Callable

from envdoctor.hosts.transport.base import (MAX_OUTPUT_BYTES, CommandResult, OutputTooLarge, Transport, TransportError,
                                            running)
from envdoctor.models import HostStatus


class LocalTransport(Transport):
    name = "localhost"

    def run(self, argv: list[str], stdin: bytes | None = None, timeout: float = 60.0,
            on_line: Callable[[str], None] | None = None) -> CommandResult:
        t0 = time.monotonic()
        try:
            p = subprocess.Popen(argv, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        except OSError as e:
            raise TransportError(HostStatus.ERROR, f"cannot run {argv[0]}: {e.strerror or e}") from None
        if stdin is not None:
            threading.Thread(target=_feed, args=(p, stdin), daemon=True).start()
        with running(lambda: _kill(p)):
            try:
                out, err, outcome = _collect(p, t0 + timeout, on_line)
            except BaseException:  # Ctrl-C in the main thread: the command must not outlive us
                _kill(p)
                raise
        if outcome == "too-much":
            _kill(p)
            p.wait()
            raise OutputTooLarge(f"{argv[0]} wrote more than {MAX_OUTPUT_BYTES >> 20} MiB; it was stopped")
        if outcome == "timeout":
            _kill(p)  # the whole group: the probe's own children too
        p.wait()
        text = (out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))
        if outcome == "timeout":
            return CommandResult(None, *text, time.monotonic() - t0, timed_out=True)
        return CommandResult(p.returncode, *text, time.monotonic() - t0)


def _kill(p: subprocess.Popen) -> None:
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except OSError:
        pass


def _feed(p: subprocess.Popen, data: bytes) -> None:
    try:
        p.stdin.write(data)
        p.stdin.close()
    except OSError:
        pass


def _collect(p: subprocess.Popen, deadline: float, on_line) -> tuple[bytearray, bytearray, str]:
    """stdout and stderr until both close: 'done', 'timeout', or 'too-much' (over MAX_OUTPUT_BYTES)."""
    out, err, pending = bytearray(), bytearray(), b""
    sel = selectors.DefaultSelector()
    sel.register(p.stdout, selectors.EVENT_READ, out)
    sel.register(p.stderr, selectors.EVENT_READ, err)
    try:
        while sel.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                return out, err, "timeout"
            for key, _ in sel.select(min(left, 1.0)):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    sel.unregister(key.fileobj)
                    continue
                key.data.extend(chunk)
                if key.data is out and on_line is not None:
                    pending += chunk
                    *lines, pending = pending.split(b"\n")
                    for line in lines:
                        on_line(line.decode("utf-8", "replace"))
            if len(out) + len(err) > MAX_OUTPUT_BYTES:
                return out, err, "too-much"
    finally:
        sel.close()
        p.stdout.close()
        p.stderr.close()
    if on_line is not None and pending:
        on_line(pending.decode("utf-8", "replace"))
    return out, err, "done"
