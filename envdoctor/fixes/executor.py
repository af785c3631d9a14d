"""Runs a playbook on one host: `when`, tags, rendered arguments, plan -> (check mode: show) / apply,
notify -> handlers once at the end of the play, ignore_errors, and a recap like Ansible's PLAY RECAP.

A host is a `HostSession`: its Remote (the fix helper over its Transport), its facts and check results.
The reads of all the tasks of a playbook are fetched together, in one round trip before the first
task; a task then costs one more round trip only for its writes (none when there is nothing to change,
or in check mode), or to read again what an earlier change may have touched.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from envdoctor.errors import UserError
from envdoctor.facts import HostFacts
from envdoctor.fixes.derived import derived
from envdoctor.fixes.expr import ExprError, render, truth
from envdoctor.fixes.modules import MODULES, FileDiff
from envdoctor.fixes.ops import (FILE_WRITES, ExecOp, Op, OpResult, PendingHandler, PendingOp, StatOp, SymlinkResult,
                                 WhichOp, WriteResult)
from envdoctor.fixes.playbook import Play, Playbook, Task, validate_args
from envdoctor.fixes.remote import HelperError, Remote, lock_op
from envdoctor.hosts.transport.base import TransportError
from envdoctor.models import CheckResult
from envdoctor.redact import redact_obj


@dataclass
class TaskRecord:
    host: str
    play: str
    task: str
    module: str
    status: str  # ok | changed | failed | skipped | unreachable
    msg: str
    diffs: list[FileDiff] = field(default_factory=list)
    handler: bool = False
    ignored: bool = False  # failed, but the task said ignore_errors
    where: str = ""

    def to_json(self) -> dict:
        d = asdict(self)
        d["diffs"] = [{"path": x.path, "diff": x.unified()} for x in self.diffs]
        return redact_obj(d)


@dataclass
class HostRecap:
    host: str
    ok: int = 0
    changed: int = 0
    failed: int = 0
    skipped: int = 0
    unreachable: int = 0
    ignored: int = 0
    error: str | None = None  # why the host stopped (the failing task, or why it was unreachable)
    tasks: list[TaskRecord] = field(default_factory=list)

    def add(self, rec: TaskRecord) -> None:
        self.tasks.append(rec)
        if rec.ignored:
            self.ignored += 1
        elif rec.status == "changed":
            self.changed += 1
            self.ok += 1  # Ansible counts a changed task as ok too
        else:
            setattr(self, rec.status, getattr(self, rec.status) + 1)

    def to_json(self) -> dict:
        return {"host": self.host, "ok": self.ok, "changed": self.changed, "failed": self.failed,
                "skipped": self.skipped, "unreachable": self.unreachable, "ignored": self.ignored,
                "error": redact_obj(self.error), "tasks": [t.to_json() for t in self.tasks]}


@dataclass
class HostSession:
    name: str
    remote: Remote | None  # None: unreachable (error says why)
    facts: HostFacts | None = None
    results: list[CheckResult] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    host_vars: dict = field(default_factory=dict)
    error: str | None = None
    # Handlers recorded on the target as notified and not yet run (name -> record); None: not read yet.
    pending: dict[str, dict] | None = None
    pending_before: set[str] = field(default_factory=set)  # of those, the ones an earlier run left


def context(session: HostSession) -> dict[str, Any]:
    """What expressions see (besides variables): documented in playbooks/README.md."""
    return {
        "facts": session.facts,
        "check": {r.id: r.status.value for r in session.results},
        "checks": {r.id: r.model_dump(mode="json") for r in session.results},
        "host": {"name": session.name, "groups": session.groups},
        "derived": derived(session.facts),
    }


def play_applies(play: Play, session: HostSession) -> bool:
    """`hosts:` patterns (comma or colon separated): all, a host name or a group, with shell wildcards."""
    pats = [p.strip() for p in play.hosts.replace(":", ",").split(",") if p.strip()]
    names = [session.name] + list(session.groups)
    return any(p in ("all", "*") or any(fnmatch.fnmatchcase(n, p) for n in names) for p in pats)


def selected(task: Task, tags: set[str], skip_tags: set[str]) -> bool:
    t = set(task.tags)
    if t & skip_tags:
        return False
    return not tags or "all" in tags or "always" in t or bool(t & tags)


Emit = Callable[[TaskRecord], None]


class ReadCache:
    """Results of read ops (stat/which/exec guards) for one play on one host, keyed by the op itself."""

    def __init__(self, remote: Remote):
        self.remote = remote
        self.results: dict[str, OpResult] = {}
        self.ops: dict[str, Op] = {}
        self.prefix_results: list[OpResult] = []

    @staticmethod
    def _key(op: Op) -> str:
        return json.dumps(op.wire(), sort_keys=True)

    def fetch(self, ops: list[Op], prefix: list[Op] | None = None) -> list[OpResult]:
        """The results of read `ops`; `prefix` ops (lock, pending) go first in the same round trip, and
        their results are left in `prefix_results`."""
        missing = list({self._key(o): o for o in ops if self._key(o) not in self.results}.values())
        prefix = prefix or []
        if missing or prefix:
            res = self.remote.call(prefix + missing)
            self.prefix_results = res[:len(prefix)]
            if any(r.error for r in self.prefix_results):
                return []  # the lock was not taken (or the pending record not read): the reads did not run
            for op, r in zip(missing, res[len(prefix):]):
                self.results[self._key(op)] = r
                self.ops[self._key(op)] = op
        return [self.results[self._key(o)] for o in ops]

    def invalidate(self, applied: list[Op]) -> None:
        """After changes: a command may have changed anything; a file write changes that path (and any
        guard command may look at it)."""
        if any(not isinstance(op, FILE_WRITES) for op in applied):
            self.results.clear()
            return
        paths = {op.path for op in applied}

        def related(p: str) -> bool:  # the same path, or one inside the other (created parents, links)
            return any(p == q or p.startswith(q + "/") or q.startswith(p + "/") for q in paths)

        for k in list(self.results):
            op = self.ops[k]
            if not isinstance(op, StatOp) or related(op.path):
                del self.results[k]


def _reads_of(play: Play, ctx: dict, tags: set[str], skip_tags: set[str]) -> list[Op]:
    """The read ops of the play's tasks that will run (as far as can be told before running them)."""
    ops: list[Op] = []
    for task in play.tasks:
        if not selected(task, tags, skip_tags):
            continue
        try:
            if task.when and not truth(task.when, ctx):
                continue
            args = validate_args(task.module, render(task.args, ctx), task.where)
        except (ExprError, UserError):
            continue  # reported when the task runs
        ops += MODULES[task.module].reads(args)
    return ops


class _HostStop(Exception):
    pass


@dataclass
class HandlerQueue:
    """Handlers notified across several playbooks (`envdoctor fix` applies one per failed check), run
    once each at the very end: docker is restarted once, not once per playbook."""

    pending: dict[str, tuple[Task, Play, dict]] = field(default_factory=dict)

    def add(self, handler: Task, play: Play, ctx: dict) -> None:
        self.pending.setdefault(handler.name, (handler, play, ctx))


def run_handlers(queue: HandlerQueue, session: HostSession, check: bool, recap: HostRecap,
                 emit: Emit | None = None) -> HostRecap:
    if recap.failed or recap.unreachable:
        return recap  # a failed host runs no handlers
    for handler, play, ctx in queue.pending.values():
        rec = run_task(handler, play, session, ctx, check, is_handler=True)
        _record(recap, emit, rec)
        if rec.status in ("failed", "unreachable") and not rec.ignored:
            recap.error = f"handler {rec.task}: {rec.msg}"
            break
    queue.pending.clear()
    run_left_pending(session, check, recap, emit)
    return recap


def run_playbook(pb: Playbook, session: HostSession, check: bool = False, tags: set[str] | frozenset = frozenset(),
                 skip_tags: set[str] | frozenset = frozenset(), extra_vars: dict | None = None,
                 emit: Emit | None = None, recap: HostRecap | None = None,
                 handlers: HandlerQueue | None = None) -> HostRecap:
    """Run every play of `pb` that applies to the host. With `handlers`, notified handlers are queued
    there (run them with `run_handlers`) instead of running at the end of each play."""
    recap = recap or HostRecap(session.name)
    if session.remote is None:
        recap.unreachable += 1
        recap.error = session.error or "unreachable"
        return recap
    base = context(session)
    plays = [p for p in pb.plays if play_applies(p, session)]
    extra = extra_vars or {}
    # One round trip reads what every task of every play will look at; later reads come from it
    # unless a change made on the way may have touched them.
    cache = ReadCache(session.remote)
    ops: list[Op] = [WhichOp()]  # also tells the helper's uid
    for play in plays:
        try:
            ops += _reads_of(play, {**base, **_play_vars(play, session, base, extra)}, set(tags), set(skip_tags))
        except ExprError:
            continue  # reported when the play runs
    # Changing a host: take its play lock first (held until the session closes), in the same round trip.
    prefix: list[Op] = []
    token = None
    if not check and session.remote.lock_token is None:
        token, op = lock_op()
        prefix.append(op)
    if session.pending is None:
        prefix.append(PendingOp())
    try:
        cache.fetch(ops, prefix)
    except (TransportError, HelperError) as e:
        status = "unreachable" if isinstance(e, TransportError) else "failed"
        msg = e.message if isinstance(e, TransportError) else str(e)
        _record(recap, emit, TaskRecord(session.name, pb.name, "(read state)", "-", status, msg))
        recap.error = msg
        return recap
    got = cache.prefix_results
    if token is not None:
        if got and got[0].error:
            _record(recap, emit, TaskRecord(session.name, pb.name, "(lock host)", "-", "failed", got[0].error))
            recap.error = got[0].error
            return recap
        session.remote.lock_token = token
    if session.pending is None:
        session.pending = dict(getattr(got[-1], "pending", None) or {}) if got else {}
        session.pending_before = set(session.pending)
    for play in plays:
        try:
            _run_play(play, session, base, check, set(tags), set(skip_tags), extra, emit, recap, handlers, cache)
        except _HostStop:
            break
    if handlers is None:
        run_left_pending(session, check, recap, emit)
    return recap


def run_left_pending(session: HostSession, check: bool, recap: HostRecap, emit: Emit | None = None) -> None:
    """Handlers an earlier run recorded on the host and none of this run's plays has: run them from
    their record, so that a fix interrupted before its handler ran is finished now."""
    if recap.failed or recap.unreachable or not session.pending:
        return
    for name in [n for n in session.pending if n in session.pending_before]:
        rec = session.pending[name]
        play = Play(name=str(rec.get("play") or "pending handlers"), become=bool(rec.get("become", False)))
        module = str(rec.get("module", ""))
        if module not in MODULES or not isinstance(rec.get("args"), dict):
            _record(recap, emit, TaskRecord(session.name, play.name, name, module or "-", "failed",
                                            f"a pending handler recorded on the host is not understood: {rec!r:.200}"))
            return
        task = Task(name=name, module=module, args=rec["args"], where=str(rec.get("where", "")))
        result = run_task(task, play, session, {}, check, is_handler=True)
        _record(recap, emit, result)
        if result.status in ("failed", "unreachable") and not result.ignored:
            recap.error = f"handler {result.task}: {result.msg}"
            return


def _forget_pending(session: HostSession, name: str) -> None:
    if not session.pending or name not in session.pending:
        return
    try:
        session.remote.call([PendingOp(remove=[name])])
        session.pending.pop(name, None)
    except (TransportError, HelperError):
        pass  # stays recorded: the next run runs it again (handlers are safe to repeat)


def _record(recap: HostRecap, emit: Emit | None, rec: TaskRecord) -> None:
    recap.add(rec)
    if emit:
        emit(rec)


def _play_vars(play: Play, session: HostSession, base: dict, extra: dict) -> dict:
    vars_ = dict(session.host_vars)
    for k, v in play.vars.items():
        if k in extra:
            continue
        vars_[k] = render(v, {**base, **vars_, **extra})
    vars_.update(extra)
    return vars_


def _run_play(play: Play, session: HostSession, base: dict, check: bool, tags: set[str], skip_tags: set[str],
              extra: dict, emit: Emit | None, recap: HostRecap, queue: HandlerQueue | None,
              cache: ReadCache) -> None:
    host = session.name
    try:
        vars_ = _play_vars(play, session, base, extra)
    except ExprError as e:
        rec = TaskRecord(host, play.name, "(play vars)", "-", "failed", f"vars: {e}", where=play.where)
        _record(recap, emit, rec)
        recap.error = rec.msg
        raise _HostStop
    ctx = {**base, **vars_}
    # Handlers an earlier run notified and did not run count as notified now.
    notified: list[str] = [h.name for h in play.handlers if {h.name, *h.listen} & set(session.pending or {})]
    for task in play.tasks:
        if not selected(task, tags, skip_tags):
            continue
        records = [_pending_record(h, play, ctx) for h in play.handlers if {h.name, *h.listen} & set(task.notify)]
        rec = run_task(task, play, session, ctx, check, cache=cache, pending_add=records)
        _record(recap, emit, rec)
        if rec.status == "changed":
            notified += [n for n in task.notify if n not in notified]
        if rec.status in ("failed", "unreachable") and not rec.ignored:
            recap.error = f"{rec.task}: {rec.msg}"
            raise _HostStop  # a failed host runs no more tasks, and no handlers (as Ansible does)
    for handler in play.handlers:
        names = {handler.name, *handler.listen}
        if not names & set(notified):
            continue
        if queue is not None:
            queue.add(handler, play, ctx)
            continue
        rec = run_task(handler, play, session, ctx, check, is_handler=True)
        _record(recap, emit, rec)
        if rec.status in ("failed", "unreachable") and not rec.ignored:
            recap.error = f"handler {rec.task}: {rec.msg}"
            raise _HostStop


def _pending_record(handler: Task, play: Play, ctx: dict) -> PendingHandler:
    """What the target keeps about a notified handler: enough to run it from a later play."""
    try:
        args = render(handler.args, ctx)
    except ExprError:
        args = handler.args
    return PendingHandler(name=handler.name, module=handler.module, args=args, where=handler.where, play=play.name,
                          become=bool(handler.become if handler.become is not None else play.become))


def run_task(task: Task, play: Play, session: HostSession, ctx: dict, check: bool,
             is_handler: bool = False, cache: ReadCache | None = None,
             pending_add: list[PendingHandler] | None = None) -> TaskRecord:
    """One task (or handler) on one host. `pending_add`: the handlers this task notifies, recorded on
    the target in the same round trip as (and before) its change."""
    earlier = is_handler and task.name in session.pending_before and task.name in (session.pending or {})
    note = "pending from an earlier run that did not finish it; " if earlier else ""

    def rec(status: str, msg: str, diffs=None) -> TaskRecord:
        ignored = status == "failed" and task.ignore_errors
        if is_handler and not check and status in ("ok", "changed", "skipped"):
            _forget_pending(session, task.name)  # ran (or is not wanted here): no longer pending
        return TaskRecord(session.name, play.name, task.name, task.module, status, note + msg, diffs or [],
                          is_handler, ignored, task.where)

    try:
        if task.when and not truth(task.when, ctx):
            return rec("skipped", "condition not met: " + " and ".join(str(w) for w in task.when))
        args = validate_args(task.module, render(task.args, ctx), task.where)
    except ExprError as e:
        return rec("failed", f"expression: {e}")
    except UserError as e:
        return rec("failed", e.message)
    module = MODULES[task.module]
    remote = session.remote
    try:
        reads = module.reads(args) or [WhichOp()]
        state = cache.fetch(reads) if cache is not None else remote.call(reads)
        if (task.become if task.become is not None else play.become) and remote.uid not in (None, 0):
            return rec("failed", f"needs root (become: true) but runs as uid {remote.uid}: run with --become")
        plan = module.plan(args, state)
        if plan.failed and check and is_handler:
            # A dry run cannot know the state the changes before it would leave: not a failure.
            return rec("skipped", "(check mode) would not run as things are now: " + plan.failed)
        if plan.failed:
            return rec("failed", plan.failed)
        if plan.skipped:
            return rec("skipped", plan.skipped)
        if not plan.changed:
            return rec("ok", plan.msg)
        if check:
            if module.assertion:
                return rec("skipped", "(check mode) not run: " + plan.msg)
            return rec("changed", "(check mode) would change: " + plan.msg, plan.diffs)
        pre: list[Op] = [PendingOp(add=pending_add)] if pending_add else []
        # A handler that runs is no longer pending: forgotten in the same round trip, after its ops.
        post: list[Op] = [PendingOp(remove=[task.name])] if is_handler and task.name in (session.pending or {}) else []
        ops = [op.model_copy(update={"stop_on_failure": True}) if post and isinstance(op, ExecOp) else op
               for op in plan.ops]
        results = remote.call(pre + ops + post)
        if post:
            results = results[:-1]
            if not any(r.error for r in results):
                session.pending.pop(task.name, None)
        if cache is not None:
            cache.invalidate(plan.ops)
        if pre:
            if results[0].error:
                return rec("failed", f"could not record the handlers to run on the host ({results[0].error}); "
                                     "nothing was changed")
            session.pending = {**(session.pending or {}), **{r.name: r.model_dump() for r in pending_add}}
            results = results[1:]
    except TransportError as e:
        return rec("unreachable", e.message)
    except HelperError as e:
        return rec("failed", str(e))
    if plan.interpret:
        good, msg = plan.interpret(results)
    else:
        errors = [r.error for r in results if r.error]
        good, msg = (not errors), (errors[0] if errors else plan.msg)
    if not good:
        return rec("failed", msg, plan.diffs)
    if module.assertion:
        return rec("ok", msg)
    backups = [r.backup for r in results if isinstance(r, (WriteResult, SymlinkResult)) and r.backup]
    if backups:
        msg += " (previous content kept as " + ", ".join(backups) + ")"
    return rec("changed", msg, plan.diffs)
