"""The controller's side of the fix helper: send a batch of ops to the target through its Transport
(one round trip per batch) and get one result per op back."""

from __future__ import annotations

import base64
import json
import os
import secrets
import socket
from collections.abc import Sequence
from importlib.resources import files

from envdoctor.fixes.ops import LockOp, Op, OpResult, UnlockOp, result_of
from envdoctor.hosts.transport.base import Transport, TransportError
from envdoctor.models import HostStatus


def _helper_source() -> str:
    """helper.py as the target runs it: self-contained, the command runner it shares with the probe
    (envdoctor/probe/script/process_group.py) written in place of its import line."""
    lines = files("envdoctor.fixes").joinpath("helper.py").read_text().split("\n")
    line = "from envdoctor.probe.script.process_group import run_command"
    at = [i for i, text in enumerate(lines) if text.startswith(line)]
    if len(at) != 1:  # a bug of ours: the helper lost (or doubled) its import line
        raise RuntimeError(f"helper.py has {len(at)} '{line}' lines, expected one")
    lines[at[0]] = files("envdoctor.probe.script").joinpath("process_group.py").read_text()
    return "\n".join(lines)


HELPER_SOURCE = _helper_source()


class HelperError(Exception):
    """The helper did not run or did not answer (not a failed op: those come back as results)."""


class Remote:
    """One host as the fix modules see it."""

    def __init__(self, transport: Transport, python: str | Sequence[str] = "python3", timeout: float = 600.0):
        """`python`: the interpreter, one word or its argv words (["/usr/bin/env", "python3"])."""
        self.transport = transport
        self.interpreter_argv = [python] if isinstance(python, str) else list(python)
        self.python = " ".join(self.interpreter_argv)
        self.timeout = timeout
        self.round_trips = 0
        self.uid: int | None = None  # the helper's user id on the target, known after the first call
        self.lock_token: str | None = None  # set while this run holds the host's play lock

    def call(self, ops: Sequence[Op], extra_argv: tuple[str, ...] = ()) -> list[OpResult]:
        """Run `ops` in one round trip; one typed result per op, in order."""
        if not ops:
            return []
        self.round_trips += 1
        argv = [*self.interpreter_argv, "-c", HELPER_SOURCE, *extra_argv]
        req = {"ops": [op.wire() for op in ops], **({"lock": self.lock_token} if self.lock_token else {})}
        res = self.transport.run(argv, stdin=json.dumps(req).encode(), timeout=self.timeout)
        if res.timed_out:
            raise TransportError(HostStatus.TIMEOUT, f"the fix helper ran past {self.timeout:.0f} s")
        try:
            doc = json.loads(res.stdout)
        except ValueError:
            tail = (res.stderr.strip() or res.stdout.strip())[-300:]
            raise HelperError(f"the fix helper failed (exit {res.rc}): {tail}") from None
        self.uid = doc.get("uid", self.uid)
        return [result_of(op, raw) for op, raw in zip(ops, doc["results"])]


def lock_op(wait: float = 90.0) -> tuple[str, LockOp]:
    """A fresh token and the op that takes the host's play lock with it (see helper.py)."""
    token = secrets.token_hex(16)
    return token, LockOp(token=token, wait=wait, holder=f"pid {os.getpid()} on {socket.gethostname()}")


def release(remote: Remote) -> None:
    """Give the play lock back (a run that cannot reach the host any more leaves it to expire)."""
    if remote.lock_token is None:
        return
    token, remote.lock_token = remote.lock_token, None
    try:
        remote.call([UnlockOp(token=token)])
    except (TransportError, HelperError):
        pass


def b64(data: str | bytes) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()
