"""The report's first line (the root cause) and last line (the verdict and exit code) never contradict the
lines between them. The invariants are checked on every real case of the corpus (all splits: these are
properties, not accuracy) and on generated combinations of facts (hypothesis; labelled constructed)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from envdoctor.cli.common import exit_code
from envdoctor.diagnosis.catalog import load_catalog, run_checks
from envdoctor.diagnosis.conclusion import conclude
from envdoctor.facts import HostFacts
from envdoctor.facts.diagnosis import SignatureSeen
from envdoctor.facts.gpu import GpuInfo
from envdoctor.knowledge import signatures
from envdoctor.models import HostReport, HostStatus, Status, TrainingVerdict
from tests.corpus import corpus_body, diagnose_paste, is_blind, labelled_cases

CHECKS = load_catalog()


def violations(h: HostReport) -> list[str]:
    """Every way the report's first and last lines disagree with the checks between them."""
    out: list[str] = []
    root, bottom = h.root_cause, h.bottom_line
    if root is None or bottom is None:
        return ["no root cause or no verdict"]
    checks = [c for c in h.checks if c.id != "root_cause"]
    if h.checks and h.checks[0].id != "root_cause":
        out.append(f"the root cause is not the first line: {h.checks[0].id}")
    if list(h.model_dump())[1] != "root_cause":
        out.append("the root cause is not the first field of the host's JSON after its name")
    failed = [c for c in checks if c.status == Status.FAIL]
    training_failed = [c for c in failed if not c.id.startswith("security_")]
    v = bottom.verdict
    # never "can train" where CUDA is seen failing, a check that bears on training fails, or the cause is established
    if bottom.cuda == "fails" and v != TrainingVerdict.CANNOT_TRAIN:
        out.append(f"CUDA fails ({bottom.cuda_evidence}) but the verdict is {v.value}")
    if training_failed and v != TrainingVerdict.CANNOT_TRAIN:
        out.append(f"{training_failed[0].id} fails but the verdict is {v.value}")
    if root.status == Status.FAIL and v != TrainingVerdict.CANNOT_TRAIN:
        out.append(f"the root cause is established ({root.cause_id}) but the verdict is {v.value}")
    if v in (TrainingVerdict.READY, TrainingVerdict.CAN_TRAIN_WITH_WARNINGS) and bottom.cuda != "works":
        out.append(f"verdict {v.value} without an observation that CUDA works")
    if v == TrainingVerdict.READY and any(c.status in (Status.FAIL, Status.WARN) for c in checks):
        out.append("verdict ready under a warning or a failure")
    # the exit code and the host status follow the verdict
    if v == TrainingVerdict.CANNOT_TRAIN and (h.status != HostStatus.FAIL or exit_code([h]) != 1):
        out.append(f"cannot train, but status {h.status.value} / exit {exit_code([h])}")
    if failed and exit_code([h]) != 1:
        out.append(f"{failed[0].id} fails but the exit code is {exit_code([h])}")
    # no passing root cause under a failed check or a failing CUDA
    if root.status == Status.PASS and (failed or bottom.cuda == "fails"):
        out.append(f"root cause passes under {failed[0].id if failed else 'a CUDA failure'}")
    # a failure message named in "Read:" is never followed by "no known failure"
    if (h.recognised and any(r.startswith("message:") for r in h.recognised) and root.state == "none"
            and not any(n.startswith(("ruled out", "the driver is older")) or "CUDA works" in n for n in root.notes)):
        out.append(f"read {[r for r in h.recognised if r.startswith('message:')]} but the root cause names no failure")
    # a named cause has a confidence; established is exactly a failure
    if root.cause_id and root.confidence is None:
        out.append("a cause is named without a confidence")
    if (root.state == "established") != (root.status == Status.FAIL):
        out.append(f"state {root.state} with status {root.status.value}")
    # a check that offers another explanation of the same failure points at the root cause's fix
    if root.state == "established":
        rivals = {c.cause_id for c in root.candidates if not any(x.startswith("check ") for x in c.confirmed)}
        for c in checks:
            if (c.status in (Status.FAIL, Status.WARN) and c.cause_id and c.cause_id != root.cause_id
                    and c.cause_id in rivals and not (c.fix and c.fix.summary.startswith("Fix the root cause first"))):
                out.append(f"{c.id} names {c.cause_id} with its own fix, against the root cause {root.cause_id}")
    # an inference that the observation "CUDA works" contradicts is never a failure
    if bottom.cuda == "works":
        kb = signatures()
        for c in failed:
            if c.cause_id and kb.causes[c.cause_id].blocks_cuda and c.cause_id not in {x.cause_id for x in root.candidates
                                                                                      if x.support in ("observed", "message")}:
                out.append(f"{c.id} fails on {c.cause_id} although CUDA works")
        if root.cause_id and kb.causes[root.cause_id].blocks_cuda and root.candidates \
                and root.candidates[0].support in ("inferred", "hint"):
            out.append(f"root cause {root.cause_id} is only inferred and CUDA works")
    return out


CASES = labelled_cases()


@pytest.mark.parametrize("rel", sorted(CASES))
def test_corpus_case_bottom_line_agrees(rel):
    _, _, report = diagnose_paste(corpus_body(rel), CHECKS)
    assert violations(report) == [], rel


def test_a_healthy_output_is_never_called_broken():
    """A healthy machine's output has no failed check (the blind split's false alarms are measured by
    benchmarks/diagnosis_accuracy.py, not asserted here: a failure there would invite tuning on it)."""
    bad = []
    for rel, want in CASES.items():
        if want != "healthy" or is_blind(rel):
            continue
        named, failing, report = diagnose_paste(corpus_body(rel), CHECKS)
        if failing or report.root_cause.status == Status.FAIL:
            bad.append((rel, named, failing))
    assert bad == []


# --- generated combinations of facts (constructed, not real outputs) ---------------------------------

_SIGS = sorted(s.id for s in signatures().signatures if s.patterns)
_NAMES = ["NVIDIA H100 80GB HBM3", "NVIDIA GeForce RTX 4090", "Tesla K80", "NVIDIA A100-SXM4-40GB", None]


@st.composite
def facts(draw) -> HostFacts:
    f = HostFacts(host="constructed", sources=[draw(st.sampled_from(["paste", "probe"]))])
    t = f.torch
    t.installed = draw(st.sampled_from([True, False, None]))
    if t.installed:
        t.version = draw(st.sampled_from(["2.14.1+cu130", "2.2.0+cpu", "2.5.1+cu121", None]))
        t.cuda_build = draw(st.sampled_from(["13.0", "12.1", "11.8", None]))
        t.cpu_only_build = draw(st.sampled_from([True, False, None]))
        t.is_available = draw(st.sampled_from([True, False, None]))
        t.device_count = draw(st.sampled_from([0, 1, 8, None]))
    n = draw(st.sampled_from([None, 0, 1, 2]))
    if n is not None:
        f.gpu.gpus = [GpuInfo(index=i, name=draw(st.sampled_from(_NAMES))) for i in range(n)]
    f.gpu.pci_gpus = draw(st.sampled_from([None, [], ["10de:2330"]]))
    f.gpu.kernel_module_loaded = draw(st.sampled_from([True, False, None]))
    f.gpu.kernel_module_version = draw(st.sampled_from([None, "535.104.05", "590.48.01"]))
    f.gpu.nvml_version = draw(st.sampled_from([None, "535.104.05", "590.48.01"]))
    f.system.in_container = draw(st.sampled_from([True, False, None]))
    seen = draw(st.lists(st.sampled_from(_SIGS), max_size=3, unique=True))
    f.diagnosis.signatures = [SignatureSeen(id=s, line=f"(constructed line for {s})") for s in seen]
    f.diagnosis.recognised = ["constructed"] if seen or n is not None else []
    return f


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(facts())
def test_generated_facts_bottom_line_agrees(f):
    c = conclude(f, run_checks(f, CHECKS))
    h = HostReport(host=f.host, root_cause=c.root, status=c.status, checks=c.checks, bottom_line=c.bottom_line)
    assert violations(h) == []
