"""Facts about docker and the NVIDIA Container Toolkit (owned by the system/container domain)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ContainerError(BaseModel):
    """A recognised container/toolkit error line and what kind of failure it is (see parsers/docker.py)."""

    kind: str  # "no-gpu-device-driver", "nvml-library-missing", "driver-not-loaded", "driver-rpc-error", ...
    line: str  # verbatim


class ContainerCliDevice(BaseModel):
    index: int | None = None
    model: str | None = None
    uuid: str | None = None
    bus_location: str | None = None
    architecture: str | None = None  # compute capability as nvidia-container-cli prints it: "6.1"


class ContainerCliInfo(BaseModel):
    """`nvidia-container-cli info`: what the toolkit's library sees of the driver and GPUs."""

    nvrm_version: str | None = None  # None also for Jetson's "(null)"
    cuda_version: str | None = None
    devices: list[ContainerCliDevice] = Field(default_factory=list)


class ContainerFacts(BaseModel):
    docker_installed: bool | None = None
    docker_server_reachable: bool | None = None  # docker info reached a daemon
    docker_version: str | None = None
    docker_runtimes: list[str] | None = None
    docker_default_runtime: str | None = None
    daemon_json: dict[str, Any] | None = None  # parsed /etc/docker/daemon.json
    daemon_json_present: bool | None = None
    daemon_json_error: str | None = None  # it exists but does not parse
    nvidia_ctk_version: str | None = None
    nvidia_container_cli_version: str | None = None
    toolkit_installed: bool | None = None
    cdi_specs: list[str] | None = None
    errors_seen: list[str] = Field(default_factory=list)  # "could not select device driver ...", hook errors
    # Added by the container domain.
    docker_client_version: str | None = None
    docker_info_error: str | None = None  # "Cannot connect to the Docker daemon ..." (client without daemon)
    docker_evidence: list[str] = Field(default_factory=list)  # verbatim Runtimes / Default Runtime lines
    podman_installed: bool | None = None
    daemon_json_path: str | None = None  # where the daemon.json evidence came from
    daemon_json_read_error: str | None = None  # present but unreadable ("denied")
    nvidia_container_toolkit_version: str | None = None  # `nvidia-container-toolkit --version` (runtime hook)
    container_cli_info: ContainerCliInfo | None = None
    cdi_devices: list[str] | None = None  # `nvidia-ctk cdi list`: "nvidia.com/gpu=all", ...
    error_details: list[ContainerError] = Field(default_factory=list)  # errors_seen, classified
