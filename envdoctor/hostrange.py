"""Slurm-style host lists: `gpu[01-16]`, `node[1-3,7],login1`, `rack[1-2]-gpu[01-04]`.

Pure string work. Zero padding follows the range's first bound (`[01-16]` -> gpu01..gpu16), as in
Slurm's hostlist syntax. A comma inside brackets belongs to the range, outside it separates hosts.
"""

from __future__ import annotations

import re

MAX_HOSTS = 100_000  # a typo such as gpu[1-999999999] must be an error, not an out-of-memory
MAX_BOUND_DIGITS = 12  # a bound is a host number: longer is a typo (and int() of 5000 digits raises)

_BRACKET = re.compile(r"\[([^\[\]]*)\]")


class HostRangeError(ValueError):
    pass


def split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside brackets."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth < 0:
                raise HostRangeError(f"unbalanced ']' in {text!r}")
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if depth:
        raise HostRangeError(f"unclosed '[' in {text!r}")
    parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


def _expand_spec(spec: str, whole: str) -> list[str]:
    out: list[str] = []
    for item in spec.split(","):
        item = item.strip()
        if not item:
            raise HostRangeError(f"empty item in [{spec}] of {whole!r}")
        lo, sep, hi = item.partition("-")
        if not lo.isdigit() or (sep and not hi.isdigit()):
            raise HostRangeError(f"bad range {short(item)!r} in {short(whole)!r} (expected N or N-M with digits)")
        check_bounds(lo, hi or lo, whole)
        if not sep:
            out.append(lo)
            continue
        a, b = int(lo), int(hi)
        if b < a:
            raise HostRangeError(f"range {short(item)!r} in {short(whole)!r} runs backwards")
        if b - a + 1 > MAX_HOSTS:
            raise HostRangeError(f"range {short(item)!r} in {short(whole)!r} names more than {MAX_HOSTS} hosts")
        width = len(lo) if lo.startswith("0") else 0
        out.extend(str(n).zfill(width) for n in range(a, b + 1))
        check_count(len(out), whole)  # many items in one bracket add up
    return out


def short(text: str, n: int = 60) -> str:
    """A user's text, cut for an error line (a 5000-digit bound must not fill the screen)."""
    return text if len(text) <= n else text[: n - 3] + "..."


def check_bounds(lo: str, hi: str, whole: str) -> None:
    for bound in (lo, hi):
        if len(bound) > MAX_BOUND_DIGITS:
            raise HostRangeError(f"range bound of {len(bound)} digits in {short(whole)!r} "
                                 f"(at most {MAX_BOUND_DIGITS})")


def check_count(count: int, whole: str) -> None:
    if count > MAX_HOSTS:
        raise HostRangeError(f"{short(whole)!r} names more than {MAX_HOSTS} hosts")


def expand_one(pattern: str) -> list[str]:
    """Expand one host pattern (no top-level commas); several bracket groups multiply out. The count is
    known before a name is made, and no recursion: 2,000 bracket groups are not a RecursionError."""
    parts: list[list[str]] = []
    count, rest = 1, pattern
    while m := _BRACKET.search(rest):
        head = rest[: m.start()]
        if "[" in head or "]" in head:
            raise HostRangeError(f"unbalanced brackets in {short(pattern)!r}")
        values = _expand_spec(m.group(1), pattern)
        count *= len(values)
        check_count(count, pattern)
        parts += [[head], values]
        rest = rest[m.end():]
    if "[" in rest or "]" in rest:
        raise HostRangeError(f"unbalanced brackets in {short(pattern)!r}")
    out = [""]
    for values in parts + [[rest]]:
        out = [o + v for o in out for v in values]
    return out


def expand(text: str) -> list[str]:
    """`node[1-3,7],login1` -> [node1, node2, node3, node7, login1] (order kept, duplicates dropped)."""
    seen: dict[str, None] = {}
    for part in split_top_level(text):
        for h in expand_one(part):
            seen.setdefault(h, None)
    return list(seen)


def is_range(text: str) -> bool:
    return "[" in text or "," in text
