"""The report's layout, as a user reads it (issue: "a report that reads like a doctor's"): per host the host
line, the root cause, the verdict and the counts first; then the problems, each with its evidence and fix;
then one folded line for what passed, was not applicable or had no evidence, which -v unfolds. The JSON
host object keeps the same order and carries the counts the text shows."""

import json

from click.testing import CliRunner

from envdoctor.cli import main
from envdoctor.models import CheckResult, Fix, HostReport, HostStatus, Status
from envdoctor.report.text import render_host
from tests.corpus import corpus_body

PASTE = "errors/nvml-driver-library-version-mismatch-unattended-upgrade.txt"


def _check(tmp_path, *args):
    p = tmp_path / "paste.txt"
    p.write_text(corpus_body(PASTE))
    return CliRunner().invoke(main, ["check", "--from", str(p), *args])


def test_a_paste_report_opens_with_root_cause_verdict_and_counts_then_problems_then_one_folded_line(tmp_path):
    r = _check(tmp_path)
    assert r.exit_code == 1, r.output
    lines = r.output.splitlines()
    head = lines[:lines.index("")]
    assert [l.split(":")[0] for l in head[1:4]] == ["  Root cause", "  Verdict", "  Summary"]
    assert "driver_library_mismatch" in head[1]
    assert "Fix the ✗ items below" in head[2]  # the items it points at follow it
    body = lines[lines.index("") + 1:]
    marks = [l.split("]")[0].strip() for l in body if l.startswith("  [")]
    assert marks[0] == "[✗" and "(root_cause)" in body[0]
    assert marks[:-1] == ["[✗"] * (len(marks) - 1)  # only the problems, each with its lines below it
    assert any(l.startswith("        fix: ") for l in body) and any(l.startswith("        • ") for l in body)
    folded = body[-1]
    assert "with no evidence in the paste" in folded and "(-v lists them)" in folded
    assert sum(1 for l in lines if l.lstrip().startswith("[")) == len(marks)


def test_verbose_unfolds_the_folded_line_and_the_json_has_the_same_order_and_counts(tmp_path):
    short, verbose = _check(tmp_path), _check(tmp_path, "-v")
    assert "(-v lists them)" not in verbose.output
    doc = json.loads(_check(tmp_path, "--json").output)
    (host,) = doc["hosts"]
    keys = list(host)
    assert keys.index("root_cause") < keys.index("bottom_line") < keys.index("counts") < keys.index("checks")
    counts = host["counts"]
    assert counts == {s: sum(1 for c in host["checks"] if c["status"] == s) for s in counts}
    # every check is one [mark] line with -v: the folded ones too
    assert sum(1 for l in verbose.output.splitlines() if l.startswith("  [")) == len(host["checks"])
    shown = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    assert all(f"{n} {s}" in short.output for s, n in counts.items() if n), shown


def _local(checks, **kw) -> HostReport:
    return HostReport(host="node1", local=True, status=HostStatus.FAIL, checks=checks, **kw)


def test_a_local_report_shows_what_could_not_be_collected_as_a_problem_and_folds_passes_and_skips():
    fix = Fix(summary="give it a GPU", commands=["lspci -nn"], manual=True)
    checks = [CheckResult(id="root_cause", title="Root cause", status=Status.FAIL, summary="no_gpu_on_bus: no GPU",
                          cause_id="no_gpu_on_bus", evidence=["seen: 0 devices"], fix=fix),
              CheckResult(id="xid_errors", title="No Xid", status=Status.PASS, summary="none"),
              CheckResult(id="nouveau", title="nouveau", status=Status.SKIP, summary="no GPU"),
              CheckResult(id="docker_gpu_runtime", title="Docker GPUs", status=Status.UNKNOWN, summary="no daemon",
                          evidence=["Cannot connect"]),
              CheckResult(id="memlock_limit", title="memlock", status=Status.WARN, summary="8 MiB", fix=fix),
              CheckResult(id="gpu_present", title="GPU present", status=Status.FAIL, summary="no GPU", fix=fix)]
    text = render_host(_local(checks), color=False)
    lines = text.splitlines()
    assert lines[0] == "node1 (this machine, local): fail"
    assert lines[1] == "  Root cause: no_gpu_on_bus: no GPU"
    assert lines[3] == "  Summary: 2 fail, 1 warn, 1 unknown, 1 pass, 1 skip."
    ids = [l.rsplit("(", 1)[1].rstrip(")") for l in lines[:-1] if l.startswith("  [")]
    assert ids == ["root_cause", "gpu_present", "memlock_limit", "docker_gpu_runtime"]  # cause, then worst first
    assert "[✗] Root cause: no_gpu_on_bus  (root_cause)" in text  # its whole line is the one above
    assert lines[-1] == "  [✓] 1 passed, [-] 1 not applicable  (-v lists them)"
    verbose = render_host(_local(checks), color=False, verbose=True)
    assert "(xid_errors)" in verbose and "(nouveau)" in verbose and "-v lists them" not in verbose


def test_a_host_that_could_not_be_evaluated_is_its_line_and_why():
    h = HostReport(host="gpu9", status=HostStatus.UNREACHABLE, error="ssh: connection refused")
    assert render_host(h, color=False) == "gpu9: unreachable\n  ssh: connection refused"
