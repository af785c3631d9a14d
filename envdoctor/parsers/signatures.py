"""Find the failure signatures of the knowledge base (envdoctor/data/signatures/) in text. Pure."""

from __future__ import annotations

from envdoctor.facts.diagnosis import SignatureSeen
from envdoctor.knowledge import signatures

_MAX_LINE = 300


def _line_at(text: str, start: int, end: int) -> str:
    """The line(s) a match covers. In a line longer than fits (the probe's one-line torch JSON), the
    quoted string holding the match, or the match with a little context: never the line's head."""
    a = text.rfind("\n", 0, start) + 1
    b = text.find("\n", end)
    b = len(text) if b < 0 else b
    if end - start >= 400:
        return text[start:start + _MAX_LINE].replace("\n", " ").strip()
    # a match that spans a wrap: show the lines it covers, joined
    line = " ".join(p.strip() for p in text[a:b].split("\n") if p.strip())
    if len(line) <= _MAX_LINE:
        return line
    q0, q1 = text.rfind('"', a, start), text.find('"', end, b)
    if q0 >= 0 and q1 >= 0 and q1 - q0 <= 2 * _MAX_LINE:
        a, b = q0 + 1, q1
    else:
        a, b = max(a, start - 80), min(b, end + 80)
    return text[a:b].replace("\\n", " ").replace("\n", " ").strip()[:2 * _MAX_LINE]


_WINDOW = 1500  # characters around a needle where its pattern may match (patterns span a few lines)
_TRIES = 4  # needle hits tried per pattern: a word repeated all over a huge log must not cost more


def _search(pat, word: str | None, text: str, low: str):
    if word is None or len(text) <= 2 * _WINDOW:
        return pat.search(text) if word is None or word in low else None
    pos, tries = low.find(word), 0
    while pos >= 0 and tries < _TRIES:
        a = text.rfind("\n", 0, max(0, pos - _WINDOW)) + 1
        m = pat.search(text, a, min(len(text), pos + _WINDOW))
        if m:
            return m
        pos, tries = low.find(word, pos + _WINDOW), tries + 1
    return None


def _typed(text: str, m, commands: frozenset[str]) -> bool:
    """The match lies within one line that the user typed at a shell prompt."""
    a = text.rfind("\n", 0, m.start()) + 1
    b = text.find("\n", m.start())
    b = len(text) if b < 0 else b
    return m.end() <= b and text[a:b].strip() in commands


def _outside_commands(pat, text: str, m, commands: frozenset[str]):
    """The first match from `m` on that is not inside a typed command line."""
    while m is not None and _typed(text, m, commands):
        nxt = text.find("\n", m.end())
        m = None if nxt < 0 else pat.search(text, nxt + 1)
    return m


def scan_signatures(text: str, commands: frozenset[str] = frozenset()) -> list[SignatureSeen]:
    """Every signature with a pattern matching `text` (already cleaned for scanning), in KB order.
    Each pattern runs only near its needle (a word every match holds): bounded time on big pastes.
    `commands`: the lines typed at a shell prompt; a failure signature is not matched there (a command
    line is not an error message), a context one (`info`: a container prompt, a docker run) is."""
    kb = signatures()
    low = text.lower()
    out = []
    for s in kb.signatures:
        for pat, word in zip(kb.compiled.get(s.id, []), kb.needles.get(s.id, [])):
            m = _search(pat, word, text, low)
            if m and commands and not s.info:
                m = _outside_commands(pat, text, m, commands)
            if m:
                out.append(SignatureSeen(id=s.id, line=_line_at(text, m.start(), m.end())))
                break
    return out


def find_all(text: str, ids: tuple[str, ...] | set[str]) -> list[tuple[str, int, int]]:
    """Every match (signature id, start, end) of the signatures `ids` in `text`, in text order: for the
    parsers that take values (a version, a capability) from the lines the knowledge base recognises."""
    kb = signatures()
    low = text.lower()
    out = []
    for sid in ids:
        for pat, word in zip(kb.compiled.get(sid, []), kb.needles.get(sid, [])):
            if word is not None and word not in low:
                continue
            out += [(sid, m.start(), m.end()) for m in pat.rx.finditer(text) if m.end() > m.start()]
    return sorted(out, key=lambda x: (x[1], x[0]))


def lines_of(lines: list[str], ids: set[str] | tuple[str, ...]) -> list[str]:
    """The lines a signature of `ids` matches: how a check picks its evidence lines by the knowledge
    base instead of by a phrase of its own."""
    return [line for line in lines if find_all(line, ids)]


def merge(seen: list[SignatureSeen], more: list[SignatureSeen]) -> list[SignatureSeen]:
    ids = {s.id: s for s in seen}
    for s in more:
        if s.id in ids:
            ids[s.id].count += 1
        else:
            seen.append(s)
            ids[s.id] = s
    return seen
