"""A host held in memory for the executor's tests: a Transport that answers the fix helper's requests
(the JSON ops of envdoctor/fixes/helper.py) from a dict of files, a record of the commands run, the play
lock and the pending handlers, so that `when`, tags, handlers, check mode, failures and the recap are
tested without sshd or root. Commands are not run: they are recorded, and answer what a test set.
test_memory_host_matches_the_helper (test_executor_flow.py) holds it to the real helper's answers."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from typing import Callable

from envdoctor.fixes.executor import HostSession
from envdoctor.fixes.remote import Remote
from envdoctor.hosts.transport.base import CommandResult, Transport, TransportError
from envdoctor.models import HostStatus


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Answer:
    """What a command prints and exits with, and what it does to the host (e.g. writes a file)."""

    rc: int = 0
    stdout: str = ""
    stderr: str = ""
    effect: Callable[["MemoryHost"], None] | None = None


@dataclass
class MemoryHost(Transport):
    files: dict[str, str] = field(default_factory=dict)  # path -> text
    modes: dict[str, int] = field(default_factory=dict)
    programs: set[str] = field(default_factory=set)  # what `which` finds
    answers: dict[str, Answer] = field(default_factory=dict)  # command line -> its answer (default: rc 0)
    uid: int = 0
    lock_holder: str | None = None  # the token holding the play lock
    pending: dict[str, dict] = field(default_factory=dict)  # pending-handlers.json
    ran: list[str] = field(default_factory=list)  # every command run (guards too), in order
    requests: list[list[dict]] = field(default_factory=list)  # the ops of every round trip
    unreachable_from: int | None = None  # this round trip (0-based) and the ones after it fail to connect
    garbage_from: int | None = None  # from this round trip on, the helper prints no JSON
    name: str = "memhost"

    def session(self, name: str = "memhost", **kw) -> HostSession:
        return HostSession(name=name, remote=Remote(self, python="python3"), **kw)

    # -- the Transport -----------------------------------------------------------------------------------
    def run(self, argv, stdin=None, timeout=60.0, on_line=None) -> CommandResult:
        n = len(self.requests)
        req = json.loads(stdin or b"{}")
        self.requests.append(req.get("ops", []))
        if self.unreachable_from is not None and n >= self.unreachable_from:
            raise TransportError(HostStatus.UNREACHABLE, "connection refused (constructed)")
        if self.garbage_from is not None and n >= self.garbage_from:
            return CommandResult(rc=1, stdout="", stderr="Traceback (most recent call last): constructed", secs=0.0)
        if req.get("lock") and req["lock"] != self.lock_holder:
            why = "this run's lock on the host was taken over (its connection seemed gone): nothing done"
            return self._reply([{"error": why} for _ in req.get("ops", [])])
        results, failed = [], False
        for op in req.get("ops", []):
            if failed:
                results.append({"error": "not run: an earlier step failed"})
                continue
            res = getattr(self, "op_" + op["op"])(op)
            if "error" in res and op["op"] != "stat":
                failed = True
            if op.get("stop_on_failure") and res.get("rc") != 0:
                failed = True
            results.append(res)
        return self._reply(results)

    def _reply(self, results: list[dict]) -> CommandResult:
        return CommandResult(rc=0, stdout=json.dumps({"results": results, "uid": self.uid}), stderr="", secs=0.0)

    # -- the helper's ops, as it answers them ------------------------------------------------------------
    def op_stat(self, op):
        path = op["path"]
        if path not in self.files:
            return {"exists": False}
        data = self.files[path].encode()
        out = {"exists": True, "type": "file", "mode": self.modes.get(path, 0o644), "uid": 0, "gid": 0,
               "owner": "root", "group": "root", "size": len(data)}
        if op.get("read"):
            out.update(content_b64=base64.b64encode(data).decode(), sha256=_sha(data))
        return out

    def op_which(self, op):
        return {"paths": {n: (f"/usr/bin/{n}" if n in self.programs else None) for n in op["names"]}}

    def op_exec(self, op):
        line = _shown(op)
        self.ran.append(line)
        a = self.answers.get(line, Answer())
        if a.effect:
            a.effect(self)
        return {"rc": a.rc, "stdout": a.stdout, "stderr": a.stderr}

    def op_write(self, op):
        path = op["path"]
        cur = self.files.get(path)
        expect = op.get("expect_sha256", "any")
        if expect != "any" and (None if cur is None else _sha(cur.encode())) != expect:
            return {"error": "%s changed since it was read; nothing written (run again)" % path}
        backup = None
        if cur is not None and op.get("backup", True):
            backup = f"{path}.envdoctor-backup-1"
            self.files[backup] = cur
        data = base64.b64decode(op["content_b64"])
        self.files[path] = data.decode()
        if op.get("mode") is not None:
            self.modes[path] = op["mode"]
        return {"written": len(data), "backup": backup, "sha256": _sha(data)}

    def op_attrs(self, op):
        if op.get("mode") is not None:
            self.modes[op["path"]] = op["mode"]
        return {}

    def op_lock(self, op):
        if self.lock_holder not in (None, op["token"]):
            return {"error": "another envdoctor run (pid 1 on elsewhere, since 00:00:00) is changing this host; "
                             "nothing was done: run again when it has finished"}
        self.lock_holder = op["token"]
        return {"locked": True, "took_over": False}

    def op_unlock(self, op):
        if self.lock_holder == op["token"]:
            self.lock_holder = None
        return {}

    def op_pending(self, op):
        for rec in op.get("add") or []:
            self.pending.setdefault(rec["name"], dict(rec))
        for name in op.get("remove") or []:
            self.pending.pop(name, None)
        return {"pending": dict(self.pending)}


def _shown(op: dict) -> str:
    return op["shell"] if op.get("shell") is not None else " ".join(op["argv"])
