"""Secrets out of everything envdoctor shows or saves: one place that knows what a secret looks like.

By *name*: a variable or key whose name holds a word of data/secret_names.yaml (TOKEN, SECRET, PASSWORD,
API_KEY, AUTH, COOKIE, SESSION...; any prefix, any case; as a word of its own: AUTH_TOKEN and
Authorization are secrets, unauthenticated_get is not) has its value replaced, in
`NAME=value`, `NAME: value` (at the start of a line) and JSON `"name": "value"`.
By *shape*: the password of URL userinfo (`scheme://user:pass@host`, `scheme://:pass@host`),
`Bearer`/`Basic`/`Authorization:` credentials, PEM and PGP private keys, storage connection strings and
SAS signatures, kubeconfig key data, netrc, `curl -u`, ODBC `Pwd=`, credential CSVs, webhook URLs,
tracker login keys, and the token formats that announce themselves (GitHub, GitLab, Hugging Face,
NVIDIA API, OpenAI, Slack, Google, Stripe, npm, AWS key ids long-term and temporary, JWTs).
Linear in the input, whatever it holds (tests/security/test_redaction_linear.py).

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

# Every pattern here is linear in its input, because target output and pastes of any length go through
# it: a repetition either is bounded ({0,256}), or cannot start inside a run of its own characters (a
# lookbehind), or always succeeds on the whole run it starts (checks on the run are done in Python after).
# Name-based forms, tried on the lines that hold a secret word (cheap on a long paste).
_JSON_PAIR = re.compile(r'"(?P<name>[^"\\]{0,200})"\s*:\s*"(?P<value>(?:[^"\\]|\\.)*)"')
_ASSIGN = re.compile(rf"(?<!{_NAME_CHARS})(?P<name>{_NAME_CHARS}+)(?P<sep>\s*=\s*)(?P<value>\"(?:[^\"\\]|\\.)*\"|'[^']*'|[^\s;&|'\"]+)")
_JSON_NUMBER = re.compile(r'"(?P<name>[^"\\]{0,200})"\s*:\s*(?P<value>-?[0-9][0-9.eE+-]*)')
# A flag and its value as the next word (`--password hunter2`), or the next item of an argv list
# (`["--NotebookApp.token", "abc"]`); the flag's last word must be the secret word (`--password-stdin
# reg.io` names a registry, `--token-file` a path).
_FLAG_SPACE = re.compile(r"""(?P<name>(?<![^\s"'\[,(])--?[A-Za-z0-9_.\-]+)(?P<sep>\s+)(?P<value>"(?:[^"\\]|\\.)*"|'[^']*'|[^\s;&|'"\-][^\s;&|'"]*)""")
_FLAG_ITEM = re.compile(r"""(?P<name>(?P<q>["'])--?[A-Za-z0-9_.\-]{1,200}(?P=q))(?P<sep>\s*,\s*)(?P<value>"(?:[^"\\]|\\.)*"|'[^']*')""")
_COLON_LINE = re.compile(rf"^(?P<lead>\s*(?:-\s+)?)(?P<name>{_NAME_CHARS}+)(?P<sep>\s*:\s+)(?P<value>\S.*)$")
# A header inside quotes, as in `curl -H 'PRIVATE-TOKEN: abc'` or `-H "X-Api-Key: abc"`.
_HEADER = re.compile(r"""(?<=["'])(?P<name>[A-Za-z0-9_\-]{1,64})(?P<sep>:[ \t]*)(?P<value>[^"'\n]+)""")

_KEEP = r"\g<keep>" + MARK


def _token(prefix: str, chars: str, least: int, check=None):
    """A token that announces itself by `prefix`, where a word starts (`mask-ghp_...` is one, `xghp_...`
    is not): the pattern takes the whole run of `chars` after it, so it never retries inside the run."""
    def repl(m: re.Match) -> str:
        rest = m.group(0)[len(prefix):]
        return MARK if len(rest) >= least and (check is None or check(rest)) else m.group(0)
    return (prefix.lower(),), re.compile(r"(?<![A-Za-z0-9_])" + re.escape(prefix) + chars + "*"), repl


def _sk_key(rest: str) -> bool:
    # sk- keys are random base62: an upper-case letter and a digit tell them from names such as sshd's
    # sk-ecdsa-sha2-nistp256-cert-v01@openssh.com, which must stay readable evidence.
    return any(c.isupper() for c in rest) and any(c.isdigit() for c in rest)


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


# Each shape is tried only when one of its literals is in the (lower-cased) text at all.
_SHAPES = [
    # URL userinfo: keep the user (which may be empty: redis://:pass@host), drop the password.
    # The password may hold a "/"; a port followed by a path (`host:8443/path@v2`) is not a password.
    (("://",), re.compile(r"(?P<keep>://[^\s:/@\"'<>]{0,256}:)(?!<redacted>@)(?![0-9]{1,6}[/@])[^\s@\"'<>]{1,512}@"),
     r"\g<keep>" + MARK + "@"),
    # `docker login -p PASSWORD` (and podman's, helm registry's...): the flag's name holds no secret word.
    ((" login",), re.compile(r"(?P<keep>\b(?:docker|podman|nerdctl|buildah|skopeo|oras|registry)\s+login\b[^\n]{0,256}?\s-p\s+)"
                             r"(?!<redacted>)[^\s\-]\S*"), _KEEP),
    (("bearer",), re.compile(r"(?P<keep>[Bb]earer[ \t]+)(?!<redacted>)[A-Za-z0-9._~+/=-]{8,}"), _KEEP),
    (("basic",), re.compile(r"(?P<keep>Basic[ \t]+)(?!<redacted>)[A-Za-z0-9+/]{12,}={0,2}"), _KEEP),
    # `Authorization: token abc` (GitHub's scheme), or any scheme, or none.
    (("authorization",), re.compile(r"(?i)(?P<keep>\bauthorization[ \t]*:[ \t]*(?:[a-z][a-z-]{0,19}[ \t]+)?)"
                                    r"(?!<redacted>)[^\s\"',;]+(?![^\s\"',;])(?![ \t]+<redacted>)"), _KEEP),
    # PEM and PGP private keys, to their end line (or the end of the text).
    (("-----begin",), re.compile(r"-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----.*?"
                                 r"(?:-----END [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----|\Z)", re.S), MARK),
    # Storage connection strings and SAS tokens: AccountKey=...; SharedAccessSignature=sv=...&sig=...;
    (("accountkey", "sharedaccess"), re.compile(r"(?i)(?P<keep>\b(?:AccountKey|SharedAccessKey|SharedAccessSignature)"
                                                r"[ \t]*=[ \t]*)(?!<redacted>)[^;\s\"'<>]+"), _KEEP),
    # kubeconfig's client key (base64 of a PEM key), in YAML or JSON; its `token:` is a secret name already.
    (("client-key-data",), re.compile(r"(?P<keep>\bclient-key-data[\"']?[ \t]*:[ \t]*[\"']?)(?!<redacted>)[A-Za-z0-9+/=]+"),
     _KEEP),
    # Query parameters that are credentials though their names hold no secret word: a SAS signature,
    # a private tracker's login key (passkey, torrent_pass); the tracker key as a path (/<32 hex>/announce).
    (("sig=", "passkey=", "torrent_pass="), re.compile(r"(?i)(?P<keep>[?&;](?:sig|passkey|torrent_pass)=)"
                                                       r"(?!<redacted>)[^&\s\"'<>#;]+"), _KEEP),
    (("/announce",), re.compile(r"(?P<keep>/)[0-9a-fA-F]{32}(?=/announce)"), _KEEP),
    # ODBC connection strings: Pwd=secret; or Pwd={secret with ; inside};
    (("pwd",), re.compile(r"(?i)(?P<keep>(?<![A-Za-z0-9_])pwd[ \t]*=[ \t]*)(?!<redacted>)(?:\{[^}\n]{0,512}\}|[^;\s\"'{]+)"),
     _odbc_pwd),
    # netrc: `machine h login u password p` on one line, or `password p` alone on its line.
    (("password",), re.compile(r"(?P<keep>\b(?:machine[ \t]+\S{1,256}|default)(?:[ \t]+(?:login|account)[ \t]+\S{1,256}){0,4}"
                               r"[ \t]+password[ \t]+)(?!<redacted>)\S+"), _KEEP),
    (("password",), re.compile(r"(?m)^(?P<keep>[ \t]*password[ \t]+)(?!<redacted>)\S+(?=[ \t]*$)"), _KEEP),
    # curl -u user:pass / --user / --proxy-user / -U; a numeric uid:gid (`docker run -u 1000:1000`) is kept.
    (("-u",), re.compile(r"""(?P<keep>(?<![^\s"'])(?:-u|-U|--user|--proxy-user)(?:[ \t]+|=)["']?[^\s:"'@]{0,256}:)"""
                         r"""(?![0-9]{1,10}(?:[\s"']|$))(?!<redacted>)[^\s"']+"""), _KEEP),
    # Incoming webhooks: the path is the credential.
    (("hooks.slack.com",), re.compile(r"(?P<keep>hooks\.slack\.com/(?:services|workflows|triggers)/)(?!<redacted>)[A-Za-z0-9_/\-]+"), _KEEP),
    (("discord",), re.compile(r"(?P<keep>discord(?:app)?\.com/api/webhooks/)(?!<redacted>)[A-Za-z0-9_/\-]+"), _KEEP),
    (("office.com",), re.compile(r"(?P<keep>(?:webhook|outlook)\.office\.com/webhook(?:b2)?/)(?!<redacted>)[^\s\"'<>]+"), _KEEP),
    # AWS key ids: long-term (AKIA) and temporary (ASIA), and the other credential prefixes.
    (("akia", "asia", "abia", "acca", "a3t"),
     re.compile(r"(?<![A-Za-z0-9_])(?:A3T[A-Z0-9]|ABIA|ACCA|AKIA|ASIA)[0-9A-Z]{16}(?![0-9A-Z])"), MARK),
    (("eyj",), re.compile(r"(?<![A-Za-z0-9_])eyJ[A-Za-z0-9_.-]*"), _jwt),
] + [_token(*t) for t in (
    ("ghp_", "[A-Za-z0-9]", 20), ("gho_", "[A-Za-z0-9]", 20), ("ghu_", "[A-Za-z0-9]", 20),
    ("ghs_", "[A-Za-z0-9]", 20), ("ghr_", "[A-Za-z0-9]", 20), ("github_pat_", "[A-Za-z0-9_]", 20),
    ("glpat-", "[A-Za-z0-9_-]", 20), ("hf_", "[A-Za-z0-9]", 20), ("nvapi-", "[A-Za-z0-9_-]", 20),
    ("sk-", "[A-Za-z0-9_-]", 20, _sk_key),
    ("xoxb-", "[A-Za-z0-9-]", 10), ("xoxp-", "[A-Za-z0-9-]", 10), ("xoxa-", "[A-Za-z0-9-]", 10),
    ("xoxr-", "[A-Za-z0-9-]", 10), ("xapp-", "[A-Za-z0-9-]", 10),
    ("AIza", "[0-9A-Za-z_-]", 35),  # Google API keys
    ("sk_live_", "[0-9A-Za-z]", 20), ("rk_live_", "[0-9A-Za-z]", 20), ("sk_test_", "[0-9A-Za-z]", 20),  # Stripe
    ("npm_", "[A-Za-z0-9]", 36), ("pypi-Ag", "[A-Za-z0-9_-]", 50),
)]


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
        words = re.split(r"[-_.]", m.group("name").strip("\"'-"))
        # `--api-key x`, `--secret-key x`: a KEY flag is judged with the word before it
        last = "_".join(words[-2:]) if words[-1].upper() in ("KEY", "KEYS") else words[-1]
        if not _secret_name(last) or m.group("value").strip("\"'") in ("", MARK):
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
    if m and _secret_name(m.group("name")) and m.group("value").strip() != MARK and MARK not in m.group("value"):
        line = m.group("lead") + m.group("name") + m.group("sep") + MARK
    return line


def redact(text: str) -> str:
    """`text` with every secret it holds replaced by MARK (idempotent)."""
    if not text:
        return text
    lower = text.lower()
    for literals, rx, repl in _SHAPES:
        if any(lit in lower for lit in literals):
            text = rx.sub(repl, text)
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
    if isinstance(value, bool) or value in (None, ""):
        return value
    if isinstance(value, (str, int, float)):
        return MARK
    if isinstance(value, (list, tuple)):
        return [_hidden(v) for v in value]
    return redact_obj(value)
