"""Playbooks load into typed models; every mistake is one line naming file:line, exit 2."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from envdoctor.cli import main
from envdoctor.errors import UserError
from envdoctor.fixes.modules import MODULES
from envdoctor.fixes.playbook import builtin_playbooks_dir, load_playbook, parse_extra_vars

ROOT = Path(__file__).resolve().parents[2]
BAD = ROOT / "tests" / "data" / "constructed" / "fixes"
SHIPPED = ["container-toolkit.yml", "shm.yml", "memlock.yml", "cuda-switch.yml", "persistence-mode.yml",
           "fabricmanager.yml", "blacklist-nouveau.yml", "sshd-hardening.yml", "onboard-node.yml"]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_playbooks_load(name):
    pb = load_playbook(builtin_playbooks_dir() / name)
    assert pb.plays and all(t.module in MODULES for p in pb.plays for t in p.tasks + p.handlers)


def test_checks_point_at_shipped_playbooks():
    from envdoctor.diagnosis.catalog import load_catalog

    named = {c.playbook for c in load_catalog() if c.playbook}
    assert named and named <= set(SHIPPED), named - set(SHIPPED)


def test_onboard_node_imports_every_concern():
    pb = load_playbook(builtin_playbooks_dir() / "onboard-node.yml")
    names = {p.name for p in pb.plays}
    assert len(pb.plays) == 9, names  # eight concerns, then the proof-run
    assert [t.module for t in pb.plays[-1].tasks] == ["proof"]
    # Every imported task is guarded by the check that asks for it.
    assert all(any("check." in str(w) for w in t.when) for p in pb.plays for t in p.tasks)


@pytest.mark.parametrize("fname,line,words", [
    ("bad-yaml.yml", 6, "YAML syntax error"),
    ("unknown-module.yml", 7, "unknown module or keyword 'lineinfle'"),
    ("bad-args.yml", 8, "copy: mdoe: unknown argument"),
    ("bad-when.yml", 5, "not allowed"),
    ("duplicate-key.yml", 6, "duplicate key 'copy'"),  # review regression: the first copy was silently lost
])
def test_errors_name_file_and_line(fname, line, words):
    with pytest.raises(UserError) as e:
        load_playbook(BAD / fname)
    assert e.value.where == f"{BAD / fname}:{line}"
    assert words in e.value.message


@pytest.mark.parametrize("fname,line", [("bad-yaml.yml", 6), ("unknown-module.yml", 7), ("duplicate-key.yml", 6)])
def test_cli_exit_2_with_one_line(fname, line):
    r = CliRunner().invoke(main, ["play", str(BAD / fname), "--check"])
    assert r.exit_code == 2, r.output
    err = r.stderr if hasattr(r, "stderr") else r.output
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and f"{fname}:{line}:" in lines[0], err
    assert "Traceback" not in r.output


def test_notify_names_a_handler(tmp_path):
    p = tmp_path / "pb.yml"
    p.write_text("- name: x\n  tasks:\n    - name: t\n      copy: {path: /tmp/a, content: b}\n      notify: nobody\n")
    with pytest.raises(UserError, match="no handler named 'nobody'") as e:
        load_playbook(p)
    assert e.value.where.endswith("pb.yml:3")


def test_unknown_playbook_name():
    r = CliRunner().invoke(main, ["play", "no-such-playbook.yml", "--check"])
    assert r.exit_code == 2 and "no such playbook" in r.output


def test_extra_vars():
    assert parse_extra_vars(["a=1 b=true c=8G", '{"d": [1, 2]}', "e="]) == {
        "a": 1, "b": True, "c": "8G", "d": [1, 2], "e": ""}
    with pytest.raises(UserError):
        parse_extra_vars(["novalue"])


def test_a_playbook_that_is_not_utf8_is_a_user_error(tmp_path):
    # Review regression: this was a UnicodeDecodeError traceback. Constructed: a UTF-16 byte-order mark.
    bad = tmp_path / "utf16.yml"
    bad.write_bytes(b"\xff\xfe- hosts: all\n")
    r = CliRunner().invoke(main, ["play", str(bad), "--check"])
    assert r.exit_code == 2 and "not UTF-8" in r.output and "Traceback" not in r.output, r.output
