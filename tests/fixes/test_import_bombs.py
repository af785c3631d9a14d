"""Playbooks whose imports multiply: each file is read once per load and the plays the imports add up to
are capped. The playbooks are constructed attacks, written to tmp_path; the CLI runs in a subprocess
under CPU and memory limits (RLIMIT_CPU, RLIMIT_AS)."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest

from envdoctor.errors import UserError
from envdoctor.fixes import playbook
from envdoctor.fixes.playbook import MAX_IMPORT_DEPTH, MAX_PLAYS, load_playbook

ROOT = Path(__file__).resolve().parents[2]
CPU_S = 10  # refused in under 1 CPU-s now; before, killed at 20
MEMORY = 1024**3

LEAF = "- name: leaf\n  hosts: all\n  tasks:\n    - command: 'true'\n      tags: [leaf]\n"


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_S, CPU_S))
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))


def _doubling(d: Path, depth: int) -> Path:
    """p0 imports p1 twice, p1 imports p2 twice, ...: 2**depth copies of the leaf play."""
    for i in range(depth):
        d.joinpath(f"p{i}.yml").write_text(f"- import_playbook: p{i + 1}.yml\n  tags: [first]\n"
                                           f"- import_playbook: p{i + 1}.yml\n  tags: [second]\n")
    d.joinpath(f"p{depth}.yml").write_text(LEAF)
    return d / "p0.yml"


def test_imports_that_double_20_deep_are_one_line_exit_2(tmp_path):
    """Constructed attack: 21 files of two lines, 2**20 plays. Before: killed at 20 CPU-s; now refused at
    the import where the plays pass the cap."""
    top = _doubling(tmp_path, 20)
    r = subprocess.run([sys.executable, "-m", "envdoctor", "play", str(top), "--check", "local"], cwd=ROOT,
                       capture_output=True, text=True, preexec_fn=_limits, stdin=subprocess.DEVNULL)
    assert r.returncode == 2, r.stderr[-500:]
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert f"the imports add up to more than {MAX_PLAYS} plays" in r.stderr
    # 2**9 plays per import of p11: the second import of p10 passes 1,000, at its line 3
    assert f"{tmp_path / 'p10.yml'}:3:" in r.stderr


def test_each_file_is_read_once_and_each_import_keeps_its_own_tags(tmp_path, monkeypatch):
    """Constructed: the doubling 8 deep (256 plays, under the cap): 9 files read 9 times, not 511."""
    top = _doubling(tmp_path, 8)
    reads = []
    real = playbook.load_yaml
    monkeypatch.setattr(playbook, "load_yaml", lambda p: reads.append(p) or real(p))
    pb = load_playbook(top)
    assert len(reads) == 9 and len(pb.plays) == 256
    first, last = pb.plays[0].tasks[0], pb.plays[-1].tasks[0]
    assert first.tags == ["first"] * 8 + ["leaf"] and last.tags == ["second"] * 8 + ["leaf"]


def test_imports_nested_past_the_depth_bound_are_refused(tmp_path):
    """Constructed: a chain of files, each importing the next, deeper than MAX_IMPORT_DEPTH."""
    n = MAX_IMPORT_DEPTH + 5
    for i in range(n):
        tmp_path.joinpath(f"c{i}.yml").write_text(f"- import_playbook: c{i + 1}.yml\n")
    tmp_path.joinpath(f"c{n}.yml").write_text(LEAF)
    with pytest.raises(UserError) as e:
        load_playbook(tmp_path / "c0.yml")
    assert f"nested deeper than {MAX_IMPORT_DEPTH} files" in e.value.message
    assert e.value.where == f"{tmp_path / f'c{MAX_IMPORT_DEPTH}.yml'}:1"


def test_an_import_cycle_is_still_refused(tmp_path):
    """Constructed: a imports b, b imports a."""
    tmp_path.joinpath("a.yml").write_text("- import_playbook: b.yml\n")
    tmp_path.joinpath("b.yml").write_text("- import_playbook: a.yml\n")
    with pytest.raises(UserError) as e:
        load_playbook(tmp_path / "a.yml")
    assert "imports itself" in e.value.message and e.value.where == f"{tmp_path / 'b.yml'}:1"
