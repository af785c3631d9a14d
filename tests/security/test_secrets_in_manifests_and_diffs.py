"""Secrets in a bundle's manifest and in the diffs of `play --diff` (issue 21, class 2). Constructed."""

import json

from envdoctor.diagnosis.bundle import Bundle
from envdoctor.fixes.executor import TaskRecord
from envdoctor.fixes.modules.base import FileDiff
from envdoctor.fixes.render import task_lines

TOKEN = "ghp_" + "A1b2C3d4E5" * 4


def test_manifest_host_and_error_fields_are_redacted(tmp_path):
    """Constructed: a manifest whose host and a section's error carry credentials."""
    d = tmp_path / "b"
    (d / "sections").mkdir(parents=True)
    (d / "sections" / "nvidia_smi.txt").write_text("ok\n")
    (d / "manifest.json").write_text(json.dumps({
        "format": "envdoctor-bundle/1", "host": "ssh://bob:hunter2@gpu1 " + TOKEN, "collected_at": 0.0,
        "probe_version": 1,
        "sections": {"nvidia_smi": {"cmd": "nvidia-smi", "rc": 1,
                                    "error": "fetch https://bob:hunter2@reg.example failed; Authorization: token abc123"}}}))
    b = Bundle.load(d)
    shown = b.host + " " + b.sections["nvidia_smi"].error
    assert "hunter2" not in shown and TOKEN not in shown and "abc123" not in shown
    assert "<redacted>" in b.host and "<redacted>" in b.sections["nvidia_smi"].error


def test_play_diff_hides_secrets_of_the_changed_file_and_escapes_it():
    """Constructed: a netrc and a kubeconfig changed by a task; the diff shows neither password nor key
    data, and the file's escape sequence is shown, not played (redact first, then printable)."""
    before = "machine api.example login bob password hunter2\nclient-key-data: LS0tS2V5RGF0YQ==\n"
    after = before + "# managed \x1b]0;owned\x07\nmachine h2 login amy password s3cret\n"
    rec = TaskRecord("h", "p", "netrc", "lineinfile", "changed", "changed",
                     diffs=[FileDiff("/root/.netrc", before, after)])
    out = "\n".join(task_lines(rec, show_diff=True, color=False))
    assert "hunter2" not in out and "s3cret" not in out and "LS0tS2V5RGF0YQ" not in out
    assert "password <redacted>" in out and "\x1b" not in out and "\\x1b" in out
