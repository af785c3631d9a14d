"""Secrets out of everything envdoctor shows or saves: one place that knows what a secret looks like.

By *name*: a variable or key whose name holds a word of data/secret_names.yaml (TOKEN, SECRET, PASSWORD,
API_KEY, AUTH, COOKIE, SESSION...; any prefix, any case; as a word of its own: AUTH_TOKEN and
Authorization are secrets, unauthenticated_get is not) has its value replaced, in
`NAME=value`, `NAME: value` (at the start of a line) and JSON `"name": "value"`.
By *shape* (data/secret_shapes.yaml, which the probe applies on the target too): the password of URL
userinfo (`scheme://user:pass@host`, `scheme://:pass@host`), `Bearer`/`Basic`/`Authorization:`
credentials, PEM and PGP private keys, storage connection strings and SAS signatures, kubeconfig key data,
netrc, `curl -u`, `smbclient -U user%pass`, openssl's `pass:`, ODBC `Pwd=`, credential CSVs, webhook URLs,
tracker login keys, the token formats that announce themselves (GitHub, GitLab, Hugging Face, NVIDIA
API, OpenAI, Slack, Google, Stripe, npm, AWS key ids long-term and temporary, JWTs), and the flags whose
value is a password only after their program (`sshpass -p`, `mysql -pVALUE`, `redis-cli -a`, `ipmitool -P`).
Linear in the input, whatever it holds (tests/security/test_redaction_linear.py).

The value becomes MARK, so a report can say that something was redacted; the text keeps its shape
(a JSON document stays JSON), so the parsers still read it.
"""

from __future__ import annotations

import re
from typing import Any

from envdoctor.knowledge import load
from envdoctor.vocabulary import secret_name_words, secret_shapes

MARK = "<redacted>"

# The words of a secret name live in data/secret_names.yaml; the probe gets the same list from the controller
# (envdoctor/vocabulary.py), so what the target hides and what envdoctor hides are one list.
SECRET_NAME_WORDS = secret_name_words()
# Values that state a setting (`PasswordAuthentication: no`, `token_required=true`): kept under a secret name.
_SETTING_VALUES = frozenset(str(v).lower() for v in load("secret_names")["setting_values"])
_NAME_CHARS = r"[A-Za-z0-9_.\-]"

# Every pattern here is linear in its input, because target output and pastes of any length go through
# it: a repetition either is bounded ({0,256}), or cannot start inside a run of its own characters (a
# lookbehind), or always succeeds on the whole run it starts (checks on the run are done in Python after).
# Name-based forms, tried on the lines that hold a secret word (cheap on a long paste).
_JSON_PAIR = re.compile(r'"(?P<name>[^"\\]{0,200})"\s*:\s*"(?P<value>(?:[^"\\]|\\.)*)"')
# An assignment, or a comparison in an expression (`password == "x"`, `!=`): the value is the right-hand side,
# never the second "=" (a playbook's `when:` printed `sshd_password_authentication =<redacted> "no"`).
_ASSIGN = re.compile(rf"(?<!{_NAME_CHARS})(?P<name>{_NAME_CHARS}+)(?P<sep>\s*(?:[!=]?==?)\s*)(?P<value>\"(?:[^\"\\]|\\.)*\"|'[^']*'|[^\s;&|'\"]+)")
_JSON_NUMBER = re.compile(r'"(?P<name>[^"\\]{0,200})"\s*:\s*(?P<value>-?[0-9][0-9.eE+-]*)')
# A flag and its value as the next word (`--password hunter2`), or the next item of an argv list
# (`["--NotebookApp.token", "abc"]`); the flag's last word must be the secret word (`--password-stdin
# reg.io` names a registry, `--token-file` a path).
_FLAG_SPACE = re.compile(r"""(?P<name>(?<![^\s"'\[,(])--?[A-Za-z0-9_.\-]+)(?P<sep>\s+)(?P<value>"(?:[^"\\]|\\.)*"|'[^']*'|[^\s;&|'"\-][^\s;&|'"]*)""")
_FLAG_ITEM = re.compile(r"""(?P<name>(?P<q>["'])--?[A-Za-z0-9_.\-]{1,200}(?P=q))(?P<sep>\s*,\s*)(?P<value>"(?:[^"\\]|\\.)*"|'[^']*')""")
_COLON_LINE = re.compile(rf"^(?P<lead>\s*(?:-\s+)?)(?P<name>{_NAME_CHARS}+)(?P<sep>\s*:\s+)(?P<value>\S.*)$")
# A header inside quotes, as in `curl -H 'PRIVATE-TOKEN: abc'` or `-H "X-Api-Key: abc"`.
_HEADER = re.compile(r"""(?<=["'])(?P<name>[A-Za-z0-9_\-]{1,64})(?P<sep>:[ \t]*)(?P<value>[^"'\n]+)""")

def _token_shape(t: dict):
    """A token that announces itself by its prefix, where a word starts: the pattern takes the whole run of
    its characters, so it never retries inside the run; length and character checks are made on the run."""
    prefix, least, needs = t["prefix"], t["least"], t.get("needs") or ()

    def repl(m: re.Match) -> str:
        rest = m.group(0)[len(prefix):]
        ok = len(rest) >= least and ("upper" not in needs or any(c.isupper() for c in rest)) \
            and ("digit" not in needs or any(c.isdigit() for c in rest))
        return MARK if ok else m.group(0)
    return (prefix.lower(),), re.compile(r"(?<![A-Za-z0-9_])" + re.escape(prefix) + t["chars"] + "*"), repl


def _jwt(m: re.Match) -> str:
    # header.payload.signature, both first parts base64url JSON ("eyJ" is '{"'); the rest of the run is kept
    parts = m.group(0).split(".")
    if len(parts) >= 3 and parts[1].startswith("eyJ") and len(parts[0]) >= 11 and len(parts[1]) >= 11 \
            and len(parts[2]) >= 8:
        return ".".join([MARK] + parts[3:])
    return m.group(0)


def _odbc_pwd(m: re.Match) -> str:
    # `Pwd=` is a password only inside a connection string (`;Pwd=x;`): the shell's PWD=/home/bob is not
    s, a, b = m.string, m.start(), m.end()
    before = s[:a].rstrip(" \t")[-1:]
    return m.group("keep") + MARK if before in (";", "{") or s[b:b + 1] == ";" else m.group(0)


def _shape(d: dict):
    kind = d["replace"]
    repl = {"keep": r"\g<keep>" + MARK + d.get("after", ""), "mark": MARK, "jwt": _jwt, "odbc_pwd": _odbc_pwd}[kind]
    return tuple(d["literals"]), re.compile(d["pattern"]), repl


# The shapes are data (data/secret_shapes.yaml), shared with the probe, which hides them on the target.
# Each is tried only when one of its literals is in the (lower-cased) text at all.
_SHAPE_DATA = secret_shapes()
_SHAPES = [_shape(d) for d in _SHAPE_DATA["shapes"]] + [_token_shape(t) for t in _SHAPE_DATA["tokens"]]

# `sshpass -p VALUE`, `mysql -pVALUE`: flags whose value is secret only for the program they follow.
_FLAGS_OF = {prog: frozenset(f["flags"]) for f in _SHAPE_DATA["program_flags"] for prog in f["programs"]}
# The program as a word of its own or a path's last part (`/usr/bin/mysql`, `sudo mysql`, `x;mysql`).
_PROGRAM = re.compile(r"(?<![^\s\"'/;|&(=])(?P<prog>" + "|".join(sorted(map(re.escape, _FLAGS_OF), key=len, reverse=True))
                      + r")(?![^\s\"';|&)])")
_COMMAND_END = re.compile(r"[\n;|&]")  # where the program's arguments end
_SPACE = re.compile(r"[ \t]+")
_WORD_END = re.compile(r"[\s]")


def _value_end(text: str, v: int, end: int, line_end: int) -> int:
    """Where the value starting at `v` ends: its closing quote (on its line), else the next blank. A search
    for a quote that fails scans to the line's end, but only the last quote of a kind on a line fails."""
    if v >= end:  # `--pass=` and nothing after it
        return v
    if text[v] in "\"'":
        close = text.find(text[v], v + 1, line_end)
        if close != -1:
            return close + 1
    w = _WORD_END.search(text, v, end)
    return w.start() if w else end


def _program_flags(text: str) -> str:
    """The values of the flags `_FLAGS_OF` lists after their program, as the next word or attached. Each
    program's arguments (to the end of its command) are read once, and a program named inside them is not
    read again: linear in the text."""
    out, pos, done = [], 0, 0
    for m in _PROGRAM.finditer(text):
        if m.start() < done:
            continue
        flags = _FLAGS_OF[m.group("prog")]
        e = _COMMAND_END.search(text, m.end())
        end = e.start() if e else len(text)
        nl = text.find("\n", end)
        line_end = len(text) if nl == -1 else nl
        j, want_value = m.end(), False
        while j < end:
            sp = _SPACE.match(text, j, end)
            if sp:
                j = sp.end()
                continue
            v = None
            if want_value:
                want_value = False
                if text[j] != "-":  # `mysql -p -u root`: -p prompts, -u is the next flag
                    v = j
            if v is None:
                w = _WORD_END.search(text, j, end)
                word = text[j: w.start() if w else end]
                if word in flags:
                    want_value = True
                else:
                    v = next((j + len(f) + (f.startswith("--")) for f in flags
                              if word.startswith(f + "=" if f.startswith("--") else f) and len(word) > len(f)), None)
            if v is None:
                w = _WORD_END.search(text, j, end)
                j = w.start() if w else end
                continue
            stop = _value_end(text, v, end, line_end)
            value = text[v:stop]
            if value.strip("\"'") not in ("", MARK):
                out += [text[pos:v], _quoted(value)]
                pos = stop
            j = stop
        done = max(end, j)
    if not out:
        return text
    out.append(text[pos:])
    return "".join(out)


def _credential_csv(text: str) -> str:
    """A cloud console's credentials CSV (`User name,Password,Access key ID,Secret access key`, then rows):
    the cells under a secret or password header are hidden, row by row, until a line without a comma."""
    lines, cols = text.split("\n"), None
    for n, line in enumerate(lines):
        if "," not in line:
            cols = None
        elif "secret access key" in line.lower():
            cols = [i for i, c in enumerate(line.lower().split(",")) if "secret" in c or "password" in c]
        elif cols:
            cells = line.split(",")
            for i in cols:
                if i < len(cells) and cells[i].strip() not in ("", MARK):
                    cells[i] = MARK
            lines[n] = ",".join(cells)
    return "\n".join(lines)


# What may follow a secret word inside a name and still be that word (PASSWORD, AUTHORIZATION, TOKENS,
# SESSIONID, SECRETKEY): anything else makes it another word (UNAUTHENTICATED, AUTHOR, PRIVATEER).
_WORD_ENDINGS = ("", "S", "ORD", "ORDS", "D", "ORIZATION", "ID", "KEY", "KEYS", "TOKEN")
_LONGEST_ENDING = max(map(len, _WORD_ENDINGS))


def _secret_name(name: str) -> bool:
    upper = name.upper()
    for w in SECRET_NAME_WORDS:
        i = upper.find(w)
        while i != -1:
            # only the few letters an ending can have are looked at: linear on TOKENTOKENTOKEN...
            rest = upper[i + len(w): i + len(w) + _LONGEST_ENDING + 1]
            tail = len(rest) - len(rest.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
            if rest[:tail] in _WORD_ENDINGS:
                return True
            i = upper.find(w, i + 1)
    return False


def _quoted(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[0] + MARK + value[0]
    return MARK


def _no_secret(value: str) -> bool:
    """A value with nothing to hide: empty, hidden already, or a setting such as `no` or `true`."""
    v = value.strip().strip("\"'")
    return v in ("", MARK) or v.lower() in _SETTING_VALUES


def _by_name(line: str) -> str:
    def pair(m: re.Match) -> str:
        if not _secret_name(m.group("name")) or _no_secret(m.group("value")):
            return m.group(0)
        return m.group(0)[: m.start("value") - m.start()] + MARK + '"'

    def assign(m: re.Match) -> str:
        if not _secret_name(m.group("name")) or _no_secret(m.group("value")):
            return m.group(0)
        return m.group("name") + m.group("sep") + _quoted(m.group("value"))

    def number(m: re.Match) -> str:
        if not _secret_name(m.group("name")):
            return m.group(0)
        return m.group(0)[: m.start("value") - m.start()] + '"' + MARK + '"'

    def flag(m: re.Match) -> str:
        words = re.split(r"[-_.]", m.group("name").strip("\"'-"))
        # `--api-key x`, `--secret-key x`: a KEY flag is judged with the word before it
        last = "_".join(words[-2:]) if words[-1].upper() in ("KEY", "KEYS") else words[-1]
        if not _secret_name(last) or _no_secret(m.group("value")):
            return m.group(0)
        return m.group("name") + m.group("sep") + _quoted(m.group("value"))

    def header(m: re.Match) -> str:
        if not _secret_name(m.group("name")) or MARK in m.group("value"):
            return m.group(0)
        return m.group("name") + m.group("sep") + MARK

    line = _JSON_PAIR.sub(pair, line)
    line = _JSON_NUMBER.sub(number, line)
    line = _ASSIGN.sub(assign, line)
    line = _FLAG_ITEM.sub(flag, line)
    line = _FLAG_SPACE.sub(flag, line)
    line = _HEADER.sub(header, line)
    m = _COLON_LINE.match(line)
    if m and _secret_name(m.group("name")) and not _no_secret(m.group("value")) and MARK not in m.group("value"):
        line = m.group("lead") + m.group("name") + m.group("sep") + MARK
    return line


def by_shape(text: str, lower: str | None = None) -> str:
    """`text` with the shapes of data/secret_shapes.yaml hidden: what the probe's redact_shapes does on the target."""
    lower = text.lower() if lower is None else lower
    for literals, rx, repl in _SHAPES:
        if any(lit in lower for lit in literals):
            text = rx.sub(repl, text)
    return text


def redact(text: str) -> str:
    """`text` with every secret it holds replaced by MARK (idempotent)."""
    if not text:
        return text
    lower = text.lower()
    text = by_shape(text, lower)
    if any(prog in lower for prog in _FLAGS_OF):
        text = _program_flags(text)
    if "secret access key" in lower:
        text = _credential_csv(text)
    upper = text.upper()
    starts: set[int] = set()
    for word in SECRET_NAME_WORDS:
        # one hit per line and word is enough, and each search starts past the line: linear in the text
        i = upper.find(word)
        while i != -1:
            starts.add(text.rfind("\n", 0, i) + 1)
            nl = text.find("\n", i)
            i = -1 if nl == -1 else upper.find(word, nl)
    if not starts:
        return text
    out, pos = [], 0
    for a in sorted(starts):
        b = text.find("\n", a)
        b = len(text) if b == -1 else b
        out += [text[pos:a], _by_name(text[a:b])]
        pos = b
    out.append(text[pos:])
    return "".join(out)


def redact_obj(obj: Any) -> Any:
    """Every string inside a JSON-like value redacted; a key with a secret name has its value hidden."""
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, dict):
        return {k: (_hidden(v) if isinstance(k, str) and _secret_name(k) else redact_obj(v)) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [redact_obj(v) for v in obj]
    return obj


def _hidden(value: Any) -> Any:
    """A value under a secret key: strings and numbers (in a list too) hidden; a flag (True: a token is
    required), None and empty values kept, as they tell what is set; a mapping has its own keys judged."""
    if isinstance(value, bool) or value in (None, "") or isinstance(value, str) and _no_secret(value):
        return value
    if isinstance(value, (str, int, float)):
        return MARK
    if isinstance(value, (list, tuple)):
        return [_hidden(v) for v in value]
    return redact_obj(value)
