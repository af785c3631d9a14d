"""Build TorchFacts and CudaEnvFacts from a bundle. (Skeleton: the torch/CUDA domain fills this in.)"""

from __future__ import annotations

from envdoctor.bundle import Bundle
from envdoctor.facts.torch import CudaEnvFacts, TorchFacts


def build_torch_facts(bundle: Bundle) -> TorchFacts:
    return TorchFacts()


def build_cuda_env_facts(bundle: Bundle) -> CudaEnvFacts:
    return CudaEnvFacts()
