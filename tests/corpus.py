"""Read the recorded real outputs in tests/data/corpus/: header lines, then the verbatim body."""

from __future__ import annotations

import re
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
_HEADER = re.compile(r"^# (source|command|cause|note): ")


def corpus_path(rel: str) -> Path:
    return DATA / "corpus" / rel


def corpus_body(rel: str) -> str:
    """The verbatim output of a corpus file, without its header lines."""
    lines = corpus_path(rel).read_text().splitlines(keepends=True)
    i = 0
    while i < len(lines) and _HEADER.match(lines[i]):
        i += 1
    return "".join(lines[i:])


def corpus_headers(rel: str) -> dict[str, str]:
    out = {}
    for line in corpus_path(rel).read_text().splitlines():
        m = _HEADER.match(line)
        if not m:
            break
        out.setdefault(m.group(1), line[m.end():])
    return out


def constructed_body(rel: str) -> str:
    """A constructed input (first line '# constructed: ...' is dropped)."""
    text = (DATA / "constructed" / rel).read_text()
    assert text.startswith("# constructed:"), f"{rel} must say it is constructed"
    return text.split("\n", 1)[1]
