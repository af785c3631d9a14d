"""`facts --bundle`: the bundle is what was asked for, so one line says where it went (the facts are not
dumped on stdout too), and the bundle carries this machine's host name, which `check --from` shows."""

from __future__ import annotations

import socket
import tarfile

import pytest
from click.testing import CliRunner

from envdoctor.cli import main


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    path = tmp_path_factory.mktemp("bundle") / "x.tar.gz"
    return path, CliRunner().invoke(main, ["facts", "--bundle", str(path)])


def test_facts_bundle_prints_one_line_saying_where(saved):
    path, r = saved
    assert r.exit_code == 0, r.output
    assert r.stderr == "envdoctor: gathering the facts of this machine...\n"  # no terminal: one plain line
    (line,) = r.stdout.splitlines()
    assert line.startswith(f"evidence bundle of {socket.gethostname()} saved to {path} (")
    assert line.endswith(f"sections; envdoctor check --from {path} diagnoses it)")
    assert tarfile.is_tarfile(path)


def test_check_from_the_bundle_names_the_machine_not_localhost(saved):
    path, _ = saved
    r = CliRunner().invoke(main, ["check", "--from", str(path)])
    first = r.stdout.splitlines()[0]
    assert first.startswith(f"{socket.gethostname()}: "), first
    assert not first.startswith("localhost")


def test_facts_bundle_with_raw_still_prints_the_raw_sections(saved, tmp_path):
    path, _ = saved
    r = CliRunner().invoke(main, ["facts", "--from", str(path), "--raw", "--bundle", str(tmp_path / "copy")])
    assert r.exit_code == 0, r.output
    assert r.stdout.lstrip().startswith("{")  # asked for: the raw sections on stdout
    assert r.stderr.startswith(f"evidence bundle of {socket.gethostname()} saved to {tmp_path / 'copy'} (")
