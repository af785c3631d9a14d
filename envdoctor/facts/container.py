"""Facts about docker and the NVIDIA Container Toolkit (owned by the system/container domain)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


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
