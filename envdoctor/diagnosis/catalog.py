"""The check catalog: how a check is declared, found and run.

A check is a pure function of HostFacts, declared with `@check`. Its docstring is the long explanation
(`envdoctor explain ID`). The built-in catalog is the `checks/` directory of the project (shipped in the
wheel as `envdoctor/checks`); a site adds its own with `--checks-dir DIR`, loaded the same way, and a
site check with the id of a built-in one replaces it.

    from envdoctor.diagnosis.catalog import check, from_cause, passed, unknown
    from envdoctor.models import Status

    @check("shm_size", "Shared memory (/dev/shm) is large enough", order=500)
    def shm_size(facts):
        '''Long explanation...'''
        if facts.system.shm_size_bytes is None:
            return unknown("size of /dev/shm not known", missing=["df /dev/shm"])
        if too_small:
            return from_cause(Status.FAIL, "/dev/shm is 64 MiB", "shm_too_small", evidence)
        ...

A fail or warn that has a cause names its id (`from_cause`): the title and fix come from the knowledge
base, never from the check's own text.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import envdoctor
from envdoctor.diagnosis.root_cause import diagnose
from envdoctor.errors import UserError
from envdoctor.facts import HostFacts
from envdoctor.knowledge import signatures
from envdoctor.models import CheckResult, Fix, Status


@dataclass
class Outcome:
    """What a check function returns; the runner adds id and title to make a CheckResult."""

    status: Status
    summary: str
    evidence: list[str] = field(default_factory=list)
    cause: str | None = None
    fix: Fix | None = None
    cause_id: str | None = None  # a root-cause class id, where the check names one
    details: list[str] = field(default_factory=list)  # more evidence: the text report shows it with -v


def passed(summary: str, evidence: list[str] | None = None) -> Outcome:
    return Outcome(Status.PASS, summary, evidence or [])


def warn(summary: str, evidence: list[str] | None = None, cause: str | None = None, fix: Fix | None = None) -> Outcome:
    return Outcome(Status.WARN, summary, evidence or [], cause, fix)


def fail(summary: str, evidence: list[str] | None = None, cause: str | None = None, fix: Fix | None = None) -> Outcome:
    return Outcome(Status.FAIL, summary, evidence or [], cause, fix)


def from_cause(status: Status, summary: str, cause_id: str, evidence: list[str] | None = None, *,
               detail: str | None = None, commands: list[str] | None = None) -> Outcome:
    """A fail or warn that names a cause of the knowledge base (data/signatures/_causes*.yaml): its title
    and fix come from there, so a check and the root cause never tell a user two different things.
    `detail` adds what this host shows to the title; `commands` replaces the generic commands with ones
    written for this host (its interpreter, its driver branch)."""
    spec = signatures().causes[cause_id]  # KeyError: a check names a cause the knowledge base lacks (a bug)
    cause = f"{spec.title} ({detail})" if detail else spec.title
    return Outcome(status, summary, evidence or [], cause, spec.fix.to_fix(commands=commands), cause_id)


def cause_among(facts: HostFacts, ids: tuple[str, ...] | set[str]) -> str | None:
    """The knowledge base's leading cause (signatures and facts, as the root cause ranks them) when it is
    one of `ids`, else None: a check whose observation fits several causes asks the one reasoning path
    which, instead of guessing its own."""
    p = diagnose(facts).primary
    return p.cause if p is not None and p.cause in ids else None


def unknown(summary: str, missing: list[str] | None = None, evidence: list[str] | None = None) -> Outcome:
    """Evidence needed for a verdict was not collected. Never report a pass on missing evidence."""
    ev = list(evidence or []) + [f"not collected: {m}" for m in (missing or [])]
    return Outcome(Status.UNKNOWN, summary, ev)


def skip(summary: str, evidence: list[str] | None = None) -> Outcome:
    """The check does not apply here (e.g. Fabric Manager on a host without NVSwitch)."""
    return Outcome(Status.SKIP, summary, evidence or [])


@dataclass
class Check:
    id: str
    title: str
    func: Callable[[HostFacts], Outcome]
    order: int = 1000
    playbook: str | None = None  # the playbook `envdoctor fix` applies when this check fails
    source: str = "builtin"

    @property
    def explanation(self) -> str:
        return inspect.cleandoc(self.func.__doc__ or self.title)

    def run(self, facts: HostFacts, debug: bool = False) -> CheckResult:
        try:
            out = self.func(facts)
            if not isinstance(out, Outcome):
                raise TypeError(f"check {self.id} returned {type(out).__name__}, not an Outcome")
        except Exception as e:  # a broken check is reported as "did not complete"; the others still run
            if debug:
                traceback.print_exc()
            return CheckResult(id=self.id, title=self.title, status=Status.ERROR,
                               summary=f"check did not complete: {type(e).__name__}: {e}")
        fix = out.fix
        if fix is not None and fix.playbook is None and self.playbook and out.status in (Status.FAIL, Status.WARN):
            fix = fix.model_copy(update={"playbook": self.playbook})
        return CheckResult(id=self.id, title=self.title, status=out.status, summary=out.summary,
                           evidence=out.evidence, cause=out.cause, cause_id=out.cause_id, fix=fix,
                           details=out.details)


# Checks by the source that declared them ("builtin", or one per --checks-dir), so that a site's checks
# apply only to the runs that ask for that directory.
_REGISTRY: dict[str, dict[str, Check]] = {}
_loading_source = "builtin"


def check(id: str, title: str, order: int = 1000, playbook: str | None = None):
    """Declare a check. `order` sorts the report (root causes first); `playbook` names its fix."""

    def deco(func: Callable[[HostFacts], Outcome]):
        _REGISTRY.setdefault(_loading_source, {})[id] = Check(id=id, title=title, func=func, order=order,
                                                             playbook=playbook, source=_loading_source)
        return func

    return deco


def builtin_checks_dir() -> Path:
    """`envdoctor/checks` inside an installed wheel, else the repository's `checks/`."""
    pkg = Path(envdoctor.__file__).resolve().parent
    for cand in (pkg / "checks", pkg.parent / "checks"):
        if cand.is_dir():
            return cand
    raise RuntimeError("the built-in check catalog (checks/) is missing from this installation")


def _load_dir(directory: Path, source: str) -> None:
    global _loading_source
    _loading_source = source
    try:
        for path in sorted(directory.glob("*.py")):
            if path.name.startswith("_"):
                continue
            name = f"envdoctor_checks_{source}_{path.stem}".replace("-", "_").replace(".", "_")
            if name in sys.modules:
                continue
            spec = importlib.util.spec_from_file_location(name, path)
            mod = importlib.util.module_from_spec(spec)
            sys.modules[name] = mod
            try:
                spec.loader.exec_module(mod)
            except Exception as e:
                del sys.modules[name]
                if source == "builtin":
                    raise
                raise UserError(f"cannot load check module: {type(e).__name__}: {e}", where=str(path)) from None
    finally:
        _loading_source = "builtin"


def load_catalog(extra_dirs: list[Path] | tuple[Path, ...] = ()) -> list[Check]:
    """All checks, built-in first, then each --checks-dir; sorted by order then id."""
    _load_dir(builtin_checks_dir(), "builtin")
    merged = dict(_REGISTRY.get("builtin", {}))
    for d in extra_dirs:
        d = Path(d)
        if not d.is_dir():
            raise UserError("checks directory not found", where=str(d))
        source = "site_" + hashlib.sha1(str(d.resolve()).encode()).hexdigest()[:10]
        _load_dir(d.resolve(), source)
        merged.update(_REGISTRY.get(source, {}))  # a site check replaces a built-in one of the same id
    return sorted(merged.values(), key=lambda c: (c.order, c.id))


def get_check(id: str, extra_dirs=()) -> Check:
    checks = {c.id: c for c in load_catalog(extra_dirs)}
    if id not in checks:
        raise UserError(f"unknown check id {id!r} (see `envdoctor list`)")
    return checks[id]


def run_checks(facts: HostFacts, checks: list[Check], debug: bool = False) -> list[CheckResult]:
    return [c.run(facts, debug) for c in checks]
