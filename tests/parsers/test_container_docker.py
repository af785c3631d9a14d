"""docker info, daemon.json, the NVIDIA Container Toolkit and pasted container errors (corpus)."""

import pytest

from envdoctor.diagnosis.bundle import Bundle, Section
from envdoctor.diagnosis.gather import gather
from envdoctor.diagnosis.host_facts.container import build_container_facts
from envdoctor.hosts.transport import LocalTransport
from envdoctor.parsers import docker
from tests.corpus import constructed_body, corpus_body


def facts(*rels):
    return build_container_facts(Bundle(pastes=[corpus_body(r) for r in rels]))


def test_docker_27_with_nvidia_runtime_not_default():
    f = facts("container-config/docker-info-nvidia-runtime-registered-not-default.txt")
    assert f.docker_installed and f.docker_server_reachable
    assert (f.docker_client_version, f.docker_version) == ("27.3.1", "27.3.1")
    assert f.docker_runtimes == ["io.containerd.runc.v2", "nvidia", "runc"]
    assert f.docker_default_runtime == "runc"
    assert f.docker_evidence == ["Runtimes: io.containerd.runc.v2 nvidia runc", "Default Runtime: runc"]
    assert f.container_cli_info is None  # "Architecture: x86_64" is docker's, not a GPU
    assert f.toolkit_installed is None  # a paste says nothing about the binaries


def test_docker_1_11_without_runtimes_line():
    f = facts("container-config/docker-info-1.11.1-no-runtimes-line.txt")
    assert f.docker_version == "1.11.1" and f.docker_server_reachable is True
    assert f.docker_runtimes is None and f.docker_default_runtime is None  # unknown, not "no runtimes"
    assert f.docker_client_version is None


def test_daemon_json_and_runtimes_pasted_together():
    f = facts("container-config/daemon-json-nvidia-default-with-insecure-registries.txt")
    assert f.daemon_json["default-runtime"] == "nvidia"
    assert f.daemon_json["runtimes"]["nvidia"]["path"] == "/usr/bin/nvidia-container-runtime"
    assert f.daemon_json_error is None and f.daemon_json_present is True
    assert f.docker_runtimes == ["io.containerd.runc.v2", "runc"] and f.docker_default_runtime == "runc"


def test_daemon_json_that_does_not_parse_is_recorded():
    body = constructed_body("system/daemon-json-trailing-comma.txt")
    doc, err = docker.parse_daemon_json(body)
    assert doc is None and err.startswith("JSONDecodeError: Expecting property name")
    f = build_container_facts(Bundle(sections={"docker_daemon_json": Section(rc=0, stdout=body)}))
    assert f.daemon_json_present is True and f.daemon_json is None
    assert f.daemon_json_error == err and f.daemon_json_path == "/etc/docker/daemon.json"
    # the same file pasted after the command that printed it
    f = build_container_facts(Bundle(pastes=["$ cat /etc/docker/daemon.json\n" + body]))
    assert f.daemon_json_error == err


def test_daemon_json_absent_and_empty():
    f = build_container_facts(Bundle(sections={"docker_daemon_json": Section(error="not-found")}))
    assert f.daemon_json_present is False and f.daemon_json is None and f.daemon_json_error is None
    assert docker.parse_daemon_json("") == ({}, None)


def test_nvidia_ctk_version():
    f = facts("container-config/nvidia-ctk-version-1.12.0.txt")
    assert f.nvidia_ctk_version == "1.12.0" and f.toolkit_installed is True


def test_nvidia_container_toolkit_version_is_the_runtime_hook():
    f = facts("container-config/nvidia-container-toolkit-version-1.17.0.txt")
    assert f.nvidia_container_toolkit_version == "1.17.0" and f.toolkit_installed is True


@pytest.mark.parametrize("rel,nvrm,cuda,model,uuid,arch", [
    ("container-config/nvidia-container-cli-info-geforce920m-384.130.txt", "384.130", "9.0", "GeForce 920M",
     "GPU-4712226b-88e6-a01e-efb0-a5950a64f8d9", "3.5"),
    ("container-config/nvidia-container-cli-info-gtx1080-maxq-390.87.txt", "390.87", "9.1",
     "GeForce GTX 1080 with Max-Q Design", "GPU-e572b8ee-523e-f7be-a359-33149791a02a", "6.1"),
    ("container-config/nvidia-container-cli-info-jetson-xavier-null-fields.txt", None, "10.2", "Xavier", None, "7.2"),
])
def test_nvidia_container_cli_info(rel, nvrm, cuda, model, uuid, arch):
    f = facts(rel)
    info = f.container_cli_info
    assert (info.nvrm_version, info.cuda_version) == (nvrm, cuda)
    assert len(info.devices) == 1
    d = info.devices[0]
    assert (d.index, d.model, d.uuid, d.architecture) == (0, model, uuid, arch)
    assert f.toolkit_installed is True


def test_container_cli_version_output():
    # constructed: `nvidia-container-cli --version` as a probe section
    b = Bundle(sections={"nvidia_container_cli_version": Section(rc=0, stdout="cli-version: 1.17.0\nlib-version: 1.17.0\n")})
    assert build_container_facts(b).nvidia_container_cli_version == "1.17.0"


# the kind is the knowledge base signature that recognises the line
@pytest.mark.parametrize("rel,kind,line", [
    ("errors/docker-could-not-select-device-driver-toolkit-missing.txt", "docker_no_gpu_driver",
     'docker: Error response from daemon: could not select device driver "" with capabilities: [[gpu]].'),
    ("errors/docker-could-not-select-device-driver-no-quotes-variant.txt", "docker_no_gpu_driver",
     "docker: Error response from daemon: could not select device driver with capabilities: [[gpu]]."),
    ("errors/nvidia-container-cli-load-library-libnvidia-ml.txt", "container_cli_init_error",
     "nvidia-container-cli: initialization error: load library failed: libnvidia-ml.so.1: cannot open shared "
     "object file: no such file or directory: unknown."),
    ("errors/nvidia-container-cli-nvml-driver-not-loaded-with-debug-log.txt", "container_cli_init_error",
     "nvidia-container-cli: initialization error: nvml error: driver not loaded: unknown."),
    ("errors/nvidia-container-cli-driver-rpc-error-legacy-mode.txt", "container_cli_init_error",
     "nvidia-container-cli: initialization error: driver rpc error: failed to process request: unknown."),
    ("errors/nvidia-container-cli-cuda-error-unknown-require-cuda.txt", "container_cli_init_error",
     "nvidia-container-cli: initialization error: cuda error: unknown error"),
    ("errors/nvidia-container-cli-driver-error-failed-to-process-request-cuda-na.txt", "container_cli_init_error",
     "nvidia-container-cli.real: initialization error: driver error: failed to process request"),
])
def test_pasted_container_errors(rel, kind, line):
    f = facts(rel)
    assert [(e.kind, e.line) for e in f.error_details] == [(kind, line)]
    assert f.errors_seen == [line]
    assert f.docker_installed is True  # docker's client printed the daemon's answer
    if kind != "docker_no_gpu_driver":
        assert f.toolkit_installed is True  # the hook ran, so the toolkit is there


def test_docker_version_line_and_nvml_debug_log_version():
    f = facts("errors/nvidia-container-cli-driver-error-failed-to-process-request-cuda-na.txt")
    assert f.docker_version == "19.03.8"  # `dockerd --version` in the paste
    f = facts("errors/nvidia-container-cli-nvml-driver-not-loaded-with-debug-log.txt")
    assert f.nvidia_container_cli_version == "1.9.0"  # "initializing library context (version=1.9.0, ...)"


def test_requirement_error_constructed():
    f = build_container_facts(Bundle(pastes=[constructed_body("system/nvidia-container-cli-requirement-error.txt")]))
    assert [e.kind for e in f.error_details] == ["container_cli_requirement"]
    assert f.errors_seen[0].startswith("nvidia-container-cli: requirement error: unsatisfied condition: cuda>=12.4")


def test_this_machine_docker_client_without_daemon():
    with LocalTransport() as tr:
        b = gather(tr, no_torch=True)
    f = build_container_facts(b)
    tools = dict(l.split("\t") for l in b.get("tools").stdout.splitlines())
    assert f.docker_installed is bool(tools["docker"])
    if f.docker_installed and "Cannot connect to the Docker daemon" in b.get("docker_info").text:
        assert f.docker_server_reachable is False
        assert f.docker_info_error.startswith("Cannot connect to the Docker daemon")
        assert f.docker_runtimes is None  # unknown: no daemon answered
    assert f.toolkit_installed is bool(tools["nvidia-ctk"] or tools["nvidia-container-cli"])
    assert f.cdi_specs == b.get("cdi_specs").stdout.split()


def test_not_found_docker_is_known_absent_but_a_paste_is_unknown():
    # constructed: probe sections of a host where none of the tools is on PATH
    b = Bundle(sections={"docker_info": Section(error="not-found"),
                         "tools": Section(rc=0, stdout="docker\t\npodman\t\nnvidia-ctk\t\nnvidia-container-cli\t\n")})
    f = build_container_facts(b)
    assert (f.docker_installed, f.podman_installed, f.toolkit_installed) == (False, False, False)
    f = facts("container-config/ulimit-a-hpc-memlock-64-ucx.txt")
    assert (f.docker_installed, f.podman_installed, f.toolkit_installed) == (None, None, None)


def test_client_only_docker_info_in_a_paste():
    # constructed: what `docker info` prints with no daemon (stdout then stderr), pasted
    text = ("Client:\n Version:    28.2.2\n Context:    default\n Debug Mode: false\n\nServer:\n"
            "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n")
    info = docker.parse_docker_info(text)
    assert (info.client_version, info.server_reachable, info.runtimes) == ("28.2.2", False, None)


def test_cdi_list_paste():
    # constructed: `nvidia-ctk cdi list` output
    f = build_container_facts(Bundle(pastes=["INFO[0000] Found 2 CDI devices\nnvidia.com/gpu=0\nnvidia.com/gpu=all\n"]))
    assert f.cdi_devices == ["nvidia.com/gpu=0", "nvidia.com/gpu=all"]


def test_proc_driver_version_nvrm_line_is_not_container_cli_info():
    f = facts("proc-driver-version/proprietary-470.223.02-ubuntu20.04.txt")
    assert f.container_cli_info is None and f.toolkit_installed is None


def test_other_corpus_kinds_leave_container_facts_unknown():
    f = facts("collect-env/rtx4090-2.5.1-cu121-driver-535.txt", "nvidia-smi-q/l40s-595.80.txt")
    assert f.model_dump(exclude_defaults=True) == {}


def test_permission_denied_on_the_socket_is_a_client_without_daemon():
    # constructed: docker info run by a user outside the docker group (the client's own wording)
    info = docker.parse_docker_info("Client:\n Version:    27.3.1\n\nServer:\npermission denied while trying to connect "
                                    "to the Docker daemon socket at unix:///var/run/docker.sock: Get ...: dial unix "
                                    "/var/run/docker.sock: connect: permission denied\n")
    assert info.server_reachable is False and info.error.startswith("permission denied while trying to connect")
