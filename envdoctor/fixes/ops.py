"""The fix helper's ops and their results, typed: what the controller sends (one model per op) and what
comes back (one model per kind of result). The helper itself (helper.py) runs on the target with only
the standard library, so the wire between them stays JSON; these models are its two ends here."""

from __future__ import annotations

import base64
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict

# -- what the controller sends ---------------------------------------------------------------------


class Op(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    op: str
    # Fields sent even when None: for a write, expect_sha256=None means "the file must not exist yet",
    # which is not the same as leaving it out ("any content").
    KEEP_NONE: ClassVar[frozenset[str]] = frozenset()

    def wire(self) -> dict[str, Any]:
        """The op as the helper reads it (a field left as None is not sent)."""
        return {k: v for k, v in self.model_dump().items() if v is not None or k in self.KEEP_NONE}


class StatOp(Op):
    op: Literal["stat"] = "stat"
    path: str
    read: bool = False  # also the content (base64) and its sha256, for a regular file
    max_bytes: int | None = None


class WhichOp(Op):
    op: Literal["which"] = "which"
    names: list[str] = []


class ExecOp(Op):
    """A command: `argv`, or a shell line run by `sh -c`; on timeout its process group is killed."""

    op: Literal["exec"] = "exec"
    argv: list[str] | None = None
    shell: str | None = None
    timeout: float = 600
    chdir: str | None = None
    stdin: str | None = None
    stop_on_failure: bool | None = None  # a non-zero exit stops the ops after it in the same request

    @property
    def shown(self) -> str:
        return self.shell if self.shell is not None else " ".join(self.argv or [])


class FileAttrsOp(Op):
    path: str
    mode: int | None = None
    owner: str | None = None
    group: str | None = None


class WriteOp(FileAttrsOp):
    op: Literal["write"] = "write"
    content_b64: str
    backup: bool = True
    create_parents: bool = False
    expect_sha256: str | None  # the content the plan was made on; None: the file did not exist
    KEEP_NONE: ClassVar[frozenset[str]] = frozenset({"expect_sha256"})


class AttrsOp(FileAttrsOp):
    op: Literal["attrs"] = "attrs"


class SymlinkOp(Op):
    op: Literal["symlink"] = "symlink"
    path: str
    target: str
    force: bool = False


class LockOp(Op):
    op: Literal["lock"] = "lock"
    token: str
    wait: float = 90.0
    holder: str = "?"


class UnlockOp(Op):
    op: Literal["unlock"] = "unlock"
    token: str


class PendingHandler(BaseModel):
    """A handler notified by a change and not yet run, as the target records it: enough to run it
    from a later play. Read back from the target, so unknown keys are kept (and ignored)."""

    model_config = ConfigDict(extra="allow")
    name: str
    module: str = ""
    args: dict[str, Any] | None = None
    where: str = ""
    play: str | None = None
    become: bool = False


class PendingOp(Op):
    """Read the pending handlers; with `add`/`remove`, record or forget some first."""

    op: Literal["pending"] = "pending"
    add: list[PendingHandler] | None = None
    remove: list[str] | None = None


# The ops that change one file and nothing else (after them, only reads of that path are stale).
FILE_WRITES = (WriteOp, AttrsOp, SymlinkOp)

# -- what comes back -------------------------------------------------------------------------------


class OpResult(BaseModel):
    """One op's result; `error` when it failed (or was not run after an earlier failure)."""

    model_config = ConfigDict(extra="allow")
    error: str | None = None


class StatResult(OpResult):
    exists: bool = False
    type: Literal["file", "dir", "link", "other"] | None = None
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    owner: str | None = None
    group: str | None = None
    size: int | None = None
    link_target: str | None = None
    resolves_to: str | None = None
    target_exists: bool | None = None
    content_b64: str | None = None
    sha256: str | None = None

    @property
    def text(self) -> str | None:
        """The content read (stat with read=True) as text; None when the file does not exist."""
        if not self.exists:
            return None
        return base64.b64decode(self.content_b64 or "").decode("utf-8", "replace")


class ExecResult(OpResult):
    rc: int | None = None
    stdout: str = ""
    stderr: str = ""
    not_found: bool = False
    timed_out: bool = False


class WhichResult(OpResult):
    paths: dict[str, str | None] = {}


class WriteResult(OpResult):
    written: int | None = None
    backup: str | None = None
    sha256: str | None = None


class SymlinkResult(OpResult):
    backup: str | None = None


class LockResult(OpResult):
    locked: bool = False
    took_over: bool = False


class PendingResult(OpResult):
    pending: dict[str, dict[str, Any]] = {}


_RESULTS: dict[type[Op], type[OpResult]] = {
    StatOp: StatResult, ExecOp: ExecResult, WhichOp: WhichResult, WriteOp: WriteResult,
    SymlinkOp: SymlinkResult, LockOp: LockResult, PendingOp: PendingResult}


def result_of(op: Op, raw: dict[str, Any]) -> OpResult:
    """The helper's answer to `op` as its result model; an error answer ("not run: ...") fits every one."""
    return _RESULTS.get(type(op), OpResult).model_validate(raw)
