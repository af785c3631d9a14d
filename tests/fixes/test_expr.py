"""The `when:` / `{{ }}` expression language: what it computes, and what it refuses to run."""

import json
import re
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from envdoctor.facts import HostFacts
from envdoctor.fixes.expr import ExprError, evaluate, parse, render, truth

ROOT = Path(__file__).resolve().parents[2]
CPU_S = 10  # each is refused in well under 1 CPU-s
MEMORY = 1024**3


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


@pytest.mark.parametrize("expr,want", [
    ("size | default('1G')", "8G"),  # the Ansible spelling of each function: a filter
    ("undefined_var | default(2)", 2),
    ("facts.gpu.nvswitch_count | default(0)", 0),  # default() also stands in for none (a fact not known)
    ("'a b' | quote", "'a b'"),
    ("size | lower", "8g"),
    ("check | len", 2),
    ("null == none", True),
    ("none in [none]", False),  # none is in nothing, not even a list holding none
    ("facts.gpu.nvswitch_count != none", False),
    ("n + 'x'", "3x"),  # + joins a string with anything, as text
    ("'big' if n > 2 else 'small'", "big"),
    ("[1, n][1]", 3),
    ("facts.container.daemon_json.runtimes.nvidia.path", "nvidia-container-runtime"),
    ("1 > n < undefined_var", False),  # a chain stops at its first false pair, as Python's does
])
def test_jinja_spellings(expr, want, ctx):
    assert evaluate(expr, ctx) == want


@pytest.mark.parametrize("expr, words", [
    ("size | center(1000000000)", "unknown filter"),  # a billion-character string: refused, not built
    ("'a' ~ size", "'Concat' is not allowed"),
    ("range(100000)", "calling range()"),
    ("size.upper()", "calling size.upper()"),
    ("size[0:1]", "'Slice' is not allowed"),
    ("{'a': 1}", "'Dict' is not allowed"),
    ("int(size, base=16)", "keyword"),
    ("self", "reserved"),
    ("n is divisibleby 3", "unknown test"),
    ("1e999", "number too large"),
    ("x" * 10_001, "longer than 10000"),
    ("-" * 9_000 + "1", "nested too deeply"),
    ("1 + " * 2_400 + "1", "nested too deeply"),
    ("undefined_var is none", "'undefined_var' is not defined"),  # only `is defined` and default() take it
    ("'a' < 1", "cannot compare"),
])
def test_refused_with_a_reason(expr, words, ctx):
    with pytest.raises(ExprError, match=re.escape(words)):
        evaluate(expr, ctx)


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_S, CPU_S))
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))


@pytest.mark.parametrize("when", [
    "-" * 9_000 + "1",
    "(" * 4_000 + "1" + ")" * 4_000,
    "a." * 4_999 + "b",
    " + ".join(["'x'"] * 3_000),
], ids=["unary-9000", "parens-4000", "dots-5000", "plus-3000"])
def test_hostile_when_is_refused_under_cpu_and_memory_limits(when, tmp_path):
    """Constructed: a playbook whose `when:` is nested deep or long, run by the CLI in a subprocess under
    RLIMIT_CPU and RLIMIT_AS: refused when the playbook is loaded, one line, exit 2."""
    path = tmp_path / "hostile.yml"
    path.write_text("- name: p\n  tasks:\n    - name: t\n      when: " + json.dumps(when) + "\n"
                    "      command: 'true'\n")
    r = subprocess.run([sys.executable, "-m", "envdoctor", "play", str(path), "--check", "local"], cwd=ROOT,
                       capture_output=True, text=True, preexec_fn=_limits, stdin=subprocess.DEVNULL)
    assert r.returncode == 2, r.stderr[-500:]
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert f"{path}:4" in r.stderr


def test_a_play_variable_does_not_stand_in_for_a_function(ctx):
    assert evaluate("quote('a b')", {**ctx, "quote": "not a function"}) == "'a b'"


def test_only_double_braces_are_read_in_a_string(ctx):
    line = "n=${#arr[@]} {% raw %} {# x #} size={{ size }}"
    assert render(line, ctx) == "n=${#arr[@]} {% raw %} {# x #} size=8G"
