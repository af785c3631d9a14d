"""Host lists in Slurm's syntax: `gpu[01-16]`, `node[1-3,7],login1`, `rack[1-2]-gpu[01-04]`. ClusterShell's
NodeSet makes the names and folds them back (`gpu[01-12,14]`); this module reads what the user typed and
hands NodeSet only what it has checked:

- the counts first: `gpu[1-999999999]` is an error before a name is made (NodeSet holds every number);
- text around a range is literal (NodeSet reads `@` as a group, `!`, `&`, `^` as operators);
- hosts come in the order written (NodeSet sorts), duplicates dropped;
- zero padding follows the range's first bound, as in Slurm: `[01-100]` is gpu01..gpu100 (NodeSet
  refuses bounds of different widths). A comma inside brackets belongs to the range, outside it
  separates hosts.
"""

from __future__ import annotations

import itertools
import re

from ClusterShell.NodeSet import RESOLVER_NOGROUP, NodeSet, NodeSetBase
from ClusterShell.RangeSet import RangeSet, RangeSetND

MAX_HOSTS = 100_000  # a typo such as gpu[1-999999999] must be an error, not an out-of-memory
MAX_BOUND_DIGITS = 12  # a bound is a host number: longer is a typo (and int() of 5000 digits raises)

_BRACKET = re.compile(r"\[([^\[\]]*)\]")
_FOLDABLE = re.compile(r"[A-Za-z0-9_.\-]+")  # a name NodeSet reads as a name and nothing more


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


def short(text: str, n: int = 60) -> str:
    """A user's text, cut for an error line (a 5000-digit bound must not fill the screen)."""
    return text if len(text) <= n else text[: n - 3] + "..."


def is_number(text: str) -> bool:
    return text.isascii() and text.isdigit()  # "²" is a digit to str.isdigit, and int() refuses it


def check_bounds(lo: str, hi: str, whole: str) -> None:
    for bound in (lo, hi):
        if len(bound) > MAX_BOUND_DIGITS:
            raise HostRangeError(f"range bound of {len(bound)} digits in {short(whole)!r} "
                                 f"(at most {MAX_BOUND_DIGITS})")


def check_count(count: int, whole: str) -> None:
    if count > MAX_HOSTS:
        raise HostRangeError(f"{short(whole)!r} names more than {MAX_HOSTS} hosts")


# --- a pattern as literal text and ranges, each range a list of runs ------------------------------
# A run is a RangeSet whose sorted order is the order written (bounds ascending, one padding), or a
# letter (Ansible's [a:f]). A range written out of order ([7,1-3]) is several runs.

class Runs(list):
    def __init__(self):
        super().__init__()
        self._last: tuple[int, int] | None = None  # the last run's padding and highest number

    def add(self, lo: str, hi: str, step: int = 1) -> None:
        """The numbers lo..hi (checked digit strings, lo <= hi), padded to lo's width if lo has a leading 0."""
        a, b = int(lo), int(hi)
        pad = len(lo) if lo.startswith("0") and len(lo) > 1 else 0
        if self._last is None or self._last[0] != pad or a <= self._last[1]:
            self.append(RangeSet())
        self[-1].add_range(a, b + 1, step, pad)
        self._last = (pad, b)

    def size(self) -> int:
        return sum(len(r) if isinstance(r, RangeSet) else 1 for r in self)


def names(literals: list[str], ranges: list[Runs], whole: str) -> list[str]:
    """literals[0] range[0] literals[1] ... literals[-1], multiplied out in the order written (the first
    range outermost). The count is checked before a name is made. NodeSet multiplies the ranges from the
    last one written out of order on; the values of the ranges before it are spelled out."""
    total = 1
    for runs in ranges:
        total *= runs.size()
        check_count(total, whole)
    split = max((i for i, runs in enumerate(ranges) if len(runs) > 1), default=0)
    spelled = [[v for run in runs for v in ([run] if isinstance(run, str) else run.striter())]
               for runs in ranges[:split]]
    out: list[str] = []
    for values in itertools.product(*spelled):
        for first in ranges[split] if ranges else [None]:
            out += _multiply(literals, [*values, first, *(runs[0] for runs in ranges[split + 1:])])
    return out


def _multiply(literals: list[str], dims: list) -> list[str]:
    """Names of literals[0] dims[0] literals[1] ...: a dim is a RangeSet, or text put in as it is."""
    template, numbers = literals[0].replace("%", "%%"), []
    for dim, literal in zip(dims, literals[1:]):
        if isinstance(dim, RangeSet):
            template += "%s"
            numbers.append(dim)
        else:
            template += (dim or "").replace("%", "%%")
        template += literal.replace("%", "%%")
    if not numbers:
        return [template % ()]
    # NodeSetBase takes the template and its numbers as they are: the user's text is not parsed again
    return list(NodeSetBase(template, numbers[0] if len(numbers) == 1 else RangeSetND([numbers])))


def _slurm_runs(spec: str, whole: str) -> Runs:
    runs, count = Runs(), 0
    for item in spec.split(","):
        item = item.strip()
        if not item:
            raise HostRangeError(f"empty item in [{spec}] of {whole!r}")
        lo, sep, hi = item.partition("-")
        if not is_number(lo) or (sep and not is_number(hi)):
            raise HostRangeError(f"bad range {short(item)!r} in {short(whole)!r} (expected N or N-M with digits)")
        hi = hi or lo
        check_bounds(lo, hi, whole)
        if int(hi) < int(lo):
            raise HostRangeError(f"range {short(item)!r} in {short(whole)!r} runs backwards")
        if int(hi) - int(lo) + 1 > MAX_HOSTS:
            raise HostRangeError(f"range {short(item)!r} in {short(whole)!r} names more than {MAX_HOSTS} hosts")
        count += int(hi) - int(lo) + 1
        check_count(count, whole)  # many items in one bracket add up
        runs.add(lo, hi)
    return runs


def expand_one(pattern: str) -> list[str]:
    """Expand one host pattern (no top-level commas); several bracket groups multiply out, the first
    outermost. No recursion: 2,000 bracket groups are not a RecursionError."""
    literals, ranges, rest, total = [], [], pattern, 1
    while m := _BRACKET.search(rest):
        head = rest[: m.start()]
        if "[" in head or "]" in head:
            raise HostRangeError(f"unbalanced brackets in {short(pattern)!r}")
        literals.append(head)
        ranges.append(_slurm_runs(m.group(1), pattern))
        total *= ranges[-1].size()
        check_count(total, pattern)
        rest = rest[m.end():]
    if "[" in rest or "]" in rest:
        raise HostRangeError(f"unbalanced brackets in {short(pattern)!r}")
    return names(literals + [rest], ranges, pattern)


def expand(text: str) -> list[str]:
    """`node[1-3,7],login1` -> [node1, node2, node3, node7, login1] (order kept, duplicates dropped)."""
    seen: dict[str, None] = {}
    for part in split_top_level(text):
        for h in expand_one(part):
            seen.setdefault(h, None)
    return list(seen)


def is_range(text: str) -> bool:
    return "[" in text or "," in text


def fold(hosts: list[str]) -> list[str]:
    """Host names as NodeSet folds them, for a report: gpu01..gpu12, gpu14 -> ["gpu[01-12,14]"]. A name
    that is more than letters, digits, `.`, `_` and `-` (a paste's path, user@host:port, an address in
    brackets) is not folded: it follows, as it is, once."""
    plain = [h for h in hosts if _FOLDABLE.fullmatch(h)]
    other = [h for h in dict.fromkeys(hosts) if not _FOLDABLE.fullmatch(h)]
    if not plain:
        return other
    folded = str(NodeSet.fromlist(plain, resolver=RESOLVER_NOGROUP))  # no group files: a name is a name
    return sorted(split_top_level(folded)) + other
