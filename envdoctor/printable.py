"""Text from a host, a file or a paste, made safe to show on a terminal or pass on (a Slurm drain reason).

Every control character becomes its visible escape (ESC -> `\\x1b`), so an OSC title/clipboard/hyperlink,
a CSI screen clear, a DCS string or a RIS reaches the terminal as harmless text, terminated or not: without
its ESC (or C1 introducer) no sequence can start. Applied at the output edges only; the facts and the
JSON keep the raw text. Pure, and linear in the text.
"""

from __future__ import annotations

import re

# C0 controls, DEL, C1 controls (U+0080-U+009F: 0x9b alone is a CSI on some terminals), lone surrogates
# (they cannot be encoded), line/paragraph separators (they split a line for splitlines and some viewers)
# and the bidi overrides and isolates (they reorder what is shown: "Trojan Source").
_OTHERS = "\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff"
_ONE_LINE = re.compile(f"[\x00-\x1f{_OTHERS}]")
_MULTI_LINE = re.compile(f"[\x00-\x08\x0b-\x1f{_OTHERS}]")  # keeps \t and \n


_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _visible(m: re.Match) -> str:
    if m.group() in _NAMED:
        return _NAMED[m.group()]
    c = ord(m.group())
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def printable(text: object, multiline: bool = False) -> str:
    """`text` as it may be shown: every control character as its escape (`\\x1b`, `\\x9b`, `\\u202e`).
    multiline=True keeps newlines and tabs (evidence, stderr, a diff; a CRLF line end becomes a newline);
    otherwise the result is one line: newline, tab and carriage return are escaped too."""
    if text is None:
        return ""
    s = text if isinstance(text, str) else str(text)
    if multiline:
        s = s.replace("\r\n", "\n")
        return _MULTI_LINE.sub(_visible, s)
    return _ONE_LINE.sub(_visible, s)
