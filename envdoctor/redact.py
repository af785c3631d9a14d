"""Secrets out of everything envdoctor shows or saves: one place that knows what a secret looks like.

By *name*: a variable or key whose name holds a word of data/secret_names.yaml (TOKEN, SECRET, PASSWORD,
API_KEY, AUTH, COOKIE, SESSION...; any prefix, any case; as a word of its own: AUTH_TOKEN and
Authorization are secrets, unauthenticated_get is not) has its value replaced, in
`NAME=value`, `NAME: value` (at the start of a line) and JSON `"name": "value"`.
By *shape*: the password of URL userinfo (`scheme://user:pass@host`), `Bearer`/`Basic` credentials,
PEM private keys and the token formats that announce themselves (GitHub, GitLab, Hugging Face,
NVIDIA API, OpenAI, Slack, AWS access key ids, JWTs).

The value becomes MARK, so a report can say that something was redacted; the text keeps its shape
(a JSON document stays JSON), so the parsers still read it.
"""

from __future__ import annotations

import re
from typing import Any

from envdoctor.vocabulary import secret_name_words

MARK = "<redacted>"

# The words of a secret name live in data/secret_names.yaml; the probe gets the same list from the controller
# (envdoctor/vocabulary.py), so what the target hides and what envdoctor hides are one list.
SECRET_NAME_WORDS = secret_name_words()
_NAME_CHARS = r"[A-Za-z0-9_.\-]"

# Name-based forms, tried on the lines that hold a secret word (cheap on a long paste).
_JSON_PAIR = re.compile(r'"(?P<name>[^"\\]{0,200})"\s*:\s*"(?P<value>(?:[^"\\]|\\.)*)"')
_ASSIGN = re.compile(rf"(?P<name>{_NAME_CHARS}+)(?P<sep>\s*=\s*)(?P<value>\"(?:[^\"\\]|\\.)*\"|'[^']*'|[^\s;&|'\"]+)")
_JSON_NUMBER = re.compile(r'"(?P<name>[^"\\]{0,200})"\s*:\s*(?P<value>-?[0-9][0-9.eE+-]*)')
# A flag and its value as the next word (`--password hunter2`), or the next item of an argv list
# (`["--NotebookApp.token", "abc"]`); the flag's last word must be the secret word (`--password-stdin
# reg.io` names a registry, `--token-file` a path).
_FLAG_SPACE = re.compile(r"""(?P<name>(?<![^\s"'\[,(])--?[A-Za-z0-9_.\-]+)(?P<sep>\s+)(?P<value>"(?:[^"\\]|\\.)*"|'[^']*'|[^\s;&|'"\-][^\s;&|'"]*)""")
_FLAG_ITEM = re.compile(r"""(?P<name>(?P<q>["'])--?[A-Za-z0-9_.\-]+(?P=q))(?P<sep>\s*,\s*)(?P<value>"(?:[^"\\]|\\.)*"|'[^']*')""")
_COLON_LINE = re.compile(rf"^(?P<lead>\s*(?:-\s+)?)(?P<name>{_NAME_CHARS}+)(?P<sep>\s*:\s+)(?P<value>\S.*)$")

# Each shape begins with a literal (so the regex engine skips ahead fast on a long paste) and is only
# tried when that literal is in the text at all.
_SHAPES = [
    # URL userinfo: keep the user, drop the password.
    # The password may hold a "/"; a port followed by a path (`host:8443/path@v2`) is not a password.
    ("://", re.compile(r"(?P<keep>://[^\s:/@\"'<>]{1,256}:)(?!<redacted>@)(?![0-9]+[/@])[^\s@\"'<>]{1,512}@"),
     r"\g<keep>" + MARK + "@"),
    # `docker login -p PASSWORD` (and podman's, helm registry's...): the flag's name holds no secret word.
    (" login", re.compile(r"(?P<keep>\b(?:docker|podman|nerdctl|buildah|skopeo|oras|registry)\s+login\b[^\n]*?\s-p\s+)"
                          r"(?!<redacted>)[^\s\-]\S*"), r"\g<keep>" + MARK),
    ("Bearer", re.compile(r"(?P<keep>Bearer\s+)(?!<redacted>)[A-Za-z0-9._~+/=-]{8,}"), r"\g<keep>" + MARK),
    ("bearer", re.compile(r"(?P<keep>bearer\s+)(?!<redacted>)[A-Za-z0-9._~+/=-]{8,}"), r"\g<keep>" + MARK),
    ("Basic", re.compile(r"(?P<keep>Basic\s+)(?!<redacted>)[A-Za-z0-9+/]{12,}={0,2}"), r"\g<keep>" + MARK),
    ("-----BEGIN", re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)",
                              re.S), MARK),
] + [(lit, re.compile(re.escape(lit) + rest), None) for lit, rest in (
    # sk- keys are random base62: an upper-case letter and a digit tell them from names such as sshd's
    # sk-ecdsa-sha2-nistp256-cert-v01@openssh.com, which must stay readable evidence.
    ("ghp_", r"[A-Za-z0-9]{20,}"), ("gho_", r"[A-Za-z0-9]{20,}"), ("ghu_", r"[A-Za-z0-9]{20,}"),
    ("ghs_", r"[A-Za-z0-9]{20,}"), ("ghr_", r"[A-Za-z0-9]{20,}"), ("github_pat_", r"[A-Za-z0-9_]{20,}"),
    ("glpat-", r"[A-Za-z0-9_-]{20,}"), ("hf_", r"[A-Za-z0-9]{20,}"), ("nvapi-", r"[A-Za-z0-9_-]{20,}"),
    ("sk-", r"(?=[A-Za-z0-9_-]*[A-Z])(?=[A-Za-z0-9_-]*[0-9])(?:proj-)?[A-Za-z0-9_-]{20,}"), ("xoxb-", r"[A-Za-z0-9-]{10,}"), ("xoxp-", r"[A-Za-z0-9-]{10,}"),
    ("AKIA", r"[0-9A-Z]{16}(?![0-9A-Z])"), ("eyJ", r"[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
)]


def _token_at_word_start(m: re.Match) -> str:
    """A token shape counts only where a word starts (`mask-ghp_...` is a token; `xghp_...` is not)."""
    before = m.string[m.start() - 1] if m.start() else " "
    return m.group(0) if (before.isalnum() or before == "_") else MARK


# What may follow a secret word inside a name and still be that word (PASSWORD, AUTHORIZATION, TOKENS,
# SESSIONID, SECRETKEY): anything else makes it another word (UNAUTHENTICATED, AUTHOR, PRIVATEER).
_WORD_ENDINGS = ("", "S", "ORD", "ORDS", "D", "ORIZATION", "ID", "KEY", "KEYS", "TOKEN")


def _secret_name(name: str) -> bool:
    upper = name.upper()
    for w in SECRET_NAME_WORDS:
        i = upper.find(w)
        while i != -1:
            rest = upper[i + len(w):]
            tail = len(rest) - len(rest.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
            if rest[:tail] in _WORD_ENDINGS:
                return True
            i = upper.find(w, i + 1)
    return False


def _quoted(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[0] + MARK + value[0]
    return MARK


def _by_name(line: str) -> str:
    def pair(m: re.Match) -> str:
        if not _secret_name(m.group("name")) or m.group("value") in ("", MARK):
            return m.group(0)
        return m.group(0)[: m.start("value") - m.start()] + MARK + '"'

    def assign(m: re.Match) -> str:
        if not _secret_name(m.group("name")) or m.group("value").strip("\"'") in ("", MARK):
            return m.group(0)
        return m.group("name") + m.group("sep") + _quoted(m.group("value"))

    def number(m: re.Match) -> str:
        if not _secret_name(m.group("name")):
            return m.group(0)
        return m.group(0)[: m.start("value") - m.start()] + '"' + MARK + '"'

    def flag(m: re.Match) -> str:
        last = re.split(r"[-_.]", m.group("name").strip("\"'-"))[-1]
        if not _secret_name(last) or m.group("value").strip("\"'") in ("", MARK):
            return m.group(0)
        return m.group("name") + m.group("sep") + _quoted(m.group("value"))

    line = _JSON_PAIR.sub(pair, line)
    line = _JSON_NUMBER.sub(number, line)
    line = _ASSIGN.sub(assign, line)
    line = _FLAG_ITEM.sub(flag, line)
    line = _FLAG_SPACE.sub(flag, line)
    m = _COLON_LINE.match(line)
    if m and _secret_name(m.group("name")) and m.group("value").strip() != MARK and MARK not in m.group("value"):
        line = m.group("lead") + m.group("name") + m.group("sep") + MARK
    return line


def redact(text: str) -> str:
    """`text` with every secret it holds replaced by MARK (idempotent)."""
    if not text:
        return text
    for literal, rx, repl in _SHAPES:
        if literal in text:
            text = rx.sub(repl if repl is not None else _token_at_word_start, text)
    upper = text.upper()
    starts: set[int] = set()
    for word in SECRET_NAME_WORDS:
        i = upper.find(word)
        while i != -1:
            starts.add(text.rfind("\n", 0, i) + 1)
            i = upper.find(word, i + len(word))
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
    if isinstance(value, bool) or value in (None, ""):
        return value
    if isinstance(value, (str, int, float)):
        return MARK
    if isinstance(value, (list, tuple)):
        return [_hidden(v) for v in value]
    return redact_obj(value)
