"""Inventories built to blow up group expansion, and selections that name nothing. Each hostile file is a
constructed attack, made in tmp_path; envdoctor runs in a subprocess under CPU and memory limits
(RLIMIT_CPU, RLIMIT_AS), so a regression is a killed process, not a slow test."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from envdoctor.cli import main
from envdoctor.errors import UserError
from envdoctor.hosts import inventory

ROOT = Path(__file__).resolve().parents[2]
CPU_S = 10  # each of these takes well under 2 CPU-s now; the diamond was killed at 20 before
MEMORY = 1024**3


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_S, CPU_S))
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))


def _hosts(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "envdoctor", "hosts", "-F", "/dev/null", *args], cwd=ROOT,
                          capture_output=True, text=True, preexec_fn=_limits, stdin=subprocess.DEVNULL)


def _diamond(layers: int) -> str:
    """Two groups per layer, each the parent of both groups of the next: 2**layers paths to the bottom."""
    lines = []
    for i in range(layers):
        for side in "ab":
            lines += [f"[g{i}{side}:children]", f"g{i + 1}a", f"g{i + 1}b"]
    lines += [f"[g{layers}a]", "h1", f"[g{layers}b]", "h2"]
    return "\n".join(lines) + "\n"


def _chain(groups: int, host_each: bool) -> str:
    """Each group the only child of the one before; with `host_each`, each group has its own host too."""
    lines = []
    for i in range(groups - 1):
        lines += [f"[c{i}:children]", f"c{i + 1}"]
        if host_each:
            lines += [f"[c{i}]", f"h{i}"]
    lines += [f"[c{groups - 1}]", "last"]
    return "\n".join(lines) + "\n"


def test_a_24_layer_diamond_of_children_is_expanded_once_per_group(tmp_path):
    """Constructed attack: 148 lines, 2**24 paths. Before: killed at 20 CPU-s; now each group is
    expanded once, and the deepest groups come last in a host's list."""
    inv = tmp_path / "diamond.ini"
    inv.write_text(_diamond(24))
    assert len(inv.read_text().splitlines()) == 148
    r = _hosts("-i", str(inv))
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) == 2
    assert "groups=g0a,g0b,g1a,g1b," in r.stdout and r.stdout.splitlines()[0].endswith(",g23a,g23b,g24a")


def test_20000_groups_nested_one_in_the_next_is_no_recursion_error(tmp_path):
    """Constructed attack: 20,000 groups, each the child of the one before. Before: a RecursionError
    traceback (exit 1); now resolved without recursion."""
    inv = tmp_path / "chain.ini"
    inv.write_text(_chain(20_000, host_each=False))
    r = _hosts("-i", str(inv), "--json")
    assert r.returncode == 0, r.stderr[-500:]
    assert '"name": "last"' in r.stdout and "Traceback" not in r.stderr


def test_memberships_past_the_cap_are_one_line_naming_file_and_line(tmp_path):
    """Constructed attack: 3,000 nested groups with a host each: 4.5 million (host, group) pairs, past
    the cap of 2 million. Refused at the `:children` line where the merge passes the cap."""
    inv = tmp_path / "nested.ini"
    inv.write_text(_chain(3_000, host_each=True))
    r = _hosts("-i", str(inv))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert f"more than {inventory.MAX_MEMBERSHIPS} host memberships" in r.stderr
    assert f"{inv}:" in r.stderr


def test_a_cycle_of_groups_names_the_line_that_closes_it(tmp_path):
    """Constructed: a -> b -> c -> a, the last edge on line 6."""
    inv = tmp_path / "cycle.ini"
    inv.write_text("[a:children]\nb\n[b:children]\nc\n[c:children]\na\n[a]\nh1\n")
    with pytest.raises(UserError) as e:
        inventory.load_inventory(inv)
    assert e.value.where == f"{inv}:6"
    assert "a -> b -> c -> a" in e.value.message


def test_groups_past_the_cap_are_refused_at_their_line(tmp_path, monkeypatch):
    """Constructed: more groups than MAX_GROUPS (lowered here so the file stays small)."""
    monkeypatch.setattr(inventory, "MAX_GROUPS", 50)
    inv = tmp_path / "many.ini"
    inv.write_text("".join(f"[g{i}]\nh{i}\n" for i in range(60)))
    with pytest.raises(UserError) as e:
        inventory.load_inventory(inv)
    assert "more than 50 groups" in e.value.message and e.value.where == f"{inv}:99"  # `all` and g0..g48 fill it


def test_yaml_inventory_diamond_is_linear_too(tmp_path):
    """Constructed attack: the diamond in YAML, each group listing both groups below as children."""
    lines = ["all:", "  children:"]
    for i in range(24):
        for side in "ab":
            lines += [f"    g{i}{side}:", "      children:", f"        g{i + 1}a:", f"        g{i + 1}b:"]
    lines += ["    g24a:", "      hosts:", "        h1:", "    g24b:", "      hosts:", "        h2:"]
    inv = tmp_path / "diamond.yml"
    inv.write_text("\n".join(lines) + "\n")
    r = _hosts("-i", str(inv))
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) == 2


@pytest.mark.parametrize("args,words", [
    ([""], "the TARGET is empty"),  # `check "$HOSTS"` with HOSTS unset
    ([" , "], "the TARGET is empty"),
    (["-i", "{empty_ini}"], "the inventory names no hosts"),
    (["-i", "{empty_txt}"], "the inventory names no hosts"),
    (["-i", "{empty_ini}", "@gpu"], "the inventory names no hosts"),
    (["-i", "{two_ini}", "@spare"], "'@spare' names no hosts"),
])
def test_a_selection_of_no_hosts_is_bad_input(tmp_path, args, words):
    """Constructed: an empty TARGET and inventories without hosts. Before: exit 0, nothing checked."""
    (tmp_path / "empty.ini").write_text("[gpu]\n[gpu:vars]\nansible_user=ml\n")
    (tmp_path / "empty.txt").write_text("# no hosts yet\n")
    (tmp_path / "two.ini").write_text("[gpu]\ngpu01\n[spare]\n")
    paths = {k: str(tmp_path / f"{k[:-4]}.{k[-3:]}") for k in ("empty_ini", "empty_txt", "two_ini")}
    args = [a.format(**paths) for a in args]
    for command in (["check", "--no-proof"], ["hosts"], ["play", "shm", "--check"]):
        r = CliRunner().invoke(main, [*command, "-F", "/dev/null", *args])
        assert r.exit_code == 2, (command, r.output)
        assert len(r.stderr.strip().splitlines()) == 1 and words in r.stderr


@pytest.mark.parametrize("pattern,code,words", [
    ("a" + "[1]" * 2000, 0, None),  # before: RecursionError, a traceback
    ("a[1-2]" * 40, 2, "names more than 100000 hosts"),  # 2**40: refused from the count, before any name
    ("g[" + "1-90000," * 50 + "1]", 2, "names more than 100000 hosts"),  # items of one bracket add up
], ids=["2000-brackets", "2-to-the-40", "items-add-up"])
def test_host_ranges_are_counted_before_they_are_expanded(pattern, code, words):
    """Constructed attacks on the TARGET syntax, each a single command-line word."""
    r = _hosts(pattern)
    assert r.returncode == code and "Traceback" not in r.stderr, r.stderr[-300:]
    if words:
        assert words in r.stderr and len(r.stderr.strip().splitlines()) == 1
