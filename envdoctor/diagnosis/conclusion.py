"""The first and last lines of a report (pure): the root cause, from the failure signatures, the facts and
the checks that failed; then the checks reconciled with it; then the verdict, derived from both.

The invariants (tests/test_bottom_line_invariants.py holds them over every corpus case and over generated
facts):
  - the root cause is never a pass under a failed check: a failed check's cause is a candidate, and a
    failed check without a cause makes the cause "not determined";
  - the verdict is "cannot train" whenever CUDA is seen failing, torch has no CUDA, the root cause is
    established, or a check that bears on training fails; it says "can train" only where CUDA was seen
    working (torch.cuda.is_available() True, or a passing proof-run); otherwise it cannot tell;
  - a check whose cause is an alternative to the established root cause points at the root cause's fix,
    so the two never point in different directions;
  - an inference that an observation contradicts (a cause that keeps CUDA from working, where CUDA is seen
    working) is a note, never a failure.
"""

from __future__ import annotations

from dataclasses import dataclass

from envdoctor.diagnosis.root_cause import SUPPORT, Candidate, Diagnosis, cuda_works, diagnose
from envdoctor.facts import HostFacts
from envdoctor.knowledge import load, signatures
from envdoctor.models import (BottomLine, CauseCandidate, CheckResult, Confidence, Fix, HostReport, HostStatus,
                              RootCause, Status, TrainingVerdict, host_status)

STRONG = 8.0  # a candidate at or above this score, with nothing close, is established
CLOSE = 3.0  # a runner-up within this many points leaves the first one unconfirmed
SPECIFIC = 12.0  # an unconfirmed message at or above this weight names its cause by itself (calibrated on tuned + r2)
LIKELY = 4.0  # below this, a candidate is not even "most likely" (unless it is the only one)
# An unconfirmed lead of less than this is "not determined" (a one-point lead was right 3 times in 8 on
# the tuned and r2 splits; a bare is_available() False ranks its candidates within a point or two).
LEAD = 2.0
CHECK_WEIGHT = 8.0  # a failed check names its cause as an observation of its own

ROOT_CAUSE_ID = "root_cause"


@dataclass
class Conclusion:
    root: RootCause
    checks: list[CheckResult]  # the checks, reconciled with the root cause; the root cause's check first
    status: HostStatus
    bottom_line: BottomLine


def _cuda_state(f: HostFacts, d: Diagnosis) -> tuple[str, str | None]:
    works = cuda_works(f)
    if works:
        return "works", works
    t = f.torch
    if t.is_available is False:
        return "fails", "torch.cuda.is_available() = False" + (f" ({t.is_available_error})" if t.is_available_error else "")
    if t.cpu_only_build and not t.cuda_build:
        return "fails", f"torch {t.version or ''} is a CPU-only build".replace("  ", " ")
    if d.cuda_failure:
        return "fails", d.cuda_failure
    return "unknown", None


def _add_failed_checks(d: Diagnosis, results: list[CheckResult]) -> list[CheckResult]:
    """Failed checks are observations too: each one's cause joins the candidates. Returns the failed
    checks that name no cause (they leave the root cause undetermined when nothing else explains them)."""
    contradicted = {c.cause for c, _ in d.contradicted}
    # A check that takes its cause from the diagnosis (torch_cuda_available, torch_installed) only mirrors
    # the leading candidate: counting it again would confirm a guess by itself.
    mirrored = d.primary.cause if d.primary else None
    uncaused = []
    for r in results:
        if r.id == ROOT_CAUSE_ID or r.status != Status.FAIL:
            continue
        if not r.cause_id:
            uncaused.append(r)
            continue
        if r.cause_id in contradicted or r.cause_id == "healthy" or r.cause_id == mirrored:
            continue
        line = f"check {r.id} fails: {r.summary}"
        old = next((c for c in d.ranked if c.cause == r.cause_id), None)
        if old:
            old.score += 1.0
            old.confirmed.append(line)
            old.stronger_support("observed")
        else:
            d.ranked.append(Candidate(r.cause_id, CHECK_WEIGHT, [line], [line], support="observed"))
    d.ranked.sort(key=lambda c: (-c.score, SUPPORT.index(c.support)))
    return uncaused


def _candidates(d: Diagnosis) -> list[CauseCandidate]:
    kb = signatures()
    return [CauseCandidate(cause_id=c.cause, title=kb.causes[c.cause].title, score=round(c.score, 1),
                           support=c.support, confirmed=c.confirmed[:3]) for c in d.ranked[:5]]


def _tell_apart(d: Diagnosis, upto: int) -> list[str]:
    kb = signatures()
    tell: list[str] = []
    for c in d.ranked[:upto]:
        for name in c.open:
            ask = kb.evidence[name].ask
            if ask not in tell:
                tell.append(ask)
    for c in d.ranked[1:upto]:
        for t in kb.causes[c.cause].tell[:1]:
            if t not in tell:
                tell.append(t)
    return tell[:5]


def _failure_line(f: HostFacts, d: Diagnosis, cuda: str, cuda_line: str | None) -> str | None:
    """What was seen failing: CUDA itself, else the message behind the leading candidate (not just any
    message: a missing torch is not what fails when the GPU is missing)."""
    kb = signatures()
    if cuda == "fails" and cuda_line:
        return f"CUDA fails: {cuda_line}"
    lead = d.primary.cause if d.primary else None
    for sid in d.signatures:
        s = kb.signature(sid)
        if not s.info and not s.unrecognised and (lead is None or any(r.cause == lead for r in s.causes)):
            return s.meaning
    seen = next((x for x in f.diagnosis.signatures if kb.signature(x.id).unrecognised), None)
    if seen is not None and lead is None:
        return f"{kb.signature(seen.id).meaning}: {seen.line.strip().splitlines()[-1][:200]}"
    return None


def root_cause_of(f: HostFacts, results: list[CheckResult] | None = None) -> tuple[RootCause, Diagnosis]:
    """The root cause from the facts (and, when given, the checks that failed)."""
    kb = signatures()
    d = diagnose(f)
    uncaused = _add_failed_checks(d, results or [])
    cuda, cuda_line = _cuda_state(f, d)
    notes = [note for _, note in d.contradicted]
    failure = _failure_line(f, d, cuda, cuda_line)
    p = d.primary
    if p is None:
        if d.signatures or cuda == "fails" or uncaused:
            # A failure is recognised (a message, CUDA failing, a failed check) but nothing explains it.
            what = failure or f"check(s) fail: {', '.join(r.id for r in uncaused)}"
            ruled = [f"ruled out: {c.cause} ({c.ruled_out[0]})" for c in d.ruled_out][:3]
            return RootCause(state="undetermined", status=Status.WARN, confidence=Confidence.LOW, failure=what,
                             title=f"cause not determined: {what}", notes=notes + ruled,
                             tell_apart=list(kb.undetermined_ask)), d
        if not f.diagnosis.recognised and "paste" in f.sources and len(f.sources) == 1:
            return RootCause(state="no_evidence", status=Status.UNKNOWN, title="nothing in the paste was recognised",
                             notes=notes), d
        return RootCause(state="none", status=Status.PASS, title="no known failure message or fault in the evidence",
                         notes=notes + [f"ruled out: {c.cause} ({c.ruled_out[0]})" for c in d.ruled_out][:3]), d
    second = d.ranked[1] if len(d.ranked) > 1 else None
    margin = p.score - (second.score if second else 0.0)
    # at a tie, how the cause is known decides: an observation outranks a message, a message an inference
    stronger = second is not None and SUPPORT.index(p.support) < SUPPORT.index(second.support)
    spec = kb.causes[p.cause]
    # Established: observed, or confirmed, or a message specific enough to stand alone (e.g. the driver's
    # own "too old"); a generic message ("invalid device ordinal") without confirmation is only most likely.
    settled = p.support == "observed" or (p.support == "message" and (bool(p.confirmed) or p.score >= SPECIFIC))
    if p.score >= STRONG and margin >= CLOSE and settled:
        state, status, conf = "established", Status.FAIL, Confidence.HIGH
    elif (p.score >= LIKELY and (margin >= LEAD or (margin > 0 and p.confirmed) or stronger)) \
            or (second is None and p.score >= 3):
        state, status, conf = "most_likely", Status.WARN, Confidence.MEDIUM
    else:
        state, status, conf = "undetermined", Status.WARN, Confidence.LOW
    if state == "undetermined":
        what = failure or "a failure is recognised"
        names = ", ".join(c.cause for c in d.ranked[:4])
        title = f"cause not determined: {what}; candidates: {names}"
        cause_id = None
    else:
        title, cause_id = spec.title, p.cause
    return RootCause(state=state, status=status, cause_id=cause_id, title=title, confidence=conf, failure=failure,
                     candidates=_candidates(d), tell_apart=_tell_apart(d, 4 if state != "established" else 2),
                     notes=notes), d


def root_cause_result(root: RootCause, d: Diagnosis, title: str,
                      results: list[CheckResult] | None = None) -> CheckResult:
    """The root cause as the report's first check line, with its evidence and fix. Where a failed check
    names the same cause, its fix (worked out for this host: the driver branch, the wheel tag) is the
    root cause's too, so the report gives one fix per cause."""
    kb = signatures()
    ev: list[str] = []
    if root.failure and root.state != "none":
        ev.append(f"fails: {root.failure}")
    p = d.primary
    if p is not None:
        ev += [f"seen: {line}" for line in p.signatures[:3] if f"seen: {line}" not in ev]
        ev += [f"confirms: {c}" for c in p.confirmed[:4] if c.removeprefix("observed: ") not in p.signatures]
        lead = 1 if root.cause_id else 0
        # alternatives are the causes the evidence offers for the same failure, not other checks' problems
        for a in [c for c in d.ranked if c.cause in d.rivals][lead:4]:
            if a.score >= 3 and (a is not p or not root.cause_id):
                ev.append(("candidate" if not root.cause_id else "also possible") + f": {a.cause} - "
                          f"{kb.causes[a.cause].title}" + (f" (confirmed by: {a.confirmed[0]})" if a.confirmed else ""))
    ev += [f"note: {n}" for n in root.notes]
    for c in d.ruled_out[:2]:
        line = f"ruled out: {c.cause} ({c.ruled_out[0]})"
        if line not in ev and f"note: {line}" not in ev:
            ev.append(line)
    fix = None
    # the commands that tell the candidates apart are commands, with why as a shell comment
    tell = [t if "#" in t else f"{t}   # tells the candidate causes apart" for t in root.tell_apart]
    if root.cause_id:
        spec = kb.causes[root.cause_id]
        same = next((r.fix for r in results or [] if r.id != ROOT_CAUSE_ID and r.cause_id == root.cause_id
                     and r.status in (Status.FAIL, Status.WARN) and r.fix is not None), None)
        base = same or spec.fix.to_fix()
        extra = tell if root.state != "established" else []
        fix = base.model_copy(update={"commands": list(base.commands) + [t for t in extra if t not in base.commands]})
    elif root.state == "undetermined":
        summary = ("Run these to tell the candidate causes apart, then check again with their output" if root.candidates
                   else "Nothing envdoctor knows explains this failure: run these to see CUDA's and the driver's own view, "
                        "then check again with their output (or search the error's own words)")
        fix = Fix(summary=summary, commands=tell, manual=True)
    label = {"established": "", "most_likely": " (most likely, not confirmed)", "undetermined": "",
             "none": "", "no_evidence": ""}[root.state]
    summary = (f"{root.cause_id}: {root.title}" if root.cause_id else root.title) + label
    return CheckResult(id=ROOT_CAUSE_ID, title=title, status=root.status, summary=summary, evidence=ev,
                       cause=kb.causes[root.cause_id].title if root.cause_id else None, cause_id=root.cause_id,
                       fix=fix)


def _reconcile(results: list[CheckResult], root: RootCause, d: Diagnosis, cuda: str,
               cuda_line: str | None) -> list[CheckResult]:
    """Checks agree with the root cause: an alternative explanation of the same failure points at the root
    cause's fix; a cause CUDA's working contradicts is a note; the check that observes CUDA says it fails
    when a pasted message shows it failing."""
    kb = signatures()
    contradicted = {c.cause: note for c, note in d.contradicted}
    out = []
    for r in results:
        if r.id == ROOT_CAUSE_ID:
            continue
        if r.status in (Status.FAIL, Status.WARN) and r.cause_id in contradicted:
            r = r.model_copy(update={"status": Status.WARN, "evidence": r.evidence + [f"note: {contradicted[r.cause_id]}"],
                                     "fix": None, "summary": r.summary + " (but CUDA works here: see the note)"})
        elif (root.state == "established" and r.status in (Status.FAIL, Status.WARN) and r.cause_id
              and r.cause_id != root.cause_id and r.cause_id in d.rivals):
            spec = kb.causes[root.cause_id]
            r = r.model_copy(update={
                "evidence": r.evidence + [f"explained by the root cause: {root.cause_id}"],
                "fix": spec.fix.to_fix(summary=f"Fix the root cause first ({root.cause_id}): {spec.fix.summary}")})
        elif r.status in (Status.FAIL, Status.WARN) and r.cause_id and r.cause_id == root.cause_id and r.fix is None:
            spec = kb.causes[r.cause_id]
            r = r.model_copy(update={"fix": spec.fix.to_fix()})
        if r.id == "torch_cuda_available" and r.status in (Status.UNKNOWN, Status.SKIP) and cuda == "fails" and cuda_line:
            # The pasted message is torch's own answer (e.g. "Setting the available devices to be zero").
            r = r.model_copy(update={"status": Status.FAIL, "summary": "False: CUDA fails (from the pasted message)",
                                     "evidence": [cuda_line], "cause_id": root.cause_id,
                                     "cause": kb.causes[root.cause_id].title if root.cause_id else "not determined (see the root cause)"})
        out.append(r)
    return out


def _bottom_line(results: list[CheckResult], root: RootCause, cuda: str, cuda_line: str | None,
                 proof_status: Status | None, paste: bool = False) -> tuple[HostStatus, BottomLine]:
    failed = [r for r in results if r.status == Status.FAIL and r.id != ROOT_CAUSE_ID]
    training = [r for r in failed if not r.id.startswith("security_")]
    security = [r for r in failed if r.id.startswith("security_")]
    works = cuda == "works" or proof_status == Status.PASS
    base = host_status(results)
    sec = f"; {len(security)} security check(s) fail: fix them too" if security else ""
    if cuda == "fails" or root.status == Status.FAIL or training or proof_status == Status.FAIL:
        why = (f"{root.cause_id}: {root.title}" if root.cause_id else
               (root.title if root.state == "undetermined" else
                (f"CUDA fails ({cuda_line})" if cuda == "fails" else f"{training[0].id} fails" if training
                 else "the proof-run failed")))
        text = (f"this host cannot train on a GPU as it is: {why}. Fix the ✗ items below, the root cause first.")
        return HostStatus.FAIL, BottomLine(verdict=TrainingVerdict.CANNOT_TRAIN, text=text, cuda=cuda, cuda_evidence=cuda_line)
    warned = [r for r in results if r.status == Status.WARN] + ([None] if proof_status == Status.WARN else [])
    if works:
        if warned or security:
            text = ("this host can train on its GPU(s); the warnings below may cost speed or stability" + sec + ".")
            status = HostStatus.FAIL if security else HostStatus.WARN
            return status, BottomLine(verdict=TrainingVerdict.CAN_TRAIN_WITH_WARNINGS, text=text, cuda=cuda,
                                      cuda_evidence=cuda_line)
        if proof_status not in (None, Status.PASS) and base == HostStatus.PASS:
            base = HostStatus.UNKNOWN  # a proof that could not finish: not a clean bill of health
        if paste:
            # a paste holds what the user chose to show: its silence on other checks is not a doubt about them
            return HostStatus.PASS, BottomLine(verdict=TrainingVerdict.READY, cuda=cuda, cuda_evidence=cuda_line,
                                               text="this host is ready to train on its GPU(s), as far as the paste shows.")
        text = "this host is ready to train on its GPU(s)" + (
            "; some evidence could not be collected (?): not a clean bill of health" if base == HostStatus.UNKNOWN else "")
        return base, BottomLine(verdict=TrainingVerdict.READY, text=text + ".", cuda=cuda, cuda_evidence=cuda_line)
    # Neither CUDA working nor failing was observed: no verdict on training either way.
    text = ("cannot tell whether this host can train on a GPU: no observation of CUDA itself in the evidence "
            "(run `python -c 'import torch; print(torch.cuda.is_available())'` or `envdoctor proof`)"
            + ("; the warnings below still apply" if warned else "") + sec + ".")
    status = HostStatus.FAIL if security else (HostStatus.WARN if warned else HostStatus.UNKNOWN)
    return status, BottomLine(verdict=TrainingVerdict.CANNOT_TELL, text=text, cuda=cuda, cuda_evidence=cuda_line)


def _linux_only(command: str) -> bool:
    words = set(load("platforms")["linux_only"])
    return any(part.strip().split(" ", 1)[0] in words for part in command.replace("&&", "|").replace(";", "|").split("|")
               if part.strip())


def for_platform(checks: list[CheckResult], f: HostFacts) -> list[CheckResult]:
    """On a Windows host, each fix is the cause's Windows fix where it has one; Linux-only commands
    (sudo, apt-get, modprobe...) are left out, and the fix says so."""
    if f.system.os_family != "windows":
        return checks
    kb = signatures()
    out = []
    for r in checks:
        if r.fix is not None:
            spec = kb.causes.get(r.cause_id) if r.cause_id else None
            if spec is not None and spec.windows is not None and not r.fix.summary.startswith("Fix the root cause first"):
                fix = spec.windows.to_fix()
            else:
                kept = [c for c in r.fix.commands if not _linux_only(c.removeprefix("to tell the causes apart: "))]
                note = " (Linux commands left out: this is a Windows host)" if len(kept) < len(r.fix.commands) else ""
                fix = r.fix.model_copy(update={"commands": kept, "summary": r.fix.summary + note,
                                               "playbook": None, "manual": True})
            r = r.model_copy(update={"fix": fix})
        out.append(r)
    return out


def conclude(f: HostFacts, results: list[CheckResult], proof_status: Status | None = None) -> Conclusion:
    """The root cause, the reconciled checks (root cause first) and the verdict for one host."""
    root, d = root_cause_of(f, results)
    cuda, cuda_line = _cuda_state(f, d)
    title = next((r.title for r in results if r.id == ROOT_CAUSE_ID), None)
    # The root cause's line leads whenever the catalog has it (a site's catalog or a test may not).
    lead = [root_cause_result(root, d, title, results)] if title else []
    checks = for_platform(lead + _reconcile(results, root, d, cuda, cuda_line), f)
    paste = f.sources == ["paste"]
    status, bottom = _bottom_line(checks, root, cuda, cuda_line, proof_status, paste)
    return Conclusion(root=root, checks=checks, status=status, bottom_line=bottom)


def with_proof(report: HostReport, proof_status: Status | None) -> None:
    """The host's status and verdict once the proof-run is judged (the checks and the root cause are
    unchanged): a passing proof is an observation that CUDA trains, a failed one that it does not."""
    if not report.status.evaluated or proof_status in (None, Status.SKIP) or report.root_cause is None \
            or report.bottom_line is None:
        return
    b = report.bottom_line
    report.status, report.bottom_line = _bottom_line(report.checks, report.root_cause, b.cuda, b.cuda_evidence,
                                                     proof_status)


def judge_proof(report: HostReport) -> None:
    """Status and verdict once the host's proof-run is judged."""
    proof_status = report.proof.status if report.proof else None
    if report.bottom_line is not None:
        with_proof(report, proof_status)
    else:
        report.status = status_with_proof(report.status, proof_status)


def status_with_proof(status: HostStatus, proof_status: Status | None) -> HostStatus:
    """The host's status once the proof-run is judged: a failed proof fails the host, a warning warns;
    a proof that could not finish leaves a passing host unknown; a skipped proof changes nothing."""
    if not status.evaluated or proof_status in (None, Status.SKIP, Status.PASS):
        return status
    if proof_status == Status.FAIL:
        return HostStatus.FAIL
    if proof_status == Status.WARN:
        return status if status == HostStatus.FAIL else HostStatus.WARN
    return HostStatus.UNKNOWN if status == HostStatus.PASS else status
