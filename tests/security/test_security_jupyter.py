"""Real Jupyter servers (jupyter_server) started by the test, seen by the real probe sections and judged
by the checks. They run in a network namespace of their own (`unshare --net`: only its loopback
exists), so a server bound to 0.0.0.0 without a token is reachable by nothing outside the test; their
runtime files go to the test's directory."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from envdoctor.diagnosis.bundle import Bundle, Section
from envdoctor.diagnosis.host_facts import facts_from_bundle
from envdoctor.probe import SOURCE as PROBE_SOURCE
from tests.checks.support import run
from tests.support.sent_scripts import sent_probe

SECRET = "tok-SECRET-7d1f0c"  # the token of server B: must appear nowhere in the evidence

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("jupyter_server") is None or os.geteuid() != 0 or not shutil.which("unshare")
    or not shutil.which("ip"), reason="needs jupyter_server (the test extra), root, unshare and ip")

# Runs inside the private network namespace: start the servers, wait for them, run the probe's
# security sections and `jupyter server list --json`, print all of it as JSON, stop the servers.
DRIVER = textwrap.dedent(r'''
    import importlib.util, json, os, subprocess, sys, time, urllib.request
    probe_path, work, secret = sys.argv[1:4]
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=work + "/runtime", JUPYTER_CONFIG_DIR=work + "/config",
               JUPYTER_DATA_DIR=work + "/data", HOME=work)
    base = ["--no-browser", "--allow-root", "--ServerApp.root_dir=" + work]
    exe = os.path.join(os.path.dirname(sys.executable), "jupyter-server")
    servers = {
        "A": [sys.executable, "-m", "jupyter_server", "--ip=0.0.0.0", "--port=18901", "--ServerApp.token="] + base,
        "B": ([sys.executable, exe] if os.path.exists(exe) else [sys.executable, "-m", "jupyter_server"])
             + ["--ip=0.0.0.0", "--port=18902", "--ServerApp.token=" + secret] + base,
        "C": [sys.executable, "-m", "jupyter_server", "--ip=127.0.0.1", "--port=18903", "--ServerApp.token="] + base,
    }
    procs = {k: subprocess.Popen(v, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for k, v in servers.items()}
    try:
        for port in (18901, 18902, 18903):
            deadline = time.time() + 300
            while True:
                try:
                    urllib.request.urlopen("http://127.0.0.1:%d/api" % port, timeout=2).read()
                    break
                except Exception:
                    if time.time() > deadline:
                        raise SystemExit("server on %d did not start" % port)
                    time.sleep(0.3)
        os.environ.update(env)  # the probe's `jupyter server list` reads the same runtime directory
        spec = importlib.util.spec_from_file_location("probe", probe_path)
        probe = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(probe)
        print(json.dumps({"pids": {k: p.pid for k, p in procs.items()},
                          "sec_jupyter": probe.sec_jupyter(), "sec_listening": probe.sec_listening()}))
    finally:
        for p in procs.values():
            p.terminate()
        for p in procs.values():
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
''')


@pytest.fixture(scope="module")
def seen(tmp_path_factory):
    work = tmp_path_factory.mktemp("jupyter")
    probe = work / "probe_as_sent.py"  # the probe as the controller sends it: its vocabulary written in
    probe.write_text(PROBE_SOURCE)
    r = subprocess.run(["unshare", "--net", sys.executable, "-c", DRIVER, str(probe), str(work), SECRET],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def _facts(seen):
    return facts_from_bundle(Bundle(sections={n: Section(**seen[n]) for n in ("sec_jupyter", "sec_listening")}))


def test_no_token_or_password_reaches_the_evidence(seen):
    for name in ("sec_jupyter", "sec_listening"):
        assert SECRET not in json.dumps(seen[name])
    doc = json.loads(seen["sec_jupyter"]["stdout"])
    b = next(p for p in doc["processes"] if p["pid"] == seen["pids"]["B"])
    assert "--ServerApp.token=<redacted>" in b["argv"]
    rows = {r["pid"]: r for r in doc["servers_listed"]}  # read from each server's own runtime file
    assert rows[seen["pids"]["B"]]["token"] == "<redacted>" and rows[seen["pids"]["A"]]["token"] == ""
    assert rows[seen["pids"]["B"]]["listed_by"] == f"runtime file jpserver-{seen['pids']['B']}.json"


def test_each_server_is_seen_with_its_sockets_and_authentication(seen):
    servers = {s.pid: s for s in _facts(seen).security.jupyter}
    pids = seen["pids"]
    assert set(pids.values()) <= set(servers)
    a, b, c = servers[pids["A"]], servers[pids["B"]], servers[pids["C"]]
    assert [x.show() for x in a.listening] == ["0.0.0.0:18901"] and a.unauthenticated_ok is True
    assert a.token is False and a.password is False
    assert b.beyond_loopback and b.token is True and b.unauthenticated_ok is False
    assert [x.show() for x in c.listening] == ["127.0.0.1:18903"] and not c.beyond_loopback
    assert any("GET /api/kernels on 0.0.0.0:18901 without a token: http 200" in e for e in a.evidence)


def test_open_server_beyond_loopback_fails_with_the_tunnel_fix(seen):
    r = run("security_jupyter_auth", _facts(seen))
    assert r.status.value == "fail" and "0.0.0.0:18901" in r.summary and "no token and no password" in r.summary
    assert any("ssh -N -L 18901:127.0.0.1:18901" in c for c in r.fix.commands)
    assert SECRET not in r.model_dump_json()


def test_token_beyond_loopback_warns_and_loopback_passes(seen):
    facts = _facts(seen)
    pids = seen["pids"]
    facts.security.jupyter = [s for s in facts.security.jupyter if s.pid != pids["A"]]
    r = run("security_jupyter_auth", facts)
    assert r.status.value == "warn" and "0.0.0.0:18902" in r.summary
    assert any("ssh -N -L 18902:127.0.0.1:18902" in c for c in r.fix.commands)
    facts.security.jupyter = [s for s in facts.security.jupyter if s.pid == pids["C"]]
    r = run("security_jupyter_auth", facts)
    assert r.status.value == "pass" and "loopback only" in r.summary


def test_servers_run_as_root_warn(seen):
    r = run("security_jupyter_root", _facts(seen))
    assert r.status.value == "warn" and "as root" in r.summary  # the test runs them as root


def test_command_line_secrets_are_redacted_in_every_form():
    probe = sent_probe("envdoctor_probe_redact")
    argv = ["jupyter-lab", "--NotebookApp.token", "abc", "--ServerApp.token=''", "--IdentityProvider.token=zz",
            "--ServerApp.password=argon2:xyz", "--port=8888", "http://h:8888/lab?token=abc&x=1", "--token="]
    assert probe._sec_redact_argv(argv) == [
        "jupyter-lab", "--NotebookApp.token", "<redacted>", "--ServerApp.token=''", "--IdentityProvider.token=<redacted>",
        "--ServerApp.password=<redacted>", "--port=8888", "http://h:8888/lab?token=<redacted>&x=1", "--token="]


def test_no_process_list_is_unknown_and_none_running_passes():
    assert run("security_jupyter_auth", facts_from_bundle(Bundle())).status.value == "unknown"
    empty = Bundle(sections={"sec_jupyter": Section(stdout='{"processes": [], "servers_listed": [], "http": []}')})
    assert run("security_jupyter_auth", facts_from_bundle(empty)).status.value == "pass"
    assert run("security_jupyter_root", facts_from_bundle(empty)).status.value == "skip"
