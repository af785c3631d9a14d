"""The evidence bundle round-trips through a directory and a tarball; a paste is a bundle too."""

import sys

import pytest

from envdoctor.diagnosis.bundle import Bundle, Section
from envdoctor.diagnosis.gather import gather
from envdoctor.errors import UserError
from envdoctor.hosts.transport import LocalTransport


@pytest.fixture(scope="module")
def real_bundle():
    # The real probe on this machine, without torch to keep it quick.
    return gather(LocalTransport(), python=sys.executable, no_torch=True)


def test_probe_collects_sections(real_bundle):
    assert real_bundle.probe_version == 1
    for name in ("proc_driver_version", "nvidia_smi_xml", "limits", "df_shm", "environment", "pci_devices"):
        assert name in real_bundle.sections
    limits = real_bundle.sections["limits"]
    assert limits.ok and "Max locked memory" in limits.stdout
    # A tool that is missing is recorded as such, not as an empty success.
    for n, s in real_bundle.sections.items():
        assert not (s.error or "").startswith("probe error"), (n, s.error)


@pytest.mark.parametrize("name", ["bundle_dir", "bundle.tar.gz"])
def test_roundtrip(tmp_path, real_bundle, name):
    real_bundle.save(tmp_path / name)
    back = Bundle.load(tmp_path / name)
    assert back.host == real_bundle.host
    assert set(back.sections) == set(real_bundle.sections)
    for n, s in real_bundle.sections.items():
        assert back.sections[n].stdout == s.stdout
        assert back.sections[n].stderr == s.stderr
        assert (back.sections[n].rc, back.sections[n].error) == (s.rc, s.error)


def test_plain_text_is_a_paste(tmp_path):
    p = tmp_path / "issue.txt"
    p.write_text("Failed to initialize NVML: Driver/library version mismatch\n")
    b = Bundle.load(p)
    assert b.sections == {} and b.pastes == [p.read_text()]
    assert b.texts("nvidia_smi") == [p.read_text()]


def test_texts_skips_sections_that_did_not_run():
    b = Bundle(sections={"a": Section(stdout="x", rc=0), "b": Section(error="not-found")}, pastes=["p"])
    assert b.texts("a", "b", "c") == ["x", "p"]


def test_unreadable_bundles_are_user_errors(tmp_path):
    (tmp_path / "d").mkdir()
    with pytest.raises(UserError, match="no manifest.json"):
        Bundle.load(tmp_path / "d")
    (tmp_path / "d" / "manifest.json").write_text("{not json")
    with pytest.raises(UserError, match="does not parse"):
        Bundle.load(tmp_path / "d")
    with pytest.raises(UserError, match="no such file"):
        Bundle.load(tmp_path / "missing.tar.gz")


def test_damaged_tarball_is_a_user_error_not_a_paste(tmp_path):
    # regression: a .tar.gz that is not gzip at all (constructed: bytes that are no archive) was read as a
    # pasted text and diagnosed as all-unknown with exit 0
    bad = tmp_path / "bundle.tar.gz"
    bad.write_bytes(bytes(range(256)) * 20)
    with pytest.raises(UserError, match="not a readable bundle tarball"):
        Bundle.load(bad)
    # a truncated real tarball was already refused
    good = tmp_path / "b.tar.gz"
    Bundle(host="h", pastes=["Driver Version: 535.54.03\n"]).save(good)
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(good.read_bytes()[:20])
    with pytest.raises(UserError, match="cannot read"):
        Bundle.load(cut)
