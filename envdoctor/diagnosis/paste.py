"""Pasted text as users paste it (pure but for `read_paste`, which reads a bounded amount of a file).
Beside bundle.py, not in parsers/: a bundle is loaded from a paste, and the parsers read the bundle.

Decoding: UTF-8, or UTF-16/UTF-32 with a BOM (a PowerShell `>` redirect), or BOM-less UTF-16.
Cleaning for every parser: CRLF, ANSI colour codes, Markdown fences and `>` quoting. Scanning for
failure signatures additionally drops shell prompts and syslog/journal/dmesg prefixes and re-joins
lines a terminal hard-wrapped at its width."""

from __future__ import annotations

import codecs
import re
import textwrap
from pathlib import Path

from envdoctor.errors import UserError

MAX_SCAN = 4 * 2**20  # bytes of a paste that are read: the head and the tail of a bigger file
_TAIL = 2**20

_BOMS = [(codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"), (codecs.BOM_UTF8, "utf-8"),
         (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")]


# A crash leaves a block of NULs where a log file was preallocated; no text, UTF-16 included, has 8 in a row.
_NUL_RUN = re.compile(rb"\0{8,}")


def decode(data: bytes) -> str | None:
    """Text of a paste, or None when it is binary. Blocks of NUL bytes (a log cut by a crash) are skipped."""
    for bom, enc in _BOMS:
        if data.startswith(bom):
            return data[len(bom):].decode(enc, "replace")
    if b"\0" * 8 in data:
        data = _NUL_RUN.sub(b"\n", data)
    if len(data) >= 4 and data.count(b"\0") > len(data) // 4:
        # BOM-less UTF-16: every other byte is NUL for ASCII text
        enc = "utf-16-le" if data[1:2] == b"\0" else "utf-16-be"
        text = data.decode(enc, "replace")
    else:
        # UTF-8 text holds no NUL: a stray one is damage, skipped like the blocks
        text = data.decode("utf-8", "replace").replace("\0", "")
    sample = text[:65536]
    bad = sum(1 for c in sample if c == "\0" or (ord(c) < 32 and c not in "\n\r\t\f\v\x1b\b"))
    if bad > max(8, len(sample) // 100) or sample.count("\ufffd") > max(16, len(sample) // 20):
        return None
    return text


def read_paste(path: Path) -> tuple[str, list[str]]:
    """(text, notes) of a pasted file: at most MAX_SCAN bytes are read (head and tail), so a huge paste
    costs bounded time and memory. Raises UserError for an empty or binary file."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        if size > MAX_SCAN:
            head = fh.read(MAX_SCAN - _TAIL)
            fh.seek(size - _TAIL)
            tail = fh.read(_TAIL)
            # keep the encoding's unit alignment for UTF-16/32 tails
            unit = 4 if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)) else \
                2 if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) else 1
            tail = tail[(size - _TAIL) % unit:] if unit > 1 else tail
            data = head + (b"\n" if unit == 1 else "\n".encode(_bom_encoding(head))) + tail
        else:
            data = fh.read()
    return paste_from_bytes(data, size, str(path))


def paste_from_bytes(data: bytes, size: int, where: str) -> tuple[str, list[str]]:
    """(text, notes) of paste bytes already read (a file's head and tail, or all a pipe gave, `size` in all)."""
    notes = []
    if size > MAX_SCAN:
        notes.append(f"the paste is {size / 2**20:.0f} MiB: scanned its first {(MAX_SCAN - _TAIL) / 2**20:.0f} MiB "
                     f"and last {_TAIL / 2**20:.0f} MiB only")
    if not data.strip(b" \t\r\n\0\xef\xbb\xbf\xff\xfe"):
        raise UserError("the file is empty: nothing to diagnose", where=where)
    text = decode(data)
    if text is None:
        raise UserError("binary data, not a text paste or an envdoctor bundle", where=where)
    text, labels = without_case_header(clean(text))
    if labels:
        notes.append(f"left out the {labels} header lines of a collected case (# source/command/cause/class/note: "
                     "who collected it and what the thread concluded, not evidence)")
    return text, notes


# The header of a real case in the test corpus (tests/data/corpus/cases/INDEX.md): the collector's labels,
# among them the concluded cause, which must not be read as evidence when such a file is diagnosed.
_CASE_HEADER = re.compile(r"# (?:source|command|cause|class|note): [^\n]*\n")


def without_case_header(text: str) -> tuple[str, int]:
    """`text` without a leading block of case-header lines, and how many there were."""
    n, pos = 0, 0
    while m := _CASE_HEADER.match(text, pos):
        n, pos = n + 1, m.end()
    return (text[pos:], n) if n else (text, 0)


def head_and_tail(data: bytes) -> bytes:
    """What read_paste keeps of a big file, from bytes already in memory (a pipe cannot seek)."""
    if len(data) <= MAX_SCAN:
        return data
    head = data[:MAX_SCAN - _TAIL]
    unit = 4 if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)) else \
        2 if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) else 1
    tail = data[len(data) - _TAIL:]
    tail = tail[(len(data) - _TAIL) % unit:] if unit > 1 else tail
    return head + (b"\n" if unit == 1 else "\n".encode(_bom_encoding(head))) + tail


def _bom_encoding(head: bytes) -> str:
    return next((enc for bom, enc in _BOMS if head.startswith(bom)), "utf-8")


_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][A-Z0-9]")
_FENCE = re.compile(r"^\s*(?:```|~~~)[\w+-]*\s*$")
_QUOTE = re.compile(r"^(?:[ \t]{0,3}>[ \t]?)+")


def clean(text: str) -> str:
    """What every parser reads: no CR, no ANSI codes, no Markdown fences or `>` quoting, no BOM."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff")
    if "\x1b" in text:
        text = _ANSI.sub("", text)
    lines = text.split("\n")
    quoted = sum(1 for l in lines if l.startswith(">") and not l.startswith(">>>"))
    out = []
    for line in lines:
        if quoted and line.startswith(">") and not line.startswith(">>>"):
            line = _QUOTE.sub("", line)
        if _FENCE.match(line):
            continue
        out.append(line)
    body = [l for l in out if l.strip()]
    if body and all(l.startswith(("    ", "\t")) for l in body):
        # The whole paste is a Markdown indented code block (four spaces or a tab): read it unindented;
        # dedenting keeps the relative indentation that nvidia-smi -q's sections rely on.
        return textwrap.dedent("\n".join(out))
    return "\n".join(out)


# Prompts: "$ cmd", "# cmd", "user@host:~$ cmd", "(venv) user@h:~/x$ cmd", ">>> ", "... ", "PS C:\x> ", "C:\x>", "In [3]: ",
# and the arrow prompts of zsh/fish themes ("❯ cmd", "➜ cmd")
_PROMPT = re.compile(r"^\s*(?:\([\w.-]+\)\s*)?(?:(?:(?:[\w.-]+@[\w.-]+(?::[^\s$#]*)?\s?[$#%])|[$#%❯➜]|>>>|\.\.\.|PS [A-Za-z]:\\[^>]*>"
                     r"|In \[\d+\]:|Out\[\d+\]:)\s+|[A-Za-z]:\\[^>\n]*>\s*(?=\S))")  # cmd.exe: "C:\Users\x>nvidia-smi", no blank
# syslog "Mar  4 10:12:01 host kernel: ", journal short-iso "2024-03-04T10:12:01+0000 host kernel: ",
# dmesg "[12345.678901] " / "[Tue Mar  4 10:12:01 2024] ", and bare ISO timestamps
_PREFIX = re.compile(r"^(?:\w{3} [ \d]\d \d\d:\d\d:\d\d [\w.-]+ [\w./-]+(?:\[\d+\])?: |"
                     r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)? (?:[\w.-]+ [\w./-]+(?:\[\d+\])?: )?|"
                     r"\[\s*\d+\.\d+\] |\[\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\] |"
                     r"[\w.-]+[_-]\d+\s+\| )")  # docker compose log lines: "web_1  | "


def for_scanning(text: str) -> str:
    """The cleaned text with prompts and log prefixes dropped and hard-wrapped lines re-joined."""
    return scanned_with_commands(text)[0]


def scanned_with_commands(text: str) -> tuple[str, frozenset[str]]:
    """for_scanning's text, and the lines of it that were typed at a shell prompt (without the prompt):
    a command line is what the user ran, not what the software answered."""
    lines, commands = [], set()
    for i, line in enumerate(text.split("\n")):
        line = _PREFIX.sub("", line, count=1)
        stripped = _PROMPT.sub("", line, count=1)
        # a Python prompt (">>> ", "... ", "In [3]:") is followed by code, not by a shell command
        if stripped != line and not line.lstrip().startswith((">>>", "...", "In [", "Out[")):
            commands.add(i)
        lines.append(stripped)
    return _unwrap(lines, commands), frozenset(lines[i].strip() for i in commands if lines[i].strip())


def _unwrap(lines: list[str], commands: set[int] = frozenset()) -> str:
    """A terminal wraps at its width: many lines of one exact length >= 60 are one line each with the next."""
    lengths: dict[int, int] = {}
    for l in lines:
        if len(l) >= 60:
            lengths[len(l)] = lengths.get(len(l), 0) + 1
    width = max(lengths, key=lengths.get) if lengths else 0
    if not width or lengths[width] < 3 or lengths[width] * 20 < len(lines):
        return "\n".join(lines)
    out: list[str] = []
    joining, run, head = False, 0, ""
    for i, l in enumerate(lines):
        # a wrapped message continues; a new record (same start as the last one), a long run or a
        # command typed at a prompt does not
        if joining and run < 8 and not (head and l.startswith(head)) and i not in commands:
            out[-1] += l
            run += 1
        else:
            out.append(l)
            run, head = 0, l[:12]
        joining = len(l) == width
    return "\n".join(out)
