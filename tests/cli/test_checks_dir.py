"""A site adds its own checks from a directory (--checks-dir), without editing the package."""

import json

from click.testing import CliRunner

from envdoctor.cli import main

SITE_CHECK = '''
from envdoctor.diagnosis.catalog import check, fail, passed, unknown
from envdoctor.models import Fix


@check("site_min_cpus", "Site policy: at least 4096 CPUs", order=5)
def site_min_cpus(facts):
    """Constructed site policy used by the tests."""
    n = facts.system.cpu_count
    if n is None:
        return unknown("CPU count not known", missing=["os.cpu_count()"])
    if n >= 4096:
        return passed(f"{n} CPUs")
    return fail(f"{n} CPUs, site policy wants 4096", evidence=[f"cpu_count={n}"], fix=Fix(summary="buy CPUs"))
'''


def test_site_check_listed_and_explained(tmp_path):
    (tmp_path / "site_policy.py").write_text(SITE_CHECK)
    r = CliRunner().invoke(main, ["list", "--json", "--checks-dir", str(tmp_path)])
    assert r.exit_code == 0, r.output
    rows = {c["id"]: c for c in json.loads(r.output)}
    assert rows["site_min_cpus"]["source"].startswith("site")
    r = CliRunner().invoke(main, ["explain", "site_min_cpus", "--checks-dir", str(tmp_path)])
    assert r.exit_code == 0 and "Constructed site policy" in r.output


def test_site_check_runs_in_check(tmp_path):
    (tmp_path / "site_policy.py").write_text(SITE_CHECK)
    paste = tmp_path / "empty.txt"
    paste.write_text("nothing recognisable here\n")
    r = CliRunner().invoke(main, ["check", "--json", "--from", str(paste), "--checks-dir", str(tmp_path)])
    doc = json.loads(r.output)
    res = {c["id"]: c for c in doc["hosts"][0]["checks"]}
    # A paste says nothing about CPUs: unknown, never pass.
    assert res["site_min_cpus"]["status"] == "unknown"


def test_broken_site_check_is_one_line(tmp_path):
    (tmp_path / "broken.py").write_text("def oops(:\n")
    r = CliRunner().invoke(main, ["list", "--checks-dir", str(tmp_path)])
    assert r.exit_code == 2
    assert "broken.py" in r.output and "Traceback" not in r.output


def test_missing_checks_dir(tmp_path):
    r = CliRunner().invoke(main, ["list", "--checks-dir", str(tmp_path / "nope")])
    assert r.exit_code == 2 and "checks directory not found" in r.output
