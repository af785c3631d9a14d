"""Bundles others sent us: hostile names, planted symlinks, decompression bombs, malformed manifests,
missing section files and special files in a bundle directory. Every bundle here is constructed."""

import io
import json
import os
import stat
import tarfile
import zlib

import pytest
from click.testing import CliRunner

import envdoctor.diagnosis.bundle as bundle_mod
from envdoctor.cli import main
from envdoctor.diagnosis.bundle import Bundle, Section
from envdoctor.errors import UserError


def manifest(sections: dict, **top) -> dict:
    return {"format": "envdoctor-bundle/1", "host": "h", "collected_at": 0.0, "probe_version": 1,
            "sections": sections, **top}


def write_dir(d, doc, files: dict[str, str] | None = None):
    d.mkdir(parents=True, exist_ok=True)
    (d / "manifest.json").write_text(doc if isinstance(doc, str) else json.dumps(doc))
    for name, body in (files or {}).items():
        (d / name).parent.mkdir(parents=True, exist_ok=True)
        (d / name).write_text(body)
    return d


def write_tar(path, members: dict[str, bytes]):
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(f"envdoctor-bundle/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def invoke(*argv):
    r = CliRunner().invoke(main, list(argv))
    return r.exit_code, r.stdout, r.stderr


@pytest.mark.parametrize("name", ["../evil", "a/b", "..", "x\x00y", "", "n" * 65, ".hidden", "a.b", "/abs"])
def test_hostile_section_names_are_refused_on_load(tmp_path, name):
    d = write_dir(tmp_path / "b", manifest({name: {"cmd": "x", "rc": 0}}))
    with pytest.raises(UserError) as e:
        Bundle.load(d)
    assert "manifest.json: sections" in e.value.message and str(d) == e.value.where


def test_traversal_tarball_writes_nothing_outside_the_output_folder(tmp_path):
    evil = write_tar(tmp_path / "evil.tar.gz", {
        "manifest.json": json.dumps(manifest({"../../escaped": {"cmd": "x", "rc": 0}})).encode(),
        "sections/../../escaped.txt": b"pwned\n"})
    out = tmp_path / "work" / "out"
    out.parent.mkdir()
    before = sorted(p.name for p in tmp_path.rglob("*"))
    rc, stdout, stderr = invoke("facts", "--from", str(evil), "--bundle", str(out))
    assert rc == 2 and "section name" in stderr and "Traceback" not in stderr
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing written at all


def test_save_refuses_a_bad_name_even_when_the_model_was_bypassed(tmp_path):
    b = Bundle.model_construct(host="h", collected_at=0.0, probe_version=1, pastes=[],
                               sections={"../x": Section(stdout="s")})
    for target in (tmp_path / "d", tmp_path / "b.tar.gz"):
        with pytest.raises(UserError, match="section name"):
            b.save(target)
    assert not (tmp_path / "x.txt").exists() and not list(tmp_path.iterdir())


def test_planted_symlinks_in_the_output_folder_are_replaced_not_followed(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    out = tmp_path / "out"
    (out / "sections").mkdir(parents=True)
    os.symlink(victim, out / "manifest.json")
    os.symlink(victim, out / "sections" / "limits.txt")
    b = Bundle(host="h", sections={"limits": Section(stdout="Max locked memory 8388608\n", rc=0)})
    b.save(out)
    assert victim.read_text() == "precious\n"
    assert not (out / "sections" / "limits.txt").is_symlink()
    assert Bundle.load(out).sections["limits"].stdout == "Max locked memory 8388608\n"
    # A sections/ that is itself a link to somewhere else is refused, not written through.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out2 = tmp_path / "out2"
    out2.mkdir()
    os.symlink(elsewhere, out2 / "sections")
    with pytest.raises(UserError, match="not a plain directory"):
        b.save(out2)
    assert list(elsewhere.iterdir()) == []


def test_planted_symlink_at_the_tarball_and_its_part_file(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    os.symlink(victim, tmp_path / "ev.tar.gz.part")
    os.symlink(victim, tmp_path / "ev.tar.gz")
    b = Bundle(host="h", sections={"limits": Section(stdout="x\n", rc=0)})
    b.save(tmp_path / "ev.tar.gz")
    assert victim.read_text() == "precious\n"
    assert not (tmp_path / "ev.tar.gz").is_symlink() and tarfile.is_tarfile(tmp_path / "ev.tar.gz")
    assert not [p for p in tmp_path.iterdir() if ".part-" in p.name]  # no temp file left behind


def _zeros_gz_member(path, size: int):
    """A tarball holding one member of `size` zero bytes (compressed on the fly: a few MB on disk)."""
    with open(path, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz", compresslevel=1) as tar:
        info = tarfile.TarInfo("envdoctor-bundle/sections/kernel_log.txt")
        info.size = size

        class Zeros(io.RawIOBase):
            left = size

            def readable(self):
                return True

            def readinto(self, b):
                n = min(len(b), self.left)
                b[:n] = bytes(n)
                self.left -= n
                return n

        tar.addfile(info, io.BufferedReader(Zeros(), 1 << 20))
        man = json.dumps(manifest({"kernel_log": {"cmd": "dmesg", "rc": 0}})).encode()
        m = tarfile.TarInfo("envdoctor-bundle/manifest.json")
        m.size = len(man)
        tar.addfile(m, io.BytesIO(man))


def test_decompression_bomb_is_one_line_not_gigabytes(tmp_path):
    bomb = tmp_path / "bomb.tar.gz"
    _zeros_gz_member(bomb, 2 << 30)  # 2 GiB of zeros
    assert bomb.stat().st_size < 20 << 20
    rc, out, err = invoke("check", "--from", str(bomb), "--json")
    assert rc == 2 and "refused" in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_members_are_read_in_bounded_chunks_per_member_and_in_total(tmp_path, monkeypatch):
    monkeypatch.setattr(bundle_mod, "MAX_MEMBER_BYTES", 3 << 20)
    monkeypatch.setattr(bundle_mod, "MAX_TOTAL_BYTES", 5 << 20)
    man = json.dumps(manifest({"a": {"rc": 0}, "b": {"rc": 0}})).encode()
    big = write_tar(tmp_path / "big.tar.gz", {"manifest.json": man, "sections/a.txt": bytes(4 << 20)})
    with pytest.raises(UserError, match="limit is 3 MiB"):
        Bundle.load(big)
    total = write_tar(tmp_path / "total.tar.gz", {"manifest.json": man, "sections/a.txt": bytes(2 << 20 + 1),
                                                   "sections/b.txt": bytes(3 << 20)})
    with pytest.raises(UserError, match="refused"):
        Bundle.load(total)
    # A directory bundle is bounded the same way, while reading (no header to trust there).
    d = write_dir(tmp_path / "d", json.loads(man))
    (d / "sections").mkdir()
    (d / "sections" / "a.txt").write_bytes(bytes(4 << 20))
    with pytest.raises(UserError, match="larger than 3 MiB"):
        Bundle.load(d)


def test_skipped_members_count_toward_the_total(tmp_path, monkeypatch):
    # tarfile decompresses through a member it skips: one huge junk member must not cost unbounded time.
    monkeypatch.setattr(bundle_mod, "MAX_TOTAL_BYTES", 5 << 20)
    man = json.dumps(manifest({"a": {"rc": 0}})).encode()
    junk = write_tar(tmp_path / "junk.tar.gz", {"manifest.json": man, "sections/a.txt": b"ok\n",
                                                 "junk.bin": bytes(6 << 20)})
    with pytest.raises(UserError, match="junk.bin, a member envdoctor does not read"):
        Bundle.load(junk)


MALFORMED = [
    ("[1]", "(the document)"),
    ("null", "(the document)"),
    ('"a string"', "(the document)"),
    ('{"sections": ["torch", "limits"]}', "sections"),
    ('{"sections": {"torch": "rc=0"}}', "sections.torch"),
    ('{"sections": {"torch": {"rc": "zero"}}}', "sections.torch.rc"),
    ('{"host": 5}', "host"),
    ('[' * 100000 + ']' * 100000, "nested too deeply"),
    ('{"sections": {"torch": {"cmd": ["python"]}}}', "sections.torch.cmd"),
    ('{"collected_at": "yesterday"}', "collected_at"),
    ('{"format": "somebody-else/9"}', "format"),
    ('{"probe_version": "one"}', "probe_version"),
    ('{"sections": {"torch": {"error": {"why": 1}}}}', "sections.torch.error"),
    ('{"sections": {"torch": {"secs": "slow"}}}', "sections.torch.secs"),
    ('{"sections": {"torch": {"rc": 1.5}}}', "sections.torch.rc"),
    ('{"sections": {"torch": null}}', "sections.torch"),
]


@pytest.mark.parametrize("doc,field", MALFORMED, ids=[f"m{i}" for i in range(len(MALFORMED))])
def test_malformed_manifest_is_exit_2_naming_file_and_field(tmp_path, doc, field):
    d = write_dir(tmp_path / "b", doc)
    rc, out, err = invoke("check", "--from", str(d), "--no-proof")
    assert rc == 2, (out, err)
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert f"{d}: manifest.json" in err and field in err


def test_a_listed_section_whose_file_is_missing_is_unknown_not_empty_success(tmp_path):
    d = write_dir(tmp_path / "b", manifest({"torch": {"cmd": "python -c <import torch>", "rc": 0},
                                            "kernel_log": {"cmd": "dmesg", "rc": 0}}))
    b = Bundle.load(d)
    assert "torch" not in b.sections and b.unread["torch"] == "sections/torch.txt is missing"
    r = CliRunner().invoke(main, ["check", "--from", str(d), "--json", "--no-proof"])
    checks = {c["id"]: c for c in json.loads(r.stdout)["hosts"][0]["checks"]}
    # These two read as "✗ importing torch did not complete" and "✓ no Xid errors" before.
    assert checks["torch_installed"]["status"] == "unknown", checks["torch_installed"]
    assert checks["xid_errors"]["status"] == "unknown", checks["xid_errors"]


def test_directory_bundle_does_not_follow_symlinks_fifos_or_devices(tmp_path):
    secret = tmp_path / "shadow"
    secret.write_text("root:$6$notarealhash:19000:0:99999:7:::\n")
    d = write_dir(tmp_path / "b", manifest({n: {"cmd": "cat", "rc": 0} for n in ("os_release", "limits", "meminfo")}))
    (d / "sections").mkdir()
    os.symlink(secret, d / "sections" / "os_release.txt")
    os.mkfifo(d / "sections" / "limits.txt")
    if os.geteuid() == 0:
        os.mknod(d / "sections" / "meminfo.txt", stat.S_IFCHR | 0o600, os.makedev(1, 5))  # /dev/zero
    rc, out, err = invoke("facts", "--from", str(d), "--raw")
    assert rc == 0, err
    assert "notarealhash" not in out
    raw = json.loads(out)
    assert "symlink, FIFO or device" in raw["unread"]["os_release"]
    assert "symlink, FIFO or device" in raw["unread"]["limits"]
    if os.geteuid() == 0:
        assert "symlink, FIFO or device" in raw["unread"]["meminfo"]
    # A symlinked sections/ directory is not followed either.
    d2 = write_dir(tmp_path / "b2", manifest({"os_release": {"rc": 0}}))
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "os_release.txt").write_text("ID=elsewhere\n")
    os.symlink(tmp_path / "real", d2 / "sections")
    assert "not a plain directory" in Bundle.load(d2).unread["os_release"]


def test_a_zlib_error_in_a_tarball_is_a_user_error(tmp_path):
    good = tmp_path / "g.tar.gz"
    Bundle(host="h", sections={"limits": Section(stdout="x" * 100000, rc=0)}).save(good)
    data = bytearray(good.read_bytes())
    data[200:260] = b"\xff" * 60  # constructed: damage inside the deflate stream
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(bytes(data))
    with pytest.raises(UserError):
        Bundle.load(bad)
    assert zlib  # imported for the error type the loader maps
