"""Secrets never leave the target: which names are secret and what a secret looks like whatever its name (the
controller's vocabulary, written into this script before it is sent), applied to values, outputs and the
command lines of the processes the security sections list."""

import os
import re
import threading

# The vocabulary shared with the controller (the words of a secret name, data/secret_names.yaml, and the shapes of
# data/secret_shapes.yaml): the controller replaces the next line with the data before sending this script
# (envdoctor/vocabulary.py). Left None (the script run as it is), every name counts as secret, and the output says
# why in "vocabulary_missing".
VOCABULARY = None
VOCABULARY_MISSING = ("the probe ran without the controller's vocabulary (envdoctor/vocabulary.py): every "
                      "environment value and command-line flag value is hidden")

_SEC_FLAG_VALUE = re.compile(r"^(--?[\w.-]+)=(.*)$")  # secret when secret_name() says so of the flag
_SEC_FLAG = re.compile(r"^--?[\w.-]+$")
_SEC_TOKEN_IN_URL = re.compile(r"(token=)[^&\s\"']+")


def vocabulary_missing():
    """Why values are hidden wholesale (the script ran without its vocabulary), else None."""
    return VOCABULARY_MISSING if VOCABULARY is None else None


def secret_name(name):
    """Whether a variable's or flag's name holds a secret word (the controller's list, the one
    envdoctor/redact.py uses). Without the vocabulary every name is secret: hiding too much beats a leak."""
    words = (VOCABULARY or {}).get("secret_name_words")
    if words is None:
        return True
    upper = name.upper()
    return any(w in upper for w in words)


# What a secret looks like whatever its name (the controller's data/secret_shapes.yaml, as envdoctor/redact.py
# reads it): compiled once, on first use. Without the vocabulary there are none, and every value is hidden
# by name instead (secret_name). Each shape is tried only when one of its literals is in the text.
_shapes_lock = threading.Lock()
_shapes = []


def _shape_list():
    with _shapes_lock:
        if _shapes or not (VOCABULARY or {}).get("secret_shapes"):
            return _shapes
        data = VOCABULARY["secret_shapes"]

        def token(t):
            prefix, least, needs = t["prefix"], t["least"], t.get("needs") or ()

            def repl(m):
                rest = m.group(0)[len(prefix):]
                ok = len(rest) >= least and ("upper" not in needs or any(c.isupper() for c in rest)) \
                    and ("digit" not in needs or any(c.isdigit() for c in rest))
                return "<redacted>" if ok else m.group(0)
            return (prefix.lower(),), re.compile(r"(?<![A-Za-z0-9_])" + re.escape(prefix) + t["chars"] + "*"), repl

        def jwt(m):
            parts = m.group(0).split(".")
            if len(parts) >= 3 and parts[1].startswith("eyJ") and len(parts[0]) >= 11 and len(parts[1]) >= 11 \
                    and len(parts[2]) >= 8:
                return ".".join(["<redacted>"] + parts[3:])
            return m.group(0)

        def odbc_pwd(m):
            s, a, b = m.string, m.start(), m.end()
            before = s[:a].rstrip(" \t")[-1:]
            return m.group("keep") + "<redacted>" if before in (";", "{") or s[b:b + 1] == ";" else m.group(0)

        for d in data["shapes"]:
            repl = {"keep": "\\g<keep><redacted>" + d.get("after", ""), "mark": "<redacted>", "jwt": jwt,
                    "odbc_pwd": odbc_pwd}[d["replace"]]
            _shapes.append((tuple(d["literals"]), re.compile(d["pattern"]), repl))
        _shapes.extend(token(t) for t in data["tokens"])
        return _shapes


def redact_shapes(text):
    """`text` with every secret shape of the controller's list replaced by <redacted>."""
    if not text:
        return text
    lower = text.lower()
    for literals, rx, repl in _shape_list():
        if any(lit in lower for lit in literals):
            text = rx.sub(repl, text)
    return text


def _program_flags():
    """{program: flags whose value is a secret after it} (`sshpass -p`, `mysql -pVALUE`)."""
    data = (VOCABULARY or {}).get("secret_shapes") or {}
    return dict((prog, set(f["flags"])) for f in data.get("program_flags", []) for prog in f["programs"])


def _sec_redact_argv(argv):
    out, hide_next, program_flags, flags = [], False, _program_flags(), ()
    for a in argv:
        if hide_next:
            out.append("<redacted>" if a and not (flags and a.startswith("-")) else a)
            hide_next = False
            continue
        m = _SEC_FLAG_VALUE.match(a)
        attached = [f for f in flags if a.startswith(f + "=" if f.startswith("--") else f) and len(a) > len(f)]
        if a in flags:  # `sshpass -p VALUE`: a flag that is secret after its program
            out.append(a)
            hide_next = True
        elif attached:  # `mysql -pVALUE`, `redis-cli --pass=VALUE`
            f = attached[0] + ("=" if attached[0].startswith("--") else "")
            out.append(f + "<redacted>")
        elif m and secret_name(m.group(1)):
            v = m.group(2)
            out.append(m.group(1) + "=" + (v if v in ("", "''", '""') else "<redacted>"))
        elif _SEC_FLAG.match(a) and secret_name(a):
            out.append(a)
            hide_next = True
        else:
            out.append(redact_shapes(_SEC_TOKEN_IN_URL.sub(r"\1<redacted>", a)))
        if not a.startswith("-") and os.path.basename(a) in program_flags:
            flags = program_flags[os.path.basename(a)]  # the flags of the program named last (`sudo mysql -p..`)
    return out
