"""Against the real Slurm the tests start: a drain reason built from a summary carrying constructed escape
sequences reaches `sinfo -R` as one printable line."""

import re
import subprocess
import sys

from tests.slurm.test_slurm_real import SLOW_OK, resume, wait_state

HOSTILE_CHECK = '''
from envdoctor.diagnosis.catalog import check, fail


@check("site_hostile", "Constructed: a summary with terminal escape sequences", order=5)
def site_hostile(facts):
    """Constructed: OSC title, CSI clear, RIS, C1 CSI, a newline and an unterminated OSC 52 in a summary."""
    return fail("bad\\x1b]0;pwned\\x07 \\x1b[2J\\x1bc\\x9b31m\\nnext \\x1b]52;c;QQ")
'''


def test_health_drain_reason_reaches_sinfo_escaped(slurm_cluster, tmp_path):
    c = slurm_cluster
    (tmp_path / "hostile.py").write_text(HOSTILE_CHECK)
    try:
        r = subprocess.run([sys.executable, "-m", "envdoctor", "health", "--node", "n1", "--checks-dir", str(tmp_path),
                            "--only", "site_hostile", "--no-torch", *SLOW_OK], env=c.env, capture_output=True,
                           text=True, timeout=240)
        assert r.returncode == 1, r.stderr
        assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f]", r.stderr), r.stderr
        state, reason = wait_state(c, "n1", lambda s: s == "drained")
        assert state == "drained"
        assert reason == "envdoctor: site_hostile: bad\\x1b]0;pwned\\x07 \\x1b[2J\\x1bc\\x9b31m next \\x1b]52;c;QQ"
        sinfo_r = c.run(["sinfo", "-R", "-h", "-o", "%E|%N"]).stdout
        assert f"{reason}|n1" in sinfo_r.splitlines()
        assert "\x1b" not in sinfo_r and "\x9b" not in sinfo_r
    finally:
        resume(c, "n1")
