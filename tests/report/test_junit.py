"""--junit: one testcase per host x check, accepted by our JUnit schema (tests/report/junit.xsd, written
from the published format; see its header), on a fleet diagnosed from real corpus pastes."""

from pathlib import Path
from xml.etree import ElementTree as ET

import xmlschema
from click.testing import CliRunner

from envdoctor.cli import main
from envdoctor.models import HostReport, HostStatus, NotStarted, Report
from envdoctor.report.junit import render_junit
from tests.corpus import corpus_path
from tests.report.corpus_fleet import corpus_report

SCHEMA = xmlschema.XMLSchema(str(Path(__file__).with_name("junit.xsd")))


def test_corpus_fleet_is_valid_junit_with_one_case_per_host_and_check(tmp_path):
    report = corpus_report(tmp_path)
    xml = render_junit(report)
    SCHEMA.validate(xml)
    root = ET.fromstring(xml)
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert list(suites) == [h.host for h in report.hosts]
    for h in report.hosts:
        s = suites[h.host]
        cases = s.findall("testcase")
        names = [c.get("name") for c in cases if c.get("classname") == h.host]
        if h.status.evaluated:
            assert names == [c.id for c in h.checks]
        assert int(s.get("tests")) == len(cases)
        assert int(s.get("failures")) == len(s.findall("testcase/failure"))
        assert int(s.get("skipped")) == len(s.findall("testcase/skipped"))
    assert int(root.get("tests")) == sum(int(s.get("tests")) for s in suites.values())


def test_failure_carries_summary_evidence_and_fix_and_unknown_is_never_a_pass(tmp_path):
    report = corpus_report(tmp_path)
    root = ET.fromstring(render_junit(report))
    h = next(h for h in report.hosts if h.host == "gpu04")  # driver too old for torch's CUDA (real paste)
    r = next(c for c in h.checks if c.id == "driver_cuda_compat")
    case = root.find("testsuite[@name='gpu04']/testcase[@name='driver_cuda_compat']")
    f = case.find("failure")
    assert f.get("message") == r.summary
    assert all(f"evidence: {e}" in f.text for e in r.evidence) and f"fix: {r.fix.summary}" in f.text
    for c in h.checks:
        el = root.find(f"testsuite[@name='gpu04']/testcase[@name='{c.id}']")
        if c.status.value == "unknown":
            assert el.find("skipped").get("message").startswith("unknown: ")
        if c.status.value == "skip":
            assert el.find("skipped").get("message") == c.summary
    # The proof's judgements are testcases too (a constructed GPU proof on gpu02: one slow GPU).
    slow = root.find("testsuite[@name='gpu02']/testcase[@classname='gpu02.proof.gpu1'][@name='proof_fast_enough']")
    assert slow is not None and slow.find("system-out").text.startswith("warning: ")
    # A host that could not be reached is an error, not a silent pass.
    err = root.find("testsuite[@name='gpu08']/testcase[@name='reachable']/error")
    assert err.get("type") == "unreachable"


def test_check_from_writes_valid_junit(tmp_path):
    out = tmp_path / "junit.xml"
    r = CliRunner().invoke(main, ["check", "--from", str(corpus_path("errors/torch-driver-too-old-11040-with-proc-version.txt")),
                                  "--junit", str(out)])
    assert r.exit_code == 1, r.output
    SCHEMA.validate(str(out))
    assert ET.parse(out).getroot().find("testsuite/testcase/failure") is not None


def test_junit_to_a_missing_directory_is_one_line(tmp_path):
    r = CliRunner().invoke(main, ["check", "--from", str(corpus_path("errors/torch-driver-too-old-11040-with-proc-version.txt")),
                                  "--junit", str(tmp_path / "nope" / "j.xml")])
    assert r.exit_code == 2
    assert "its directory does not exist" in r.output


def test_hosts_an_interrupt_came_before_are_one_error_case():
    """Constructed: a run stopped after two of five hosts were started; the three others are one <error>
    case naming each (a CI gate sees an error, never a green run of two hosts)."""
    report = Report(envdoctor="0", hosts=[HostReport(host=h, status=HostStatus.ERROR, error="interrupted")
                                          for h in ("gpu1", "gpu2")],
                    interrupted=True, not_started=NotStarted(count=3, hosts=["gpu3", "gpu4", "gpu\x1b5"]))
    xml = render_junit(report)
    SCHEMA.validate(xml)
    root = ET.fromstring(xml)
    err = root.find("testsuite[@name='not started']/testcase[@name='not_started']/error")
    assert err.get("type") == "interrupted"
    assert err.get("message") == "interrupted before 3 of 5 hosts were started (gpu3 ... gpu?5); they were not checked"
    assert err.text.split("\n") == ["gpu3", "gpu4", "gpu?5"]
    assert root.get("errors") == "3" and root.get("tests") == "3"
