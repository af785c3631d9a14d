"""This machine, through subprocess: no SSH, nothing installed."""

from __future__ import annotations

import os
import signal
import subprocess
import time

from envdoctor.models import HostStatus
from envdoctor.transport.base import CommandResult, Transport, TransportError


class LocalTransport(Transport):
    name = "localhost"

    def run(self, argv: list[str], stdin: bytes | None = None, timeout: float = 60.0) -> CommandResult:
        t0 = time.monotonic()
        try:
            p = subprocess.Popen(argv, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        except OSError as e:
            raise TransportError(HostStatus.ERROR, f"cannot run {argv[0]}: {e.strerror or e}") from None
        try:
            out, err = p.communicate(stdin, timeout=timeout)
            return CommandResult(p.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"),
                                 time.monotonic() - t0)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)  # the whole group: the probe's own children too
            out, err = p.communicate()
            return CommandResult(None, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"),
                                 time.monotonic() - t0, timed_out=True)
