"""This machine, through subprocess: no SSH, nothing installed."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from typing import Callable

from envdoctor.models import HostStatus
from envdoctor.transport.base import CommandResult, Transport, TransportError


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
        if on_line is None:
            try:
                out, err = p.communicate(stdin, timeout=timeout)
                return CommandResult(p.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"),
                                     time.monotonic() - t0)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)  # the whole group: the probe's own children too
                out, err = p.communicate()
                return CommandResult(None, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"),
                                     time.monotonic() - t0, timed_out=True)
        return self._stream(p, stdin, timeout, on_line, t0)

    @staticmethod
    def _stream(p: subprocess.Popen, stdin, timeout, on_line, t0) -> CommandResult:
        out_lines: list[str] = []
        err_chunks: list[bytes] = []

        def feed():
            if stdin is not None:
                try:
                    p.stdin.write(stdin)
                    p.stdin.close()
                except OSError:
                    pass

        def read_err():
            err_chunks.append(p.stderr.read())

        threads = [threading.Thread(target=feed, daemon=True), threading.Thread(target=read_err, daemon=True)]
        for t in threads:
            t.start()
        timer = threading.Timer(timeout, lambda: os.killpg(p.pid, signal.SIGKILL))
        timer.start()
        try:
            for raw in p.stdout:
                line = raw.decode("utf-8", "replace")
                out_lines.append(line)
                on_line(line.rstrip("\n"))
            p.wait()
        finally:
            timed_out = not timer.is_alive() and p.returncode is not None and p.returncode < 0
            timer.cancel()
        for t in threads:
            t.join(5)
        return CommandResult(None if timed_out else p.returncode, "".join(out_lines),
                             b"".join(err_chunks).decode("utf-8", "replace"), time.monotonic() - t0, timed_out=timed_out)
