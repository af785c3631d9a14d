"""Typed facts about one host, built by the pure parsers from an evidence bundle.

Convention everywhere: `None` means *not known* (the evidence was not collected or could not be
parsed), which checks report as `unknown`; an empty list or False means *known to be absent*.
Each domain owns its module; `HostFacts` gathers them.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from envdoctor.facts.container import ContainerFacts
from envdoctor.facts.diagnosis import DiagnosisFacts
from envdoctor.facts.gpu import GpuFacts
from envdoctor.facts.security import SecurityFacts
from envdoctor.facts.system import SystemFacts
from envdoctor.facts.torch import CudaEnvFacts, TorchFacts


class HostFacts(BaseModel):
    host: str = "localhost"
    gpu: GpuFacts = Field(default_factory=GpuFacts)
    torch: TorchFacts = Field(default_factory=TorchFacts)
    cuda_env: CudaEnvFacts = Field(default_factory=CudaEnvFacts)
    system: SystemFacts = Field(default_factory=SystemFacts)
    container: ContainerFacts = Field(default_factory=ContainerFacts)
    diagnosis: DiagnosisFacts = Field(default_factory=DiagnosisFacts)
    security: SecurityFacts = Field(default_factory=SecurityFacts)
    # Which evidence the facts came from ("probe" sections or a "paste"): lets a report say where.
    sources: list[str] = Field(default_factory=list)


__all__ = ["HostFacts", "GpuFacts", "TorchFacts", "CudaEnvFacts", "SystemFacts", "ContainerFacts", "DiagnosisFacts",
           "SecurityFacts"]
