"""Typed shapes of node acceptance: the per-SKU table (data/gpu_skus.yaml) and the judgements made with it."""

from __future__ import annotations

from enum import Enum

from pydantic import BaseModel, Field, model_validator

from envdoctor.models import CheckResult, Number, Status


class Metric(str, Enum):
    """A figure the acceptance run measures; the value is its key in gpu_skus.yaml's `bars`."""

    MATMUL_BF16 = "matmul_bf16_tflops"
    MATMUL_TF32 = "matmul_tf32_tflops"
    MEMORY_BANDWIDTH = "memory_bandwidth_gbs"
    H2D_PINNED = "h2d_pinned_gbs"
    D2H_PINNED = "d2h_pinned_gbs"
    ALLREDUCE_8GPU = "allreduce_busbw_8gpu_gbs"

    @property
    def unit(self) -> str:
        return "TFLOPS" if self.value.endswith("_tflops") else "GB/s"

    @property
    def title(self) -> str:
        return _TITLES[self]

    @property
    def per_node(self) -> bool:
        """Measured across a node's GPUs rather than on one GPU."""
        return self is Metric.ALLREDUCE_8GPU


_TITLES = {
    Metric.MATMUL_BF16: "dense bf16 matmul",
    Metric.MATMUL_TF32: "dense TF32 matmul",
    Metric.MEMORY_BANDWIDTH: "device memory bandwidth",
    Metric.H2D_PINNED: "pinned host-to-device bandwidth",
    Metric.D2H_PINNED: "pinned device-to-host bandwidth",
    Metric.ALLREDUCE_8GPU: "NCCL all_reduce bus bandwidth across 8 GPUs",
}

# The datasheet peak a metric is compared with, where the table has one (the key in an entry's `peaks`).
PEAK_OF = {Metric.MATMUL_BF16: "bf16_tflops", Metric.MATMUL_TF32: "tf32_tflops", Metric.MEMORY_BANDWIDTH: "memory_bandwidth_gbs"}


class SkuSource(BaseModel):
    title: str  # short, for evidence lines
    url: str
    what: str
    read: str  # the date the figures were read from it


class SkuFigure(BaseModel):
    """A datasheet (peak) figure."""

    value: Number
    sources: list[str] = Field(min_length=1)
    note: str | None = None


class SkuBar(BaseModel):
    """A pass/warn bar: below `fail_below` fails, below `warn_below` warns."""

    fail_below: Number | None = None
    warn_below: Number | None = None
    reference: Number | None = None  # the published measurement a derived bar comes from
    sources: list[str] = Field(min_length=1)
    note: str | None = None

    @model_validator(mode="after")
    def _a_bar(self) -> SkuBar:
        if self.fail_below is None and self.warn_below is None:
            raise ValueError("a bar needs fail_below or warn_below")
        if self.fail_below is not None and self.warn_below is not None and self.warn_below < self.fail_below:
            raise ValueError("warn_below is below fail_below")
        return self


class PcieMin(BaseModel):
    gen: int
    width: int
    sources: list[str] = Field(min_length=1)


class GpuSku(BaseModel):
    id: str
    gpu: str  # the product as people name it: "H100 SXM5 80GB"
    match: list[str] = Field(min_length=1)  # regexes searched in the GPU's name, case-insensitively
    peaks: dict[str, SkuFigure] = Field(default_factory=dict)
    bars: dict[Metric, SkuBar] = Field(default_factory=dict)
    pcie_min: PcieMin | None = None


class SkuTable(BaseModel):
    sources: dict[str, SkuSource]
    skus: list[GpuSku]

    @model_validator(mode="after")
    def _sources_exist(self) -> SkuTable:
        for sku in self.skus:
            named = [s for f in sku.peaks.values() for s in f.sources] + [s for b in sku.bars.values() for s in b.sources]
            named += sku.pcie_min.sources if sku.pcie_min else []
            missing = sorted(set(named) - set(self.sources))
            if missing:
                raise ValueError(f"{sku.id}: unknown source {', '.join(missing)}")
        return self


class Judgement(BaseModel):
    """One measured figure judged against its SKU's bar."""

    metric: Metric
    status: Status
    summary: str
    measured: Number | None = None
    unit: str
    gpu_name: str | None = None
    sku: str | None = None  # the entry's id in gpu_skus.yaml
    fail_below: Number | None = None
    warn_below: Number | None = None
    peak: Number | None = None
    evidence: list[str] = Field(default_factory=list)

    def as_check(self) -> CheckResult:
        return CheckResult(id=f"accept_{self.metric.value}", title=f"The {self.metric.title} meets its bar",
                           status=self.status, summary=self.summary, evidence=self.evidence)
