"""Facts about the OS, shared memory, memory-lock limits and containers (owned by the system domain)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ResolvedLib(BaseModel):
    """A CUDA library as `ldd`/`ldconfig -p` resolved it."""

    name: str  # "libnvJitLink.so.12"
    path: str | None  # None: "not found"
    cuda_root: str | None = None  # the toolkit it comes from: "/usr/local/cuda-12.1"
    cuda_version: str | None = None  # that toolkit's version when its path names it: "12.1"
    origin: str | None = None  # "system toolkit", "pip wheel", "conda", "driver", "other"
    line: str = ""  # verbatim
    subject: bool = False  # the library `ldd` was run on (its own path), not one it resolved


class SystemFacts(BaseModel):
    os_name: str | None = None
    kernel: str | None = None
    cpu_count: int | None = None
    mem_total_bytes: int | None = None
    shm_size_bytes: int | None = None
    shm_used_bytes: int | None = None
    memlock_soft_bytes: int | None = None  # -1 = unlimited
    memlock_hard_bytes: int | None = None  # -1 = unlimited
    in_container: bool | None = None
    container_kind: str | None = None  # "docker", "podman", "kubernetes", "lxc"
    wsl: bool | None = None
    # Added by the system domain. Evidence lists hold verbatim lines so checks can quote them.
    shm_filesystem: str | None = None  # "tmpfs" (host), "shm" (the name docker/podman give their own mount)
    shm_source: str | None = None  # "df -k /dev/shm", "/proc/mounts", "pasted df"
    shm_evidence: list[str] = Field(default_factory=list)
    container_shm_mounts: list[str] | None = None  # host df lines of containers' own 64M .../mounts/shm
    memlock_source: str | None = None  # "/proc/self/limits", "ulimit -a", "ulimit -Ha", "ulimit -l"
    memlock_evidence: list[str] = Field(default_factory=list)
    container_evidence: list[str] = Field(default_factory=list)  # "/.dockerenv exists", cgroup lines...
    wsl_evidence: list[str] = Field(default_factory=list)
    # Added for pastes as they come (all optional):
    os_family: str | None = None  # "linux" or "windows": where the commands ran (WSL counts as linux)
    os_family_evidence: list[str] = Field(default_factory=list)  # the line(s) that tell
    memlock_scope: str | None = None  # "container" when the memlock_* values are a container's own; None: not told
    memlock_host_soft_bytes: int | None = None  # the host's, when the paste holds both (the container's applies)
    memlock_host_hard_bytes: int | None = None
    memlock_host_evidence: list[str] = Field(default_factory=list)
    cuda_libs_resolved: list[ResolvedLib] | None = None  # from pasted ldd / ldconfig -p; None: none pasted
