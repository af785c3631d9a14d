"""Playbooks cannot exhaust the controller: alias expansion, rendered sizes and nesting are bounded,
each refused with one line naming file:line and exit 2. The playbooks are constructed attacks."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from envdoctor.cli import main
from envdoctor.errors import UserError
from envdoctor.fixes.expr import MAX_VALUE_CHARS, ValueTooLarge, render
from envdoctor.fixes.playbook import load_playbook, parse_extra_vars

BAD = Path(__file__).resolve().parents[1] / "data" / "constructed" / "fixes"


@pytest.mark.parametrize("name,line,words", [
    ("billion-laughs.yml", 9, "aliases expand"),
    ("doubling-vars.yml", None, "longer than"),
    ("deep-list.yml", 4, "nested deeper than 100"),
    ("deep-mapping.yml", None, "nested deeper than 100"),
    ("self-alias.yml", 4, "refers to a node that contains it"),
])
def test_hostile_playbook_is_one_line_exit_2(name, line, words):
    path = BAD / name
    with pytest.raises(UserError) as e:
        load_playbook(path)
    assert words in e.value.message
    assert e.value.where.startswith(f"{path}:")
    if line:
        assert e.value.where == f"{path}:{line}"
    r = CliRunner().invoke(main, ["play", str(path), "--check"])
    assert r.exit_code == 2 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert f"{path}:" in r.stderr


def test_doubling_names_the_variable_that_outgrew_the_bound():
    with pytest.raises(UserError) as e:
        load_playbook(BAD / "doubling-vars.yml")
    # "xx" doubled: v20 is 2**21 characters, the first past 1 MiB (v19 is exactly 1 MiB).
    assert e.value.message.startswith("vars: v20:") and e.value.where.endswith(":24")


def test_render_bounds_values_that_depend_on_the_host():
    ctx = {"big": "x" * (MAX_VALUE_CHARS // 2 + 1), "n": 2**63}
    with pytest.raises(ValueTooLarge):
        render("{{ big + big }}", ctx)
    with pytest.raises(ValueTooLarge):
        render("{{ big }}{{ big }}", ctx)  # pieces add up too
    with pytest.raises(ValueTooLarge):
        render("{{ n + n + n }}", ctx)
    assert render("{{ big }}", ctx) == ctx["big"]  # at the bound is fine


def test_extra_vars_mapping_has_the_same_bounds():
    with pytest.raises(UserError, match="nested deeper"):
        parse_extra_vars(["{a: " + "[" * 5000 + "]" * 5000 + "}"])
    assert parse_extra_vars(['{"a": [1, 2]}']) == {"a": [1, 2]}


@pytest.mark.parametrize("value", ["[" * 10000 + "]" * 10000, '{"a":' * 3000 + "1" + "}" * 3000],
                         ids=["deep-list", "deep-mapping"])
def test_extra_var_value_nested_deeply_is_one_line_exit_2(value):
    # constructed: a name=value extra var nested 10,000 lists / 3,000 mappings deep (was a RecursionError, rc 1)
    r = CliRunner().invoke(main, ["play", "shm", "--check", "-e", f"x={value}"])
    assert r.exit_code == 2 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "--extra-vars x:1" in r.stderr and "nested deeper than 100" in r.stderr


def test_extra_var_values_still_read_as_yaml_or_as_text():
    assert parse_extra_vars(["a=3 b=true c=[1,2] d=8G e=x:y:z f="]) == {
        "a": 3, "b": True, "c": [1, 2], "d": "8G", "e": "x:y:z", "f": ""}
    assert parse_extra_vars(["g={oops"]) == {"g": "{oops"}  # not YAML: the text itself
