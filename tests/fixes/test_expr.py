"""The `when:` / `{{ }}` expression language: what it computes, and what it refuses to run."""

import pytest

from envdoctor.facts import HostFacts
from envdoctor.fixes.expr import ExprError, evaluate, parse, render, truth


@pytest.fixture
def ctx():
    facts = HostFacts()
    facts.system.in_container = True
    facts.system.shm_size_bytes = 64 << 20
    facts.container.daemon_json = {"runtimes": {"nvidia": {"path": "nvidia-container-runtime"}}}
    return {"facts": facts, "check": {"memlock_limit": "fail", "shm_size": "pass"}, "size": "8G", "n": 3}


@pytest.mark.parametrize("expr,want", [
    ('check.memlock_limit == "fail"', True),
    ('check.shm_size == "fail"', False),
    ('check.memlock_limit in ["fail", "warn"]', True),
    ("facts.system.in_container", True),
    ("not facts.system.in_container", False),
    ("facts.system.shm_size_bytes < 1048576000", True),
    ('check.memlock_limit == "fail" and not facts.system.in_container', False),
    ('check.shm_size == "fail" or n >= 3', True),
    ("1 < n < 5", True),
    ("'nvidia' in facts.container.daemon_json.runtimes", True),
    ("'nvidia' in facts.container.daemon_json['runtimes']", True),
    ("facts.gpu.nvswitch_count > 0", False),  # None (unknown) is never greater than anything
    ("facts.gpu.nvswitch_count == none", True),
    ("default(facts.gpu.nvswitch_count, 0) == 0", True),
    ("undefined_var is defined", False),
    ("size is defined", True),
    ("facts.system.no_such_field is not defined", True),
    ("true and not false", True),
])
def test_evaluates(expr, want, ctx):
    assert truth(expr, ctx) is want


def test_list_of_conditions_means_and(ctx):
    assert truth(["n == 3", "facts.system.in_container"], ctx) is True
    assert truth(["n == 3", "not facts.system.in_container"], ctx) is False


def test_unknown_name_is_an_error_not_false(ctx):
    with pytest.raises(ExprError, match="check.memlock is not defined|'check.memlock' is not defined"):
        truth('check.memlock == "fail"', ctx)


@pytest.mark.parametrize("expr", [
    "__import__('os').system('true')",
    "open('/etc/passwd').read()",
    "facts.__class__",
    "facts.system.__dict__",
    "(lambda: 1)()",
    "[x for x in [1]]",
    "n * 1000000000",
    "facts.system.model_dump()",
    "exec('1')",
    "f'{n}'",
])
def test_refuses_anything_but_the_whitelist(expr, ctx):
    with pytest.raises(ExprError):
        evaluate(expr, ctx)


def test_validation_happens_before_evaluation():
    with pytest.raises(ExprError):
        parse("__import__('os')")
    with pytest.raises(ExprError, match="cannot parse"):
        parse("check.x ==")


def test_templates(ctx):
    assert render("size={{ size }}", ctx) == "size=8G"
    assert render("{{ n }}", ctx) == 3  # a lone template keeps its type
    assert render({"a": ["x{{ n + 1 }}"]}, ctx) == {"a": ["x4"]}
    assert render("{{ facts.system.in_container }}", ctx) is True


@pytest.mark.parametrize("expr", ["int(1e999)", "-" * 200000 + "1", "not " * 100000 + "x", "(" * 5000 + "1" + ")" * 5000])
def test_hostile_expressions_are_expr_errors_not_crashes(expr, ctx):
    # Review regression: these raised OverflowError / MemoryError / RecursionError (a traceback, not exit 2).
    with pytest.raises(ExprError):
        evaluate(expr, ctx)
