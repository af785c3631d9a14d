"""Facts about the OS, shared memory, memory-lock limits and containers (owned by the system domain)."""

from __future__ import annotations

from pydantic import BaseModel


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
    shm_errors_seen: list[str] | None = None  # "bus error ... insufficient shared memory (shm)"
