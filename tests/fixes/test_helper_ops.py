"""The fix helper's ops and results as typed models (envdoctor/fixes/ops.py): what goes on the wire, and
what a module's plan reads back, by name."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from envdoctor.fixes.modules import MODULES
from envdoctor.fixes.ops import (
    ExecOp,
    ExecResult,
    OpResult,
    StatOp,
    StatResult,
    WriteOp,
    result_of,
)


def test_a_write_says_the_file_must_be_new_and_leaves_out_what_it_does_not_set():
    assert WriteOp(path="/etc/x", content_b64="eAo=", expect_sha256=None).wire() == {
        "op": "write", "path": "/etc/x", "content_b64": "eAo=", "backup": True, "create_parents": False,
        "expect_sha256": None}
    assert ExecOp(shell="true", timeout=60).wire() == {"op": "exec", "shell": "true", "timeout": 60}


def test_an_op_with_a_misspelt_field_is_refused():
    with pytest.raises(ValidationError):
        StatOp(path="/etc/x", raed=True)


def test_results_are_typed_by_their_op_and_an_error_fits_any():
    assert result_of(StatOp(path="/x"), {"exists": True, "type": "file", "mode": 0o644}) == StatResult(
        exists=True, type="file", mode=0o644)
    not_run = result_of(ExecOp(shell="true"), {"error": "not run: an earlier step failed"})
    assert isinstance(not_run, ExecResult) and not_run.rc is None and not_run.error.startswith("not run")
    assert type(result_of(WriteOp(path="/x", content_b64="", expect_sha256=None), {"error": "e"})).__name__ == "WriteResult"
    assert isinstance(result_of(StatOp(path="/x"), {}), OpResult)


def _command_plan(args: dict, answers: dict[str, OpResult]):
    """The command module's plan, each guard answered by its name (creates/removes/unless/onlyif)."""
    m = MODULES["command"]
    a = m.Args.model_validate(args)
    reads = m.reads(a)
    names = [g for g in ("creates", "removes", "unless", "onlyif") if args.get(g)]
    assert len(reads) == len(names)
    return m.plan(a, [answers[n] for n in names])


def test_command_reads_each_guard_by_its_name():
    done = {"removes": StatResult(exists=True), "onlyif": ExecResult(rc=1)}
    p = _command_plan({"cmd": "make", "removes": "/tmp/x", "onlyif": "test -e /y"}, done)
    assert p.skipped == "not needed (onlyif)"
    p = _command_plan({"cmd": "make", "unless": "false", "onlyif": "true"},
                      {"unless": ExecResult(rc=1), "onlyif": ExecResult(rc=0)})
    assert p.changed and p.ops == [ExecOp(shell="make", timeout=600)]
    p = _command_plan({"argv": ["make"], "creates": "/out", "unless": "true"},
                      {"creates": StatResult(exists=False), "unless": ExecResult(rc=0)})
    assert p.skipped == "already done (unless)"


def test_a_failed_command_is_told_with_its_last_lines():
    p = _command_plan({"argv": ["make", "all"]}, {})
    good, msg = p.interpret([ExecResult(rc=2, stderr="one\ntwo\nthree\nfour\n")])
    assert not good and msg == "`make all` failed (exit 2): two | three | four"
