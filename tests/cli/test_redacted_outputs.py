"""Secrets never reach what a command prints or writes: a check's summary and evidence, the proof's
error, the --junit/--prometheus/--html files, health's stderr lines and the Slurm drain reason."""

import json

from click.testing import CliRunner

from envdoctor.cli import main
from envdoctor.models import CheckResult
from envdoctor.slurm import nodes as slurm

# Built at run time so no token-shaped literal sits in the repository.
TOKEN = "hf_" + "A1b2" * 6
LEAKY_CHECK = f'''
from envdoctor.diagnosis.catalog import check, fail


@check("site_leaky", "Constructed site check whose summary and evidence hold a secret", order=5)
def site_leaky(facts):
    """Constructed: a site check that quotes an environment line."""
    return fail("found HF_TOKEN=" + {TOKEN!r} + " in the job environment", evidence=["HF_TOKEN=" + {TOKEN!r}])
'''


def _site(tmp_path, only=True):
    d = tmp_path / "checks"
    d.mkdir()
    (d / "leaky.py").write_text(LEAKY_CHECK)
    return ["--checks-dir", str(d)] + (["--only", "site_leaky"] if only else [])


def _outputs(tmp_path):
    paths = {k: tmp_path / f"out.{k}" for k in ("junit", "prometheus", "html")}
    return paths, [a for k, p in paths.items() for a in (f"--{k}", str(p))]


def _assert_clean(paths, *texts):
    for p in paths.values():
        assert p.is_file(), p
        body = p.read_text()
        assert TOKEN not in body, p
    for t in texts:
        assert TOKEN not in t


def test_check_files_and_json_are_redacted(tmp_path):
    paths, args = _outputs(tmp_path)
    paste = tmp_path / "paste.txt"
    paste.write_text("nothing recognisable here\n")
    r = CliRunner().invoke(main, ["check", "--json", "--from", str(paste), *_site(tmp_path, only=False), *args])
    doc = json.loads(r.output)
    res = {c["id"]: c for c in doc["hosts"][0]["checks"]}
    assert res["site_leaky"]["status"] == "fail" and "<redacted>" in res["site_leaky"]["summary"]
    _assert_clean(paths, r.output)
    assert "HF_TOKEN=\\u003credacted>" in paths["html"].read_text()  # the JSON inside <script> escapes "<"


def test_health_files_and_stderr_are_redacted(tmp_path):
    paths, args = _outputs(tmp_path)
    r = CliRunner().invoke(main, ["health", "--no-slurm", "--no-torch", *_site(tmp_path), *args])
    assert r.exit_code == 1, r.output
    assert "site_leaky: found HF_TOKEN=<redacted>" in r.output
    _assert_clean(paths, r.output)


def test_proof_json_and_files_are_redacted(tmp_path):
    # A real proof error that quotes the interpreter's path, a path that holds a secret.
    paths, args = _outputs(tmp_path)
    r = CliRunner().invoke(main, ["proof", "--json", "--device", "cpu", "--python",
                                  f"/nonexistent/HF_TOKEN={TOKEN}/python", *args])
    doc = json.loads(r.output)
    assert doc["hosts"][0]["status"] == "error", r.output
    assert "HF_TOKEN=<redacted>" in doc["hosts"][0]["proof"]["summary"]
    _assert_clean(paths, r.output)
    # The text report and the progress lines on stderr too.
    r = CliRunner().invoke(main, ["proof", "--device", "cpu", "--python", f"/nonexistent/HF_TOKEN={TOKEN}/python"])
    assert "HF_TOKEN=<redacted>" in r.output and TOKEN not in r.output, r.output


def test_drain_reason_is_redacted():
    reason = slurm.drain_reason([CheckResult(id="site_leaky", title="t", status="fail",
                                             summary=f"found HF_TOKEN={TOKEN} in the job environment")])
    assert reason.startswith("envdoctor: site_leaky: found HF_TOKEN=<redacted>") and TOKEN not in reason
