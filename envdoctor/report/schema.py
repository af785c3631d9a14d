"""The complete JSON Schema of the `--json` report (`envdoctor schema` prints it).

In the Report model, `headline`, `proof` and `fleet` are plain dicts (the fleet, proof and diagnosis
code build them); their shape is declared here, as models used only for the schema, and put in place
of the untyped objects. Compatibility (docs/report-json.md): within one `version`, fields are only
added, never removed, renamed or retyped; a consumer ignores fields it does not know. The proof
script's raw `result` document is an open object (it has its own `proof_version`).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from envdoctor.models import REPORT_SCHEMA_ID, CheckResult, Report

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")  # newer envdoctor versions may add fields


class Headline(_Open):
    """The few facts the fleet table shows per host; null when not known."""

    gpu: str | None = Field(None, description="GPU model name(s), comma-separated")
    gpu_count: int | None = None
    driver: str | None = Field(None, description="NVIDIA driver version")
    cuda_driver: str | None = Field(None, description="CUDA version the driver supports")
    torch: str | None = None
    torch_cuda: str | None = Field(None, description="CUDA version torch was built with")
    nccl: str | None = None
    container_toolkit: str | None = None


class Baseline(_Open):
    gpu: str
    precision: str
    img_s: float = Field(description="published ResNet-50 training images/s on one GPU")
    url: str | None = None
    date: str | None = None


class GpuVerdict(_Open):
    rank: int | None = None
    device_index: int | None = None
    nvml_index: int | None = None
    name: str | None = None
    precision: str | None = None
    batch_size: int | None = None
    img_s: float | None = Field(None, description="measured training images/s on this GPU")
    baseline: Baseline | None = None
    ratio: float | None = Field(None, description="img_s / baseline.img_s")
    utilisation_median: float | None = None
    status: str | None = None
    checks: list[CheckResult] = Field(default_factory=list)


class Verdict(_Open):
    status: str
    summary: str
    host_checks: list[CheckResult] = Field(default_factory=list)
    gpus: list[GpuVerdict] = Field(default_factory=list)
    img_s_total: float | None = None
    time_to_verdict_s: float | None = None


class Proof(_Open):
    """One host's proof-run: what `proof` and the end of `check` report."""

    host: str | None = None
    device: str | None = Field(None, description="cuda or cpu")
    time_budget_s: float | None = None
    status: str = Field(description="pass, warn, fail, unknown, skip or error")
    summary: str
    reason: str | None = Field(None, description="why the run was skipped")
    error: str | None = None
    host_status: str | None = Field(None, description="the transport's status when the host could not run it")
    stderr_tail: str | None = None
    verdict: Verdict | None = None
    result: dict[str, Any] | None = Field(None, description="the proof script's own result document")
    secs: float | None = None


class FleetRow(_Open):
    host: str
    status: str


class FleetBaseline(_Open):
    kind: str = Field(description="majority or golden")
    host: str | None = None
    values: dict[str, str | None] = Field(default_factory=dict)


class Drift(_Open):
    fact: str
    expected: str | None
    hosts: dict[str, str | None] = Field(description="host -> its differing value (null: unknown)")


class NotJoined(_Open):
    host: str
    reason: str | None = None


class MultiNode(_Open):
    status: str
    summary: str
    nodes: int | None = None
    world_size: int | None = None
    master: str | None = None
    joined: list[str] = Field(default_factory=list)
    not_joined: list[NotJoined] = Field(default_factory=list)
    allreduce: dict[str, Any] | None = None
    img_s_total: float | None = None


class Fleet(_Open):
    """The fleet summary (several hosts) and/or the multi-node proof job."""

    columns: list[str] | None = None
    rows: list[FleetRow] | None = None
    baseline: FleetBaseline | None = None
    drift: list[Drift] | None = None
    counts: dict[str, int] | None = None
    compared: int | None = Field(None, description="how many hosts were evaluated and so compared for drift")
    multi_node: MultiNode | None = None


def _inline(schema: dict, defs: dict) -> dict:
    """A model's schema with its $defs moved into the shared `defs`."""
    for k, v in schema.pop("$defs", {}).items():
        defs.setdefault(k, v)
    return schema


def report_schema() -> dict:
    doc = Report.model_json_schema(by_alias=True)
    defs = doc.setdefault("$defs", {})
    typed = {name: _inline(model.model_json_schema(), defs)
             for name, model in (("Headline", Headline), ("Proof", Proof), ("Fleet", Fleet))}
    defs.update(typed)
    host = defs["HostReport"]["properties"]
    host["headline"] = {"$ref": "#/$defs/Headline", "description": "GPU model/count, driver, CUDA, torch..."}
    host["proof"] = {"anyOf": [{"$ref": "#/$defs/Proof"}, {"type": "null"}], "default": None}
    doc["properties"]["fleet"] = {"anyOf": [{"$ref": "#/$defs/Fleet"}, {"type": "null"}], "default": None}
    return {"$schema": JSON_SCHEMA_DIALECT, "$id": REPORT_SCHEMA_ID, **doc}
