"""What a fix module is: typed arguments, the reads it needs, and a pure `plan` from the host's current
state to the changes (helper ops) and diffs. Check mode is "plan, show, do not apply"."""

from __future__ import annotations

import base64
import difflib
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

from pydantic import BaseModel, ConfigDict, field_validator

from envdoctor.fixes.ops import AttrsOp, Op, OpResult, StatOp, StatResult, WriteOp
from envdoctor.fixes.remote import b64
from envdoctor.redact import redact


class ModuleArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FileAttrs(ModuleArgs):
    """Owner and mode of a file; None keeps what the file has (or root / 0644 for a new file)."""

    mode: int | None = None
    owner: str | None = None
    group: str | None = None

    @field_validator("mode", mode="before")
    @classmethod
    def _octal(cls, v):
        # "0644" / "644" are octal; YAML's unquoted 0644 already arrives as the int 420.
        if isinstance(v, str):
            try:
                return int(v, 8)
            except ValueError:
                raise ValueError(f"mode must be octal like \"0644\", not {v!r}") from None
        return v

    @field_validator("owner", "group", mode="before")
    @classmethod
    def _text(cls, v):
        return None if v is None else str(v)


@dataclass
class FileDiff:
    path: str
    before: str | None  # None: the file does not exist
    after: str | None

    def unified(self) -> str:
        """The diff as shown and saved: secrets in either side redacted (the write itself is not)."""
        a = [] if self.before is None else _lines(redact(self.before))
        b = [] if self.after is None else _lines(redact(self.after))
        lines = list(difflib.unified_diff(a, b, fromfile=self.path if self.before is not None else "/dev/null",
                                          tofile=self.path))
        return "".join(x if x.endswith("\n") else x + "\n\\ No newline at end of file\n" for x in lines)


def _lines(text: str) -> list[str]:
    """Lines ended by newlines only: a file's form feed or \\x85 is part of its line (splitlines would
    break there and mark a missing newline that the file does not miss)."""
    parts = text.split("\n")
    return [p + "\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


@dataclass
class Plan:
    changed: bool
    msg: str
    diffs: list[FileDiff] = field(default_factory=list)
    ops: list[Op] = field(default_factory=list)
    failed: str | None = None  # cannot be planned (a file that does not parse, no systemd...)
    skipped: str | None = None  # nothing to do here, and why (a `creates` guard...)
    # Turns the helper's results of `ops` into (ok, message); default: ok unless an op has "error".
    interpret: Callable[[list[OpResult]], tuple[bool, str]] | None = None


def ok(msg: str) -> Plan:
    return Plan(changed=False, msg=msg)


def failed(msg: str) -> Plan:
    return Plan(changed=False, msg=msg, failed=msg)


class Module:
    name: ClassVar[str]
    Args: ClassVar[type[ModuleArgs]]
    doc: ClassVar[str] = ""
    # An assertion (the proof-run) runs its ops but changes nothing: it reports ok or failed, never
    # changed, and is not run in check mode.
    assertion: ClassVar[bool] = False

    def reads(self, args: Any) -> list[Op]:
        """Helper ops that read what `plan` needs (one round trip)."""
        return []

    def plan(self, args: Any, state: list[Any]) -> Plan:  # pure: `state` holds the results of `reads`
        raise NotImplementedError


def stat_op(path: str, read: bool = True) -> StatOp:
    return StatOp(path=path, read=read)


def write_plan(path: str, st: StatResult, new_text: str, attrs: FileAttrs, what: str,
               create_parents: bool = False, backup: bool = True) -> Plan:
    """The plan that makes file `path` hold `new_text` with `attrs`, given its `stat` result."""
    if st.error:
        return failed(st.error)
    if st.exists and st.type != "file":
        return failed(f"{path} is a {st.type}, not a regular file")
    if st.content_b64:
        try:
            base64.b64decode(st.content_b64).decode("utf-8")
        except UnicodeDecodeError:
            # The plan was made on text with replacement characters: writing it back would alter bytes.
            return failed(f"{path} is not UTF-8 text; left untouched")
    before = st.text
    attrs_differ = st.exists and (
        (attrs.mode is not None and st.mode != attrs.mode)
        or (attrs.owner is not None and attrs.owner not in (st.owner, str(st.uid)))
        or (attrs.group is not None and attrs.group not in (st.group, str(st.gid))))
    common = {"path": path, "mode": attrs.mode, "owner": attrs.owner, "group": attrs.group}
    if before == new_text:
        if attrs_differ:
            return Plan(True, f"{path}: owner/mode changed", ops=[AttrsOp(**common)])
        return ok(f"{path}: up to date")
    op = WriteOp(**common, content_b64=b64(new_text), backup=backup, create_parents=create_parents,
                 expect_sha256=st.sha256)
    return Plan(True, f"{path}: {what}" + (" (new file)" if before is None else ""),
                diffs=[FileDiff(path, before, new_text)], ops=[op])
