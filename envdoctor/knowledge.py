"""Reference data (the CUDA driver table, Xid meanings, ResNet baselines, ...), each a YAML file in
envdoctor/data/ with its source and date. Code reads knowledge from here, never from literals."""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files
from typing import Any, Literal

import yaml

# libyaml's loader where PyYAML has it: the knowledge base is read on every check, 10x faster this way
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _yaml(text: str) -> Any:
    return yaml.load(text, Loader=_LOADER)  # noqa: S506 - a safe loader (C or Python)


@lru_cache(maxsize=None)
def load(name: str) -> Any:
    """load("cuda_driver_table") -> the parsed envdoctor/data/cuda_driver_table.yaml."""
    return _yaml(files("envdoctor").joinpath("data", f"{name}.yaml").read_text())


def gpu_name_matches(patterns: list[str], gpu_name: str | None) -> bool:
    """How the per-GPU tables (resnet_baselines.yaml, gpu_skus.yaml) recognise a GPU: one of an entry's `match`
    regexes is found, case-insensitively, in the nvidia-smi / torch name; the first entry that matches wins."""
    return bool(gpu_name) and any(re.search(p, gpu_name, re.IGNORECASE) for p in patterns)


# --- the failure-signature knowledge base (data/signatures/*.yaml) -----------------------------------

import re  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402

from pydantic import BaseModel, Field, ValidationError  # noqa: E402

from envdoctor.models import Fix  # noqa: E402


class CauseRef(BaseModel):
    """A candidate cause of a signature: its weight, and the evidence that confirms or rules it out."""

    cause: str
    w: float
    confirm: list[str] = Field(default_factory=list)
    rule_out: list[str] = Field(default_factory=list)


class Signature(BaseModel):
    id: str
    component: str
    patterns: list[str] = Field(default_factory=list)  # regexes; a space matches any run of blanks/newlines
    when: list[str] = Field(default_factory=list)  # evidence names: fires when all hold (no message needed)
    meaning: str
    causes: list[CauseRef] = Field(default_factory=list)
    info: bool = False  # context, not a failure (e.g. "SecureBoot enabled", a container prompt)
    xid_table: bool = False  # the causes come from xid.yaml per Xid code
    # an error of a shape any program prints (an exception, "Error:"), with no cause: when nothing known
    # explains the paste, the report says what it saw and that its cause is not determined
    unrecognised: bool = False
    # a message a user meets and pastes, that on a live run is a tool's answer the probe's own facts judge
    # (docker's client finding no daemon: docker_daemon.py): read in pastes only
    paste_only: bool = False
    sources: list[str] = Field(default_factory=list)


class FixSpec(BaseModel):
    summary: str
    commands: list[str] = Field(default_factory=list)
    playbook: str | None = None  # the playbook of playbooks/ that `envdoctor fix` applies for this cause

    def to_fix(self, summary: str | None = None, commands: list[str] | None = None) -> Fix:
        """The report's Fix for this cause; `summary`/`commands` replace the generic ones where a host's
        own are known. Without a playbook envdoctor cannot apply it: manual."""
        return Fix(summary=self.summary if summary is None else summary,
                   commands=list(self.commands) if commands is None else commands,
                   playbook=self.playbook, manual=self.playbook is None)


class CauseSpec(BaseModel):
    title: str
    tell: list[str] = Field(default_factory=list)
    fix: FixSpec
    windows: FixSpec | None = None  # the fix on a Windows host, where it differs
    blocks_cuda: bool = False  # CUDA cannot work at all under this cause: "CUDA works" contradicts it
    when_cuda_works: str | None = None  # the note that replaces this cause when CUDA is seen working
    sources: list[str] = Field(default_factory=list)  # the threads and docs the cause was learnt from


class EvidenceSpec(BaseModel):
    means: str
    ask: str
    rank: Literal["observed", "inferred", "hint"] = "observed"  # how it is known; observed outranks the others
    text: str | None = None  # a regex: holds when a seen message or a container launch line matches it


@dataclass
class KnowledgeBase:
    signatures: list[Signature]
    causes: dict[str, CauseSpec]
    evidence: dict[str, EvidenceSpec]
    compiled: dict[str, list["LazyPattern"]] = field(default_factory=dict)
    needles: dict[str, list[str | None]] = field(default_factory=dict)  # per compiled pattern
    files: dict[str, str] = field(default_factory=dict)  # signature id -> file it is defined in
    cause_files: dict[str, str] = field(default_factory=dict)  # cause id -> _causes*.yaml defining it
    undetermined_ask: list[str] = field(default_factory=list)  # what to run when no cause is determined

    def signature(self, sid: str) -> Signature:
        return next(s for s in self.signatures if s.id == sid)


def split_alternatives(p: str) -> list[str]:
    """'a|b(c|d)' -> ['a', 'b(c|d)']: top-level alternatives, so each gets its own needle."""
    parts, depth, cls, esc, cur = [], 0, False, False, ""
    for ch in p:
        if esc:
            esc = False
        elif ch == "\\":
            esc = True
        elif cls:
            cls = ch != "]"
        elif ch == "[":
            cls = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "|" and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        cur += ch
    return parts + [cur]


def needle(p: str) -> str | None:
    """A lower-case word every match of `p` contains, for a fast substring test before the regex runs."""
    q = p
    while True:  # groups may be optional or alternatives: their words are not required
        r = re.sub(r"\([^()]*\)[?*]?(?:\{[^}]*\})?", " ", q)
        if r == q:
            break
        q = r
    q = re.sub(r"\[[^\]]*\]", " ", q)
    q = re.sub(r"\\[sSdDwWbBAZnt]", " ", q)
    q = re.sub(r"\\(.)", r" ", q)
    words = []
    for m in re.finditer(r"[A-Za-z0-9_/.:-]+", q):
        w = m.group(0)
        nxt = q[m.end():m.end() + 1]
        if nxt in ("?", "*", "{"):
            w = w[:-1]
        w = re.split(r"[.]", w)  # "." is any character in a regex
        words += [x for x in w if len(x) >= 3]
    return max(words, key=len).lower() if words else None


class LazyPattern:
    """A signature pattern compiled on first use: most never run (their needle is not in the text), and
    compiling all ~400 would cost the local check half a second. The tests compile every one."""

    def __init__(self, source: str):
        self.source = source
        self._rx: re.Pattern | None = None

    @property
    def rx(self) -> re.Pattern:
        if self._rx is None:
            self._rx = compile_pattern(self.source)
        return self._rx

    @property
    def pattern(self) -> str:
        return self.rx.pattern

    def search(self, *args):
        return self.rx.search(*args)


def compile_pattern(p: str) -> re.Pattern:
    """Tolerant of wrapping and case: a literal space matches blanks and line breaks."""
    p = re.sub(r" (?=[*+?{])", r"\\s", p)  # "a *b": the quantifier applies to one blank
    return re.compile(p.replace(" ", r"\s+"), re.I | re.M)


class KnowledgeError(RuntimeError):
    """The shipped knowledge base is inconsistent (a bug of ours: tests load it)."""


_TORCH_INDEX = re.compile(r"\{torch_index:(\w+)\}")


def wheel_index(tag: str) -> str:
    """The PyTorch wheel index of a variant ("cu126", "cpu"): its URL lives once, in torch_releases.yaml."""
    return load("torch_releases")["wheel_index_url"].format(tag=tag)


def _with_torch_index(cause: dict) -> dict:
    """Fix texts name a PyTorch wheel index as `{torch_index:cu126}`."""
    fill = lambda text: _TORCH_INDEX.sub(lambda m: wheel_index(m.group(1)), text) if isinstance(text, str) else text  # noqa: E731
    out = dict(cause)
    for key in ("fix", "windows"):
        fix = cause.get(key)
        if isinstance(fix, dict):
            out[key] = dict(fix, summary=fill(fix.get("summary")), commands=[fill(c) for c in fix.get("commands") or []])
    return out


@lru_cache(maxsize=None)
def signatures() -> KnowledgeBase:
    folder = files("envdoctor").joinpath("data", "signatures")
    causes: dict[str, CauseSpec] = {}
    # _causes.yaml holds the causes signatures name; _causes.<part>.yaml add those only checks name
    cause_files = ["_causes.yaml"] + sorted(p.name for p in folder.iterdir()
                                            if p.name.startswith("_causes.") and p.name.endswith(".yaml")
                                            and p.name != "_causes.yaml")
    cause_file: dict[str, str] = {}
    for name in cause_files:
        try:
            doc = _yaml(folder.joinpath(name).read_text())["causes"]
            for k, v in doc.items():
                if k in cause_file:
                    raise KnowledgeError(f"signatures/{name}: cause {k} is also defined in {cause_file[k]}")
                cause_file[k] = name
                causes[k] = CauseSpec(**_with_torch_index(v))
        except (ValidationError, KeyError, TypeError, AttributeError) as e:
            raise KnowledgeError(f"signatures/{name}: {e}") from None
    try:
        evidence_doc = _yaml(folder.joinpath("_evidence.yaml").read_text())
        evidence = {k: EvidenceSpec(**v) for k, v in evidence_doc["evidence"].items()}
        undetermined_ask = [str(a) for a in evidence_doc.get("undetermined_ask") or []]
    except (ValidationError, KeyError, TypeError) as e:
        raise KnowledgeError(f"signatures/_evidence.yaml: {e}") from None
    sigs, where = [], {}
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if not entry.name.endswith(".yaml") or entry.name.startswith("_"):
            continue
        try:
            doc = _yaml(entry.read_text()) or {}
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            raise KnowledgeError(f"signatures/{entry.name}:{mark.line + 1 if mark else '?'}: {e}") from None
        for i, raw in enumerate(doc.get("signatures", [])):
            try:
                s = Signature(**raw)
            except (ValidationError, TypeError) as e:
                raise KnowledgeError(f"signatures/{entry.name}: entry {i}: {e}") from None
            if s.id in where:
                raise KnowledgeError(f"signatures/{entry.name}: {s.id} is also defined in {where[s.id]}")
            where[s.id] = entry.name
            sigs.append(s)
    kb = KnowledgeBase(sigs, causes, evidence, files=where, cause_files=cause_file, undetermined_ask=undetermined_ask)
    xid_classes = {v.get("class") for v in load("xid")["xid"].values()} | {load("xid")["default_class"]}
    for s in sigs:
        alts = [a for p in s.patterns for a in split_alternatives(p)]
        kb.compiled[s.id] = [LazyPattern(a) for a in alts]
        kb.needles[s.id] = [needle(a) for a in alts]
        for name in s.when + [n for c in s.causes for n in c.confirm + c.rule_out]:
            if name.startswith("sig:"):
                if name[4:] not in where:
                    raise KnowledgeError(f"signatures/{where[s.id]}: {s.id}: unknown signature {name}")
            elif name not in evidence:
                raise KnowledgeError(f"signatures/{where[s.id]}: {s.id}: unknown evidence {name!r} (see _evidence.yaml)")
        for c in s.causes:
            if c.cause not in causes:
                raise KnowledgeError(f"signatures/{where[s.id]}: {s.id}: unknown cause {c.cause!r} (see _causes.yaml)")
    for c in xid_classes - {None}:
        if c not in causes:
            raise KnowledgeError(f"xid.yaml: unknown class {c!r}")
    return kb
