"""A filesystem in /etc/fstab and as mounted now: the fstab line for the mount point is ensured, and a
mounted filesystem whose options differ is remounted (`mount -o remount,OPTS PATH`)."""

from __future__ import annotations

import re
from typing import Literal

from envdoctor.fixes.modules.base import (
    FileAttrs,
    Module,
    ModuleArgs,
    Plan,
    failed,
    stat_op,
    write_plan,
)
from envdoctor.fixes.modules.command import interpret_exec
from envdoctor.fixes.ops import ExecOp, OpResult, StatResult


class MountArgs(ModuleArgs):
    path: str
    src: str
    fstype: str
    opts: str = "defaults"
    dump: int = 0
    passno: int = 0
    state: Literal["mounted", "present"] = "mounted"  # present: fstab only
    fstab: str = "/etc/fstab"


_SIZE = re.compile(r"^(\d+)([kmgKMG]?)$")


def size_bytes(value: str, mem_total: int | None) -> int | None:
    """tmpfs `size=`: bytes, k/m/g suffix, or a percentage of RAM."""
    if value.endswith("%"):
        return int(mem_total * int(value[:-1]) / 100) if mem_total and value[:-1].isdigit() else None
    m = _SIZE.match(value)
    if not m:
        return None
    return int(m.group(1)) * {"": 1, "k": 1024, "m": 1 << 20, "g": 1 << 30}[m.group(2).lower()]


def _opts(s: str) -> dict[str, str | None]:
    out = {}
    for o in s.split(","):
        k, _, v = o.partition("=")
        out[k] = v if _ else None
    return out


def options_differ(wanted: str, current: str, mem_total: int | None) -> list[str]:
    """The wanted options the live mount does not have (size compared in bytes, within 1 MiB)."""
    cur = _opts(current)
    diff = []
    for k, v in _opts(wanted).items():
        if k in ("defaults", "auto", "nofail", "x-systemd.automount"):
            continue
        if k == "size" and v is not None:
            # The kernel leaves `size=` out of a tmpfs's options when it is its default, half of RAM.
            want, have = size_bytes(v, mem_total), size_bytes(cur.get("size") or "50%", mem_total)
            if want is None or have is None or abs(want - have) > (1 << 20):
                diff.append(f"size={v}")
        elif cur.get(k, "<absent>") != v:
            diff.append(k if v is None else f"{k}={v}")
    return diff


class Mount(Module):
    name = "mount"
    Args = MountArgs
    doc = "Ensure an fstab entry and remount the live filesystem when its options differ."

    def reads(self, a: MountArgs):
        return [stat_op(a.fstab), stat_op("/proc/self/mounts"), stat_op("/proc/meminfo")]

    def plan(self, a: MountArgs, state: list[StatResult]):
        fst, mounts_st, mem_st = state
        if fst.error:
            return failed(fst.error)
        text = fst.text or ""
        entry = f"{a.src}\t{a.path}\t{a.fstype}\t{a.opts}\t{a.dump}\t{a.passno}"
        lines = text.splitlines()
        idx = [i for i, ln in enumerate(lines)
               if ln.split() and not ln.lstrip().startswith("#") and len(ln.split()) > 1 and ln.split()[1] == a.path]
        new = list(lines)
        if idx:
            old = lines[idx[-1]].split()
            same = old[:4] == entry.split()[:4] and old[4:6] in ([str(a.dump), str(a.passno)], [])
            if not same:
                new[idx[-1]] = entry
        else:
            new.append(entry)
        new_text = text if new == lines else "".join(x + "\n" for x in new)
        plan = write_plan(a.fstab, fst, new_text, FileAttrs(), f"fstab entry for {a.path}")
        if plan.failed or a.state == "present":
            return plan
        mounts = mounts_st.text or ""
        mem_total = None
        for ln in (mem_st.text or "").splitlines():
            if ln.startswith("MemTotal:"):
                mem_total = int(ln.split()[1]) * 1024
        live = [ln.split() for ln in mounts.splitlines() if len(ln.split()) >= 4 and ln.split()[1] == a.path]
        if not live:
            op = ExecOp(argv=["mount", a.path], timeout=120)
            why = f"mount {a.path}"
        else:
            missing = options_differ(a.opts, live[-1][3], mem_total)
            if not missing:
                return plan
            opts = ",".join(o for o in a.opts.split(",") if o != "defaults")
            op = ExecOp(argv=["mount", "-o", f"remount,{opts}", a.path], timeout=120)
            why = f"remount {a.path} ({', '.join(missing)}; now {live[-1][3]})"
        n_file_ops = len(plan.ops)

        def interpret(results: list[OpResult]):
            for r in results[:n_file_ops]:
                if r.error:
                    return False, r.error
            return interpret_exec(op.shown)(results[n_file_ops:])

        msgs = ([plan.msg] if plan.changed else []) + [why]
        return Plan(True, "; ".join(msgs), diffs=plan.diffs, ops=plan.ops + [op], interpret=interpret)
