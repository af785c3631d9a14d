"""Secrets planted in every place envdoctor collects from (the environment of a login, docker's
daemon.json, a file the probe reads, a paste) never appear in any output: the text and JSON reports,
a bundle directory and tarball, `play --diff` and `fix --check --diff`. Every secret is constructed."""

import json
import subprocess
import sys
import tarfile

import pytest

from envdoctor.diagnosis.bundle import Bundle
from envdoctor.diagnosis.gather import gather
from envdoctor.hosts.targets import Target
from envdoctor.hosts.transport.ssh import SSHTransport
from envdoctor.redact import SECRET_NAME_WORDS
from tests.fixes.conftest import ROOT, Host, can_run_hosts
from tests.support.sent_scripts import sent_probe
from tests.support.testhost import SYSTEM_PYTHON, TestHost

pytestmark = pytest.mark.skipif(not can_run_hosts(), reason="needs root, openssh-server and /usr/bin/python3")

SECRETS = ["Qz7condaTok", "nvapi-Qz7aaaaaaaaaaaaaaaaaaaaaaaaa", "Qz7hubTok", "Qz7cachePw", "Qz7proxyPw",
           "Qz7registryAuth", "Qz7supportPw", "Qz7bearerTok", "hf_Qz7aaaaaaaaaaaaaaaaaaaaaaaa"]
ENV = (f"SetEnv CONDA_TOKEN={SECRETS[0]} NVIDIA_API_KEY={SECRETS[1]} TORCH_HUB_TOKEN={SECRETS[2]} "
       f"CUDA_CACHE_URL=https://bob:{SECRETS[3]}@cache.example/x\n")
DAEMON_JSON = json.dumps({"proxies": {"http-proxy": f"http://alice:{SECRETS[4]}@proxy.example:3128",
                                      "no-proxy": "localhost"}, "registry-auth": SECRETS[5]})
PASTE = (f"Authorization: Bearer {SECRETS[7]}xyz\nexport HF_TOKEN={SECRETS[8]}\n"
         "Failed to initialize NVML: Driver/library version mismatch\n")


def leaked(text: str) -> list[str]:
    return [s for s in SECRETS if s in text]


def test_probe_and_redaction_module_agree_on_secret_names():
    # one list (data/secret_names.yaml), written into the probe the controller sends
    assert tuple(sent_probe().VOCABULARY["secret_name_words"]) == SECRET_NAME_WORDS


@pytest.fixture
def secret_host(tmp_path):
    h = TestHost(tmp_path / "host", alias="fixhost", isolated=True, extra_sshd_config=ENV).start()
    try:
        host = Host(h)
        host.sh(f"mkdir -p /etc/docker && printf '%s' '{DAEMON_JSON}' > /etc/docker/daemon.json && "
                # /etc/os-release is a symlink into /usr/lib, which the test host shares with this machine:
                # write a new file and rename it over the link, never append through it.
                f"{{ cat /etc/os-release; echo 'SUPPORT_URL=\"https://carol:{SECRETS[6]}@support.example/\"'; }}"
                " > /etc/os-release.new && mv -f /etc/os-release.new /etc/os-release && "
                "mount -t tmpfs -o rw,nosuid,nodev,size=64m tmpfs /dev/shm")
        host.install_fake_systemctl()
        yield host
    finally:
        h.stop()


def test_no_output_shows_a_planted_secret(secret_host, tmp_path):
    host = secret_host
    check_args = [a for a in host.args() if a != "--no-torch"] + ["--no-proof"]
    outputs = {}
    r = host.envdoctor("check", *check_args)
    outputs["check text"] = r.stdout + r.stderr
    assert "Secrets redacted (shown as <redacted>) in:" in r.stdout and "docker_daemon_json" in r.stdout
    r = host.envdoctor("check", *check_args, "--json")
    doc = json.loads(r.stdout)
    outputs["check json"] = r.stdout + r.stderr
    assert {"environment", "docker_daemon_json", "os_release"} <= set(doc["hosts"][0]["redacted"])
    # The redaction did not cost the evidence: daemon.json still parses with its keys.
    t = Target(name="fixhost", hostname="127.0.0.1", port=host.h.port, user="root",
               identity_files=[str(host.h.client_key)])
    with SSHTransport(t, known_hosts=host.h.known_hosts) as tr:
        bundle = gather(tr, python=SYSTEM_PYTHON, no_torch=True, host="fixhost")
    env = json.loads(bundle.sections["environment"].stdout)
    assert env["CONDA_TOKEN"] == "<redacted>" and env["CUDA_CACHE_URL"] == "https://bob:<redacted>@cache.example/x"
    assert json.loads(bundle.sections["docker_daemon_json"].stdout)["proxies"]["no-proxy"] == "localhost"
    bundle.pastes.append(PASTE)
    bundle = Bundle.model_validate(bundle.model_dump())  # as a paste is loaded: redacted on the way in
    bundle.save(tmp_path / "b")
    bundle.save(tmp_path / "b.tar.gz")
    outputs["bundle dir"] = "".join(p.read_text() for p in (tmp_path / "b").rglob("*") if p.is_file())
    with tarfile.open(tmp_path / "b.tar.gz") as tar:
        outputs["bundle tar.gz"] = "".join(tar.extractfile(m).read().decode() for m in tar if m.isfile())
    paste = tmp_path / "paste.txt"
    paste.write_text(PASTE)
    r = subprocess.run([sys.executable, "-m", "envdoctor", "facts", "--from", str(paste), "--raw", "--bundle",
                        str(tmp_path / "p.tar.gz")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    with tarfile.open(tmp_path / "p.tar.gz") as tar:
        outputs["paste bundle"] = r.stdout + "".join(tar.extractfile(m).read().decode() for m in tar if m.isfile())
    r = host.envdoctor("check", "--from", str(paste), "--no-proof", "--json")
    outputs["paste check"] = r.stdout + r.stderr
    for extra in ([], ["--json"]):
        r = host.envdoctor("play", "container-toolkit.yml", *host.args(), *host.AS_DOCKER_HOST, "--check", "--diff",
                          *extra)
        outputs[f"play --diff {extra}"] = r.stdout + r.stderr
        assert "proxies" in r.stdout  # the diff is there, with the file's other keys
        r = host.envdoctor("fix", *host.args(), "--check", "--diff", "-e", "manage_host_shm=true manage_docker=true",
                          *extra)
        outputs[f"fix --diff {extra}"] = r.stdout + r.stderr
        assert "default-shm-size" in r.stdout
    r = host.envdoctor("play", "container-toolkit.yml", *host.args(), *host.AS_DOCKER_HOST, "--diff")
    outputs["play apply --diff"] = r.stdout + r.stderr
    assert SECRETS[4] in host.read("/etc/docker/daemon.json")  # the file keeps its real password
    bad = {name: leaked(text) for name, text in outputs.items() if leaked(text)}
    assert not bad, bad
