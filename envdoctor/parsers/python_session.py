"""Values from a pasted interactive Python session (pure): what `>>> torch.__version__`,
`>>> torch.version.cuda` and `>>> torch.cuda.is_available()` printed. Users paste these more than any
other output; the answer is an observation of torch itself. Only values are read here: a warning printed
between a prompt and its answer is a message, and the signatures classify it."""

from __future__ import annotations

import re

_PROMPT = re.compile(r"^\s*(?:>>>|In \[\d+\]:)\s*(?P<expr>\S.*?)\s*$")
_EXPRS = {
    "torch.__version__": "version",
    "print(torch.__version__)": "version",
    "torch.version.cuda": "cuda_build",
    "print(torch.version.cuda)": "cuda_build",
    "torch.cuda.is_available()": "is_available",
    "print(torch.cuda.is_available())": "is_available",
    "torch.cuda.device_count()": "device_count",
    "print(torch.cuda.device_count())": "device_count",
}
_ANSWER = re.compile(r"^\s*(?:Out\[\d+\]:\s*)?(?P<value>'[^']*'|\"[^\"]*\"|True|False|None|\d+)\s*$")


_ONE_LINER = re.compile(r"""python[\d.]*(?:\.exe)?\s+-c\s+(?P<q>["'])(?P<code>.*?print\(.*?)(?P=q)""")
_PRINT = re.compile(r"print\((?P<args>[^()]*(?:\(\)[^()]*)*)\)")
_VALUES = re.compile(r"^\s*(?:(?:'[^']*'|\"[^\"]*\"|True|False|None|\d[\w.+]*)\s*)+$")


def _store(out: dict, field: str, v: str) -> None:
    """One printed answer as its value: a version string (None for None), a bool, a count."""
    if field in ("version", "cuda_build"):
        out[field] = None if v == "None" else v.strip("'\"")
    elif field == "is_available" and v in ("True", "False"):
        out[field] = v == "True"
    elif field == "device_count" and v.isdigit():
        out[field] = int(v)


def _one_liner(line: str, following: list[str], out: dict) -> None:
    """`python -c "import torch; print(torch.__version__, torch.cuda.is_available())"` then `2.1.0 False`;
    several print() calls answer on as many lines (lines of prose between are passed over)."""
    m = _ONE_LINER.search(line)
    if not m:
        return
    exprs = [e.strip() for p in _PRINT.finditer(m.group("code")) for e in p.group("args").split(",")]
    if not exprs or any(e not in _EXPRS for e in exprs):
        return
    values: list[str] = []
    for x in following:
        if _VALUES.match(x):
            values += x.split()
        elif values:
            break
        if len(values) >= len(exprs):
            break
    if len(values) != len(exprs):
        return
    for e, v in zip(exprs, values):
        _store(out, _EXPRS[e], v)


def session_values(text: str) -> dict:
    """{"version": "2.2.0+cpu", "is_available": False, ...} for the expressions the session shows."""
    out: dict = {}
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if "-c" in line and "print(" in line:
            _one_liner(line, [x for x in lines[i + 1:i + 8] if x.strip()][:4], out)
        m = _PROMPT.match(line)
        if not m or m.group("expr") not in _EXPRS:
            continue
        field = _EXPRS[m.group("expr")]
        for nxt in lines[i + 1:i + 12]:  # a warning may sit between the prompt and its answer
            if _PROMPT.match(nxt):
                break
            a = _ANSWER.match(nxt)
            if a:
                _store(out, field, a.group("value"))
                break
    return out
