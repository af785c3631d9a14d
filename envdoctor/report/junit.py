"""JUnit XML for CI: one <testsuite> per host, one <testcase> per check (and per proof-run judgement).
A failed check is a <failure> carrying its summary, evidence, cause and fix; a check that did not
complete an <error>; a skipped check <skipped> with its reason. JUnit has no "unknown": an unknown
check is <skipped> with a message that starts "unknown:", so it never reads as a pass; a warning passes
and says so in its <system-out>. A host that could not be evaluated is one <error> testcase. Hosts an interrupted run never started are
one <error> testcase of their own suite (see `_not_started`).

The element and attribute names follow the JUnit XML format as Jenkins and most CI servers read it;
tests/report/junit.xsd is our schema of it."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from xml.etree import ElementTree as ET

from envdoctor.models import CheckResult, HostReport, Report, Status

_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(text: str | None) -> str:
    return _XML_BAD.sub("?", text or "")


def _details(r: CheckResult) -> str:
    lines = [r.summary]
    lines += [f"evidence: {e}" for e in r.evidence]
    if r.cause:
        lines.append(f"cause: {r.cause}")
    if r.fix:
        lines.append(f"fix: {r.fix.summary}")
        lines += [f"  $ {c}" for c in r.fix.commands]
        if r.fix.playbook:
            lines.append(f"  playbook: {r.fix.playbook} (envdoctor fix applies it)")
    return "\n".join(lines)


def _case(suite: ET.Element, r: CheckResult, classname: str) -> dict[str, int]:
    case = ET.SubElement(suite, "testcase", name=_clean(r.id), classname=_clean(classname), time="0")
    counts = {"failures": 0, "errors": 0, "skipped": 0}
    if r.status == Status.FAIL:
        el = ET.SubElement(case, "failure", message=_clean(r.summary), type=_clean(r.id))
        el.text = _clean(_details(r))
        counts["failures"] = 1
    elif r.status == Status.ERROR:
        el = ET.SubElement(case, "error", message=_clean(r.summary), type="check-did-not-complete")
        el.text = _clean(_details(r))
        counts["errors"] = 1
    elif r.status == Status.SKIP:
        ET.SubElement(case, "skipped", message=_clean(r.summary))
        counts["skipped"] = 1
    elif r.status == Status.UNKNOWN:
        ET.SubElement(case, "skipped", message=_clean(f"unknown: {r.summary}"))
        ET.SubElement(case, "system-out").text = _clean(_details(r))
        counts["skipped"] = 1
    elif r.status == Status.WARN:
        ET.SubElement(case, "system-out").text = _clean("warning: " + _details(r))
    return counts


def _proof_results(h: HostReport) -> list[tuple[str, CheckResult]]:
    """The proof-run's judgements as (classname suffix, CheckResult): the host's, then each GPU's."""
    if h.proof is None:
        return []
    verdict = h.proof.verdict
    if verdict is None:
        if h.proof.status not in (Status.SKIP, Status.ERROR):
            return []
        return [("proof", CheckResult(id="proof_run", title="Proof-run", status=h.proof.status,
                                      summary=h.proof.summary or h.proof.status.value))]
    out = [("proof", c) for c in verdict.host_checks]
    for g in verdict.gpus:
        out += [(f"proof.gpu{g.device_index}", c) for c in g.checks]
    return out


def _not_started(root: ET.Element, report: Report, ts: str) -> dict[str, int]:
    """The hosts an interrupt came before, as ONE <error> testcase listing them (a name a line): a CI gate
    counts errors, so an interrupted run never reads as green, and its results are not buried under
    100,000 <skipped> cases that a gate accepting skips would pass."""
    ns = report.not_started
    total = len(report.hosts) + ns.count
    names = ns.hosts
    span = names[0] + (f" ... {names[-1]}" if len(names) > 1 else "") if names else ""
    suite = ET.SubElement(root, "testsuite", name="not started", timestamp=ts, tests="1", failures="0",
                          errors="1", skipped="0", time="0")
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", name="envdoctor.version", value=report.envdoctor)
    ET.SubElement(props, "property", name="not_started.count", value=str(ns.count))
    case = ET.SubElement(suite, "testcase", name="not_started", classname="envdoctor", time="0")
    el = ET.SubElement(case, "error", type="interrupted", message=_clean(
        f"interrupted before {ns.count} of {total} hosts were started ({span}); they were not checked"))
    el.text = _clean("\n".join(names))
    return {"tests": 1, "errors": 1}


def render_junit(report: Report, timestamp: datetime | None = None) -> str:
    ts = (timestamp or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%S")
    root = ET.Element("testsuites", name="envdoctor")
    total = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for h in report.hosts:
        suite = ET.SubElement(root, "testsuite", name=_clean(h.host), timestamp=ts, hostname=_clean(h.host))
        props = ET.SubElement(suite, "properties")
        ET.SubElement(props, "property", name="envdoctor.version", value=report.envdoctor)
        ET.SubElement(props, "property", name="host.status", value=h.status.value)
        for k, v in sorted(h.headline):  # (fact, value) pairs
            if v is not None:
                ET.SubElement(props, "property", name=f"headline.{k}", value=_clean(str(v)))
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        if not h.status.evaluated:
            case = ET.SubElement(suite, "testcase", name="reachable", classname=_clean(h.host), time="0")
            el = ET.SubElement(case, "error", message=_clean(f"{h.status.value}: {h.error or ''}"), type=h.status.value)
            el.text = _clean(h.error)
            counts.update(tests=1, errors=1)
        results = [(h.host, r) for r in h.checks] + [(f"{h.host}.{cls}", r) for cls, r in _proof_results(h)]
        for classname, r in results:
            for k, n in _case(suite, r, classname).items():
                counts[k] += n
            counts["tests"] += 1
        suite.set("tests", str(counts["tests"]))
        suite.set("failures", str(counts["failures"]))
        suite.set("errors", str(counts["errors"]))
        suite.set("skipped", str(counts["skipped"]))
        suite.set("time", f"{h.gather_secs or 0:.3f}")
        for k in total:
            total[k] += counts[k]
    if report.not_started:
        for k, n in _not_started(root, report, ts).items():
            total[k] += n
    for k in ("tests", "failures", "errors", "skipped"):
        root.set(k, str(total[k]))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
