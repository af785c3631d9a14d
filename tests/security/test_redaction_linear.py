"""The redactor is linear in its input (issue 21, class 5): target output and pastes of any length go
through it, so one host printing a long token must not stall the controller of a fleet.

Constructed attacks, 300,000 characters each, redacted in a child process whose CPU time is capped with
RLIMIT_CPU (the kernel kills it at the cap) and its memory with RLIMIT_AS: a pattern that backtracks (10k characters took 3 s, 40k
took 38 s before the rewrite) cannot finish under the cap; the linear redactor does each in well under
a tenth of a second. CPU time, not wall-clock time, so a busy test machine does not make it flaky."""

import resource
import subprocess
import sys

import pytest

N = 300_000
MEMORY = 1024**3  # address space: a few copies of a 300k-character case, far from it; a blow-up is killed

# Each head is a literal a pattern starts at; each fill is a run a pattern may scan and give back.
HEADS = ["AUTH_TOKEN", "AUTH_TOKEN=", "AUTH_TOKEN ", "AUTH_TOKEN: ", '"token', '"token": "', "--token ", "sk-", "eyJ",
         "ghp_", "://", "://a:", "https://:", "Bearer ", "Basic ", "Authorization: ", "Authorization: token ",
         "-----BEGIN ", "-----BEGIN PGP PRIVATE KEY BLOCK-----", "AccountKey=", "?sig=", "&passkey=", "/announce",
         ";Pwd=", "Pwd={", "machine h ", "machine h login u ", "password ", "\npassword ", "curl -u ", "-u a:",
         "--user=", "hooks.slack.com/services/", "discord.com/api/webhooks/", "outlook.office.com/webhook/", "ASIA",
         "AKIA", "AIza", "sk_live_", "docker login ", " -p ", "'--token', '", "-H 'X-Api-Key: ",
         "a,Secret access key\n", "client-key-data: ", "token",
         # program flags (issue 21: a secret flag followed by its value) and the shapes added with them
         "sshpass -p ", "sshpass ", "mysql -p", "mysql -p'", 'mysql -p"', "mysql ", "/mysql -p ", "redis-cli --pass=",
         "ipmitool -P ", "-uuser:", "-U a%", "-passin pass:", "'-passin pass:"]
CHUNKS = 6  # children per battery: each does a sixth of the heads, well under its cap on a slow machine
FILLS = ["a", "-", " ", "=", ":", "'", ",", "@", "/", "A1"]

CHILD = """
import sys
from envdoctor.redact import redact
heads, fills, n, which = eval(sys.stdin.read())
if which == "probe":
    # the shapes the probe hides on the target, with the code the target runs
    from tests.support.sent_scripts import sent_probe
    redact = sent_probe().redact_shapes
if which == "issue":
    # the inputs issue 21 names: token characters after AUTH_TOKEN, and sk- repeated 100k times
    cases = ["AUTH_TOKEN " + "a" * n, "AUTH_TOKEN" + "a" * n, '"AUTH_TOKEN' + "a" * n, "sk-" * (n // 3)]
else:
    cases = [s for h in heads for f in fills for s in (h + f * (n // len(f)), (h + f) * (n // (len(h) + len(f))))]
for s in cases:
    redact(s)
print(len(cases))
"""


def _run_capped(which: str, cpu_s: int, heads=HEADS) -> subprocess.CompletedProcess:
    def cap():
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s))
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))

    return subprocess.run([sys.executable, "-c", CHILD], input=repr((heads, FILLS, N, which)), text=True,
                          capture_output=True, preexec_fn=cap)


def test_issue_inputs_redact_in_linear_time():
    """Constructed: 300k token characters after AUTH_TOKEN (three ways) and `sk-` repeated 100k times,
    all four under 5 CPU-seconds together, the interpreter's start included (each was killed at 5 before)."""
    r = _run_capped("issue", 5)
    assert r.returncode == 0, f"killed at the CPU cap or failed: rc={r.returncode} {r.stderr[-2000:]}"
    assert r.stdout.strip() == "4"


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_the_probes_shapes_are_linear_too(chunk):
    """Constructed: the same battery through the probe as sent (its own copy of the shape code, run on
    targets), under 20 CPU-seconds per child."""
    r = _run_capped("probe", 20, HEADS[chunk::CHUNKS])
    assert r.returncode == 0, f"killed at the CPU cap or failed: rc={r.returncode} {r.stderr[-2000:]}"
    assert int(r.stdout) == len(HEADS[chunk::CHUNKS]) * len(FILLS) * 2


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_every_pattern_start_with_long_runs_is_linear(chunk):
    """Constructed: every literal a pattern starts at, followed by 300k characters of one kind, and
    repeated back to back to 300k (a pattern that retries at each start and scans to the end is
    quadratic on both); a sixth of the heads per child (about 8 CPU-s here), under 20 CPU-seconds each."""
    r = _run_capped("battery", 20, HEADS[chunk::CHUNKS])
    assert r.returncode == 0, f"killed at the CPU cap or failed: rc={r.returncode} {r.stderr[-2000:]}"
    assert int(r.stdout) == len(HEADS[chunk::CHUNKS]) * len(FILLS) * 2
