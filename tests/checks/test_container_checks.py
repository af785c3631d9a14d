"""container_toolkit and docker_gpu_runtime on facts from real outputs (corpus, this machine) and
constructed facts (labelled)."""

import pytest

from envdoctor.diagnosis.bundle import Bundle, Section
from envdoctor.diagnosis.gather import gather
from envdoctor.diagnosis.host_facts import facts_from_bundle
from envdoctor.facts import ContainerFacts, GpuFacts, HostFacts
from envdoctor.hosts.transport import LocalTransport
from envdoctor.knowledge import signatures
from envdoctor.models import Status
from tests.checks.support import paste, run
from tests.corpus import constructed_body


@pytest.fixture(scope="module")
def live_bundle():
    with LocalTransport() as tr:
        return gather(tr, no_torch=True)


# --- container_toolkit --------------------------------------------------------------------------

@pytest.mark.parametrize("rel", ["errors/docker-could-not-select-device-driver-toolkit-missing.txt",
                                 "errors/docker-could-not-select-device-driver-no-quotes-variant.txt"])
def test_could_not_select_device_driver_fails(rel):
    r = run("container_toolkit", paste(rel))
    assert r.status == Status.FAIL
    assert "could not select device driver" in r.evidence[0]
    assert r.cause_id == "toolkit_missing" and "NVIDIA Container Toolkit is not installed" in r.cause
    assert "sudo nvidia-ctk runtime configure --runtime=docker" in r.fix.commands
    assert r.fix.playbook == "container-toolkit.yml"


@pytest.mark.parametrize("rel", [
    "errors/nvidia-container-cli-load-library-libnvidia-ml.txt",
    "errors/nvidia-container-cli-nvml-driver-not-loaded-with-debug-log.txt",
    "errors/nvidia-container-cli-driver-rpc-error-legacy-mode.txt",
    "errors/nvidia-container-cli-cuda-error-unknown-require-cuda.txt",
    "errors/nvidia-container-cli-driver-error-failed-to-process-request-cuda-na.txt",
])
def test_hook_errors_fail_with_their_cause(rel):
    # the hook could not use the host driver: the knowledge base's container_cli_init, its title and fix
    r = run("container_toolkit", paste(rel))
    assert r.status == Status.FAIL
    assert r.evidence[0].startswith("nvidia-container-cli")
    assert r.cause_id == "container_cli_init" and r.cause == signatures().causes["container_cli_init"].title
    assert "nvidia-smi" in r.fix.commands


def test_requirement_error_constructed():
    r = run("container_toolkit", paste(constructed=["system/nvidia-container-cli-requirement-error.txt"]))
    assert r.status == Status.FAIL and r.cause_id == "container_cli_requirement" and "newer CUDA" in r.cause


@pytest.mark.parametrize("rel,version", [("container-config/nvidia-ctk-version-1.12.0.txt", "nvidia-ctk 1.12.0"),
                                         ("container-config/nvidia-container-toolkit-version-1.17.0.txt",
                                          "nvidia-container-toolkit 1.17.0")])
def test_toolkit_version_passes(rel, version):
    r = run("container_toolkit", paste(rel))
    assert r.status == Status.PASS and version in r.summary


def test_container_cli_info_passes_with_driver_evidence():
    r = run("container_toolkit", paste("container-config/nvidia-container-cli-info-gtx1080-maxq-390.87.txt"))
    assert r.status == Status.PASS
    assert r.evidence == ["nvidia-container-cli info: NVRM 390.87, CUDA 9.1, 1 GPU(s)"]


def test_docker_info_alone_is_unknown_for_the_toolkit():
    r = run("container_toolkit", paste("container-config/docker-info-nvidia-runtime-registered-not-default.txt"))
    assert r.status == Status.UNKNOWN


def test_no_engine_skips_and_missing_toolkit_warns():
    # constructed facts: the probe found neither docker nor podman
    r = run("container_toolkit", HostFacts(container=ContainerFacts(
        docker_installed=False, podman_installed=False, toolkit_installed=False)))
    assert r.status == Status.SKIP
    # constructed facts: docker with a daemon, no toolkit, GPU presence unknown
    r = run("container_toolkit", HostFacts(container=ContainerFacts(
        docker_installed=True, docker_server_reachable=True, podman_installed=False, toolkit_installed=False)))
    assert r.status == Status.WARN and "`--gpus all` will fail" in r.summary
    assert r.fix.playbook == "container-toolkit.yml"
    # constructed facts: same, but the PCI bus shows no NVIDIA GPU
    r = run("container_toolkit", HostFacts(gpu=GpuFacts(pci_gpus=[]), container=ContainerFacts(
        docker_installed=True, docker_server_reachable=True, podman_installed=False, toolkit_installed=False)))
    assert r.status == Status.SKIP and "not installed" in r.summary


def test_container_toolkit_this_machine(live_bundle):
    f = facts_from_bundle(live_bundle)
    r = run("container_toolkit", f)
    c = f.container
    if c.toolkit_installed:
        assert r.status == Status.PASS
    elif not (c.docker_installed or c.podman_installed):
        assert r.status == Status.SKIP
    else:
        assert r.status in (Status.WARN, Status.SKIP)
        assert "not installed" in r.summary
        assert "nvidia-ctk: not found" in r.evidence


# --- docker_gpu_runtime -------------------------------------------------------------------------

def test_nvidia_runtime_registered_passes_naming_default():
    r = run("docker_gpu_runtime", paste("container-config/docker-info-nvidia-runtime-registered-not-default.txt"))
    assert r.status == Status.PASS
    assert "default runtime: runc" in r.summary
    assert r.evidence == ["Runtimes: io.containerd.runc.v2 nvidia runc", "Default Runtime: runc"]


def test_daemon_json_declares_nvidia_but_daemon_does_not_list_it():
    r = run("docker_gpu_runtime", paste("container-config/daemon-json-nvidia-default-with-insecure-registries.txt"))
    assert r.status == Status.FAIL
    assert "Runtimes: io.containerd.runc.v2 runc" in r.evidence
    assert "sudo systemctl restart docker" in r.fix.commands


def test_daemon_json_that_does_not_parse_fails_naming_file_and_error():
    # constructed daemon.json (trailing comma) as the probe's section
    b = Bundle(sections={"docker_daemon_json": Section(rc=0, stdout=constructed_body("system/daemon-json-trailing-comma.txt"))})
    r = run("docker_gpu_runtime", facts_from_bundle(b))
    assert r.status == Status.FAIL
    assert r.summary.startswith("/etc/docker/daemon.json does not parse: JSONDecodeError: Expecting property name")
    assert "line 8 column 1" in r.evidence[0]


def test_old_docker_without_runtimes_warns():
    r = run("docker_gpu_runtime", paste("container-config/docker-info-1.11.1-no-runtimes-line.txt"))
    assert r.status == Status.WARN and "1.11.1" in r.summary and "19.03" in r.summary


def test_runc_only_warns_and_cdi_passes():
    f = paste(constructed=["system/docker-info-runc-only.txt"])
    r = run("docker_gpu_runtime", f)
    assert r.status == Status.WARN and "neither the nvidia runtime nor a CDI spec" in r.summary
    # constructed: same daemon, with a CDI spec generated by nvidia-ctk
    f.container.cdi_specs = ["/etc/cdi/nvidia.yaml"]
    r = run("docker_gpu_runtime", f)
    assert r.status == Status.PASS and "nvidia.com/gpu=all" in r.summary


def test_no_docker_skips_paste_without_docker_unknown():
    b = Bundle(sections={"docker_info": Section(error="not-found")})
    assert run("docker_gpu_runtime", facts_from_bundle(b)).status == Status.SKIP
    r = run("docker_gpu_runtime", paste("container-config/ulimit-a-hpc-memlock-64-ucx.txt"))
    assert r.status == Status.UNKNOWN


def test_docker_gpu_runtime_this_machine(live_bundle):
    f = facts_from_bundle(live_bundle)
    r = run("docker_gpu_runtime", f)
    if f.container.docker_installed is False:
        assert r.status == Status.SKIP
    elif f.container.docker_server_reachable is False:
        assert r.status == Status.UNKNOWN
        assert "no docker daemon runs here" in r.summary or "could not reach a docker daemon" in r.summary
        assert r.evidence[0].startswith("Cannot connect to the Docker daemon")


def test_daemon_json_fix_quotes_its_path():
    # constructed facts: a daemon.json that does not parse, at a path with a blank
    f = HostFacts(container=ContainerFacts(daemon_json_error="Expecting ',' delimiter: line 3 column 5",
                                           daemon_json_path="/srv/my docker/daemon.json"))
    r = run("docker_gpu_runtime", f)
    assert r.status == Status.FAIL
    assert r.fix.commands[0] == "python3 -m json.tool '/srv/my docker/daemon.json'"
