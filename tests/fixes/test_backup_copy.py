"""The helper's backup when the filesystem refuses hard links: a copy that never writes through a link
planted in the directory. Runs the helper's own functions in this process, on files in tmp_path."""

from __future__ import annotations

import errno
import os

import pytest

from envdoctor.fixes import helper


@pytest.fixture
def no_hard_links(monkeypatch):
    def refuse(src, dst, **kw):
        raise OSError(errno.EPERM, "hard links refused (as on vfat, some FUSE and network filesystems)")
    monkeypatch.setattr(helper.os, "link", refuse)


def test_the_copy_fallback_does_not_follow_a_symlink_planted_at_the_old_temp_name(tmp_path, no_hard_links,
                                                                                  monkeypatch):
    """Constructed attack: in a world-writable directory, another user plants `<backup>.tmp` (the name
    the fallback used to copy to) as a symlink to a file of the victim's. Before: shutil.copy2 wrote the
    config's content through the link. Now the copy goes to a new O_EXCL file and the planted link and
    its target are untouched."""
    d = tmp_path / "shared"
    d.mkdir()
    d.chmod(0o1777)
    conf = d / "app.conf"
    conf.write_text("secret=1\n")
    conf.chmod(0o640)
    victim = tmp_path / "victim-file"
    victim.write_text("precious\n")
    monkeypatch.setattr(helper.time, "strftime", lambda fmt: "20250101T000000")  # the name is predicted
    dest = f"{conf}.envdoctor-backup-20250101T000000"
    os.symlink(victim, dest + ".tmp")

    backup, made = helper._backup(str(conf))

    assert (backup, made) == (dest, True)
    assert victim.read_text() == "precious\n"
    assert os.path.islink(dest + ".tmp") and os.readlink(dest + ".tmp") == str(victim)
    assert not os.path.islink(dest) and open(dest).read() == "secret=1\n"
    assert os.stat(dest).st_mode & 0o777 == 0o640  # mode kept, as copy2 kept it
    assert not [n for n in os.listdir(d) if ".envdoctor-tmp-" in n]  # no temp file left behind


def test_a_failed_copy_leaves_no_temp_file(tmp_path, no_hard_links, monkeypatch):
    conf = tmp_path / "app.conf"
    conf.write_text("x\n")

    def broken_rename(src, dst):
        raise OSError(errno.EXDEV, "constructed failure")
    monkeypatch.setattr(helper.os, "rename", broken_rename)
    with pytest.raises(OSError):
        helper._backup(str(conf))
    assert sorted(os.listdir(tmp_path)) == ["app.conf"]
