"""Find the failure signatures of the knowledge base (envdoctor/data/signatures/) in text. Pure."""

from __future__ import annotations

from envdoctor.facts.diagnosis import SignatureSeen
from envdoctor.knowledge import signatures

_MAX_LINE = 300


def _line_at(text: str, start: int, end: int) -> str:
    a = text.rfind("\n", 0, start) + 1
    b = text.find("\n", end)
    b = len(text) if b < 0 else b
    if end - start < 400:
        # a match that spans a wrap: show the lines it covers, joined
        return " ".join(p.strip() for p in text[a:b].split("\n") if p.strip())[:_MAX_LINE]
    return text[start:start + _MAX_LINE].replace("\n", " ").strip()


def scan_signatures(text: str) -> list[SignatureSeen]:
    """Every signature with a pattern matching `text` (already cleaned for scanning), in KB order."""
    kb = signatures()
    out = []
    for s in kb.signatures:
        for pat in kb.compiled.get(s.id, []):
            m = pat.search(text)
            if m:
                out.append(SignatureSeen(id=s.id, line=_line_at(text, m.start(), m.end())))
                break
    return out


def merge(seen: list[SignatureSeen], more: list[SignatureSeen]) -> list[SignatureSeen]:
    ids = {s.id: s for s in seen}
    for s in more:
        if s.id in ids:
            ids[s.id].count += 1
        else:
            seen.append(s)
            ids[s.id] = s
    return seen
