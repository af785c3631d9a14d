"""Modules that manage files: lineinfile, blockinfile, copy, json_merge, symlink."""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import field_validator

from envdoctor.fixes.modules.base import (
    FileAttrs,
    FileDiff,
    Module,
    ModuleArgs,
    Plan,
    failed,
    ok,
    stat_op,
    write_plan,
)
from envdoctor.fixes.ops import StatResult, SymlinkOp


class LineInFileArgs(FileAttrs):
    path: str
    line: str | None = None
    regexp: str | None = None  # the line to replace (the last match); without it, `line` itself is looked for
    state: Literal["present", "absent"] = "present"
    create: bool = True
    create_parents: bool = False

    @field_validator("regexp")
    @classmethod
    def _regexp(cls, v):
        if v is not None:
            try:
                re.compile(v)
            except re.error as e:
                raise ValueError(f"regexp does not compile: {e}") from None
        return v


def _lines(text: str | None) -> list[str]:
    return [] if not text else text.splitlines()


def _join(lines: list[str]) -> str:
    return "".join(x + "\n" for x in lines)


def _missing(a, st: StatResult) -> Plan | None:
    """lineinfile/blockinfile on a file that does not exist: nothing to remove, refused (create: false),
    or None: go on and create it. One that could not be stat-ed or read is a failure naming it: it may
    well hold the line (reporting "nothing to remove" there would be a false success)."""
    if st.error:
        return failed(st.error)
    if a.state == "absent":
        return ok(f"{a.path}: absent, nothing to remove")
    if not a.create:
        return failed(f"{a.path} does not exist (create: false)")
    return None


class LineInFile(Module):
    name = "lineinfile"
    Args = LineInFileArgs
    doc = "Ensure a line is in a file (or absent), replacing the last line that matches `regexp`."

    def reads(self, a):
        return [stat_op(a.path)]

    def plan(self, a: LineInFileArgs, state: list[StatResult]):
        (st,) = state
        if a.state == "present" and a.line is None:
            return failed("lineinfile: `line` is needed with state: present")
        if (st.error or not st.exists) and (refused := _missing(a, st)):
            return refused
        text = st.text
        lines = _lines(text)
        rx = re.compile(a.regexp) if a.regexp else None
        match = (lambda s: bool(rx.search(s))) if rx else (lambda s: s == a.line)
        hits = [i for i, s in enumerate(lines) if match(s)]
        if a.state == "absent":
            new = [s for i, s in enumerate(lines) if i not in hits]
        elif hits:
            new = list(lines)
            new[hits[-1]] = a.line
        else:
            new = lines + [a.line]
        new_text = _join(new)
        if text is not None and new == lines:
            new_text = text  # unchanged lines: keep the file byte for byte (a missing final newline too)
        return write_plan(a.path, st, new_text, a, "line " + ("removed" if a.state == "absent" else "in place"),
                          a.create_parents)


class BlockInFileArgs(FileAttrs):
    path: str
    block: str = ""
    marker: str = "# {mark} ENVDOCTOR MANAGED BLOCK"
    state: Literal["present", "absent"] = "present"
    create: bool = True
    create_parents: bool = False


class BlockInFile(Module):
    name = "blockinfile"
    Args = BlockInFileArgs
    doc = "Ensure a block of lines between two marker lines (replaced as a whole when it differs)."

    def reads(self, a):
        return [stat_op(a.path)]

    def plan(self, a: BlockInFileArgs, state: list[StatResult]):
        (st,) = state
        if (st.error or not st.exists) and (refused := _missing(a, st)):
            return refused
        text = st.text
        lines = _lines(text)
        begin, end = a.marker.replace("{mark}", "BEGIN"), a.marker.replace("{mark}", "END")
        block = [begin] + _lines(a.block) + [end] if a.state == "present" else []
        if begin in lines and end in lines[lines.index(begin):]:
            i = lines.index(begin)
            j = lines.index(end, i)
            new = lines[:i] + block + lines[j + 1:]
        else:
            new = lines + block
        new_text = text if (text is not None and new == lines) else _join(new)
        return write_plan(a.path, st, new_text, a, "block " + ("removed" if a.state == "absent" else "in place"),
                          a.create_parents)


class CopyArgs(FileAttrs):
    path: str
    content: str
    create_parents: bool = False
    backup: bool = True


class Copy(Module):
    name = "copy"
    Args = CopyArgs
    doc = "Write a file with the given content, mode and owner."

    def reads(self, a):
        return [stat_op(a.path)]

    def plan(self, a: CopyArgs, state: list[StatResult]):
        (st,) = state
        return write_plan(a.path, st, a.content, a, "content in place", a.create_parents, a.backup)


class JsonMergeArgs(FileAttrs):
    path: str
    data: dict[str, Any]
    create: bool = True
    create_parents: bool = True
    indent: int = 4


def deep_merge(base: dict, extra: dict) -> dict:
    """`base` with `extra`'s keys set; nested objects are merged, every other key of `base` is kept."""
    out = dict(base)
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


class JsonMerge(Module):
    name = "json_merge"
    Args = JsonMergeArgs
    doc = ("Merge keys into a JSON object file (docker's daemon.json): every key the file has is kept; "
           "a file that does not parse is never touched.")

    def reads(self, a):
        return [stat_op(a.path)]

    def plan(self, a: JsonMergeArgs, state: list[StatResult]):
        (st,) = state
        text = st.text
        if text is None:
            if not a.create:
                return failed(f"{a.path} does not exist (create: false)")
            current: dict = {}
        elif not text.strip():
            current = {}  # an empty daemon.json is valid for docker: no settings
        else:
            try:
                current = json.loads(text)
            except ValueError as e:
                return failed(f"{a.path} is not valid JSON ({e}); left untouched: fix or remove it, then run again")
            if not isinstance(current, dict):
                return failed(f"{a.path} holds a JSON {type(current).__name__}, not an object; left untouched")
        merged = deep_merge(current, a.data)
        if merged == current:
            return write_plan(a.path, st, text, a, "keys already set")  # may still fix owner/mode
        new_text = json.dumps(merged, indent=a.indent) + "\n"
        keys = ", ".join(sorted(a.data))
        return write_plan(a.path, st, new_text, a, f"merged {keys}", a.create_parents)


class SymlinkArgs(ModuleArgs):
    path: str
    target: str
    force: bool = False  # replace a regular file (kept as a backup); never a directory
    require_target: bool = True


class Symlink(Module):
    name = "symlink"
    Args = SymlinkArgs
    doc = "Make `path` a symbolic link to `target` (replaced atomically)."

    def reads(self, a):
        return [stat_op(a.path, read=False), stat_op(a.target, read=False)]

    def plan(self, a: SymlinkArgs, state: list[StatResult]):
        st, tgt = state
        if a.require_target and not tgt.exists:
            return failed(f"{a.target} does not exist; not pointing {a.path} at it")
        if st.type == "link" and st.link_target == a.target:
            return ok(f"{a.path} -> {a.target} already")
        if st.type == "dir":
            return failed(f"{a.path} is a directory, not a link; not replacing it")
        if st.type == "file" and not a.force:
            return failed(f"{a.path} is a regular file, not a link (force: true replaces it, keeping a backup)")
        before = f"-> {st.link_target}\n" if st.type == "link" else (None if not st.exists else f"({st.type})\n")
        return Plan(True, f"{a.path} -> {a.target}", diffs=[FileDiff(a.path, before, f"-> {a.target}\n")],
                    ops=[SymlinkOp(path=a.path, target=a.target, force=a.force)])
