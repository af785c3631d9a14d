"""Typed results and the report document. The JSON report (`--json`) is `Report.model_dump_json()`,
and `envdoctor schema` prints `Report.model_json_schema()` (envdoctor/report/schema.py): the models below
are the one definition of both."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, WithJsonSchema, model_serializer

# A figure as measured or published: 2791 stays 2791 and 1.5 stays 1.5 in the JSON (a `float` field would write
# 2791.0), and the schema says "number".
Number = Annotated[int | float, WithJsonSchema({"type": "number"})]


class Sparse(BaseModel):
    """A JSON object with the keys its producer set: a field left at its default is not written, so the
    documents keep the keys they have always had (docs/report-json.md). A proof names only what applies
    (`reason` for a skipped run, `stderr_tail` for one that gave no result, `dataloader` with
    --dataloader), and a host that could not be reached has an empty headline."""

    @model_serializer(mode="wrap")
    def _set_fields_only(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return {k: v for k, v in handler(self).items() if k in self.model_fields_set}


class Status(str, Enum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    UNKNOWN = "unknown"
    SKIP = "skip"
    ERROR = "error"  # the check itself did not complete (a bug of ours, or facts it could not read)


class HostStatus(str, Enum):
    """A host's overall state: the worst check status, or why it could not be evaluated."""

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    UNKNOWN = "unknown"
    UNREACHABLE = "unreachable"
    AUTH_FAILED = "auth-failed"
    HOST_KEY_UNKNOWN = "host-key-unknown"
    HOST_KEY_CHANGED = "host-key-changed"
    TIMEOUT = "timeout"
    ERROR = "error"

    @property
    def evaluated(self) -> bool:
        return self in (HostStatus.PASS, HostStatus.WARN, HostStatus.FAIL, HostStatus.UNKNOWN)


class Fix(BaseModel):
    """What to do about a problem: a text, commands a user can run, and the playbook that applies it."""

    summary: str
    commands: list[str] = Field(default_factory=list)
    playbook: str | None = None  # name of a playbook in playbooks/, e.g. "docker-shm.yml"
    manual: bool = False  # True when no playbook can apply it safely (reboot, reinstall in user's env)


class CheckResult(BaseModel):
    id: str
    title: str
    status: Status
    summary: str
    evidence: list[str] = Field(default_factory=list)
    cause: str | None = None
    cause_id: str | None = None  # the root-cause class (envdoctor/data/signatures/_causes.yaml) when one is named
    fix: Fix | None = None
    details: list[str] = Field(default_factory=list)  # evidence the text report shows only with -v (a long list)

    @model_serializer(mode="wrap")
    def _details_when_any(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # written only when a check gives some: every other check's JSON keeps the keys it always had
        d = handler(self)
        if not self.details:
            d.pop("details", None)
        return d


class Confidence(str, Enum):
    """How sure the root cause is: high (established: observed, or a specific message with nothing close),
    medium (most likely, not confirmed), low (the cause is not determined)."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class CauseCandidate(BaseModel):
    cause_id: str
    title: str
    score: float
    support: str  # observed | message | inferred | hint: how the cause is known
    confirmed: list[str] = Field(default_factory=list)


class RootCause(BaseModel):
    """The first line of a report: what fails, the most likely cause, and how sure that is."""

    state: str  # established | most_likely | undetermined | none | no_evidence
    status: Status
    cause_id: str | None = None  # None unless established or most likely
    title: str
    confidence: Confidence | None = None
    failure: str | None = None  # what was seen failing, when a failure was recognised
    candidates: list[CauseCandidate] = Field(default_factory=list)  # best first
    tell_apart: list[str] = Field(default_factory=list)  # commands that tell the candidates apart
    notes: list[str] = Field(default_factory=list)  # inferences an observation contradicts


class TrainingVerdict(str, Enum):
    READY = "ready"
    CAN_TRAIN_WITH_WARNINGS = "can_train_with_warnings"
    CANNOT_TRAIN = "cannot_train"
    CANNOT_TELL = "cannot_tell"


class BottomLine(BaseModel):
    """The last line of a report, derived from the root cause and the checks (envdoctor/diagnosis/conclusion.py)."""

    verdict: TrainingVerdict
    text: str
    cuda: str  # works | fails | unknown: what was observed of CUDA itself
    cuda_evidence: str | None = None


class Headline(Sparse):
    """The few facts the fleet table shows per host (envdoctor/diagnosis/diagnose.py); null when not known, no key at
    all for a host that could not be evaluated."""

    gpu: str | None = Field(None, description="GPU model name(s), comma-separated")
    gpu_count: int | None = None
    driver: str | None = Field(None, description="NVIDIA driver version")
    cuda_driver: str | None = Field(None, description="CUDA version the driver supports")
    torch: str | None = None
    torch_cuda: str | None = Field(None, description="CUDA version torch was built with")
    nccl: str | None = None
    container_toolkit: str | None = None


# ---------------------------------------------------------------- the proof-run (envdoctor/proof/verdict.py)

class Baseline(Sparse):
    """The published figure a GPU's speed is judged against (envdoctor/data/resnet_baselines.yaml)."""

    gpu: str
    precision: str
    img_s: Number = Field(description="published ResNet-50 training images/s on one GPU")
    url: str | None = None
    date: str | None = None
    mig_profile: str | None = Field(None, description="a MIG slice: the figure is scaled by its share of the SMs")
    scaled_img_s: Number | None = None
    scaled_by: str | None = None


class OtherProcess(Sparse):
    """A compute process NVML saw on a GPU before the proof's own started."""

    pid: int | None = None
    name: str | None = None
    used_mib: int | None = None


class Advice(BaseModel):
    """A DataLoader setting to change, with the figures that show it (envdoctor/proof/input_pipeline.py)."""

    setting: str
    now: bool | int | str | None = None
    suggest: bool | int | str | None = None
    because: str


class InputPipeline(BaseModel):
    """What the --dataloader phase measured: per-batch figures (medians, ms) and the loader's settings."""

    figures: dict[str, bool | Number | str | None]
    advice: list[Advice] = Field(default_factory=list)
    gpu_waits_for_data: bool


class GpuVerdict(Sparse):
    """One training process (one GPU, or one CPU process) of a proof-run, and its judgements."""

    rank: int | None = None
    device_index: int | None = Field(None, description="CUDA's ordinal (CUDA_VISIBLE_DEVICES renumbers it)")
    name: str | None = None
    precision: str | None = None
    batch_size: int | None = None
    img_s: Number | None = Field(None, description="measured training images/s on this GPU")
    device: str | None = Field(None, description="cuda or cpu")
    baseline: Baseline | None = None
    ratio: Number | None = Field(None, description="img_s / baseline.img_s")
    checks: list[CheckResult] = Field(default_factory=list)
    nvml_index: int | None = Field(None, description="nvidia-smi's number for this GPU")
    uuid: str | None = None
    other_processes: list[OtherProcess] = Field(default_factory=list)
    dataloader: InputPipeline | None = None
    utilisation_median: Number | None = None
    status: Status | None = None

    @property
    def label(self) -> str:
        """The GPU as nvidia-smi numbers it (NVML's index), with the CUDA ordinal where they differ
        (CUDA_VISIBLE_DEVICES renumbers CUDA's devices, not NVML's): "GPU 3 (CUDA device 1)"."""
        if self.nvml_index is None:
            return f"CUDA device {self.device_index}"
        differs = self.device_index is not None and self.device_index != self.nvml_index
        return f"GPU {self.nvml_index}" + (f" (CUDA device {self.device_index})" if differs else "")

    @property
    def smi_id(self) -> str | None:
        """What `nvidia-smi -i` takes for this GPU: NVML's index, else its UUID; never a CUDA ordinal."""
        if self.nvml_index is not None:
            return str(self.nvml_index)
        return self.uuid or None


class Verdict(BaseModel):
    """The judgement of one host's proof-run: the host's own checks, then each GPU's."""

    status: Status
    summary: str
    host_checks: list[CheckResult] = Field(default_factory=list)
    gpus: list[GpuVerdict] = Field(default_factory=list)
    img_s_total: Number | None = None
    time_to_verdict_s: Number | None = None


class Proof(Sparse):
    """One host's proof-run: what `proof` and the end of `check` report (envdoctor/proof/stage.py)."""

    host: str | None = None
    device: str | None = Field(None, description="cuda or cpu; null when nothing ran")
    time_budget_s: Number | None = None
    requested_device: str | None = Field(None, description="the device asked for, when the run was skipped")
    status: Status
    summary: str
    reason: str | None = Field(None, description="why the run was skipped")
    error: str | None = None
    host_status: HostStatus | None = Field(None, description="the transport's status when the host could not run it")
    stderr_tail: str | None = None
    verdict: Verdict | None = None
    # The target's own document, versioned by its `proof_version` and not covered by the report's promises.
    result: dict[str, Any] | None = Field(None, description="the proof script's own result document")
    secs: Number | None = None
    controller_cut: str | None = Field(None, description="the result came but the script had to be cut")
    constructed: bool | None = Field(None, description="a constructed example (documentation), not a real run")


class AllReduce(Sparse):
    """An all-reduce of a large float32 tensor, timed; bus bandwidth as nccl-tests defines it."""

    bytes: int | None = None
    secs: Number | None = None
    algbw_gbs: Number | None = None
    busbw_gbs: Number = Field(description="algbw * 2 (n - 1) / n, GB/s")
    world: int | None = None


class NotJoined(BaseModel):
    host: str
    reason: str | None = None


class MultiNode(BaseModel):
    """One torch.distributed job across hosts (`proof --multi-node`): who joined, the all-reduce bandwidth."""

    status: Status
    summary: str
    nodes: int | None = None
    world_size: int | None = None
    master: str | None = None
    joined: list[str] = Field(default_factory=list)
    not_joined: list[NotJoined] = Field(default_factory=list)
    allreduce: AllReduce | None = None
    img_s_total: Number | None = None


class AcceptFigure(Sparse):
    """One figure of a node acceptance run (`envdoctor accept`): per GPU, or per node for the all_reduce, judged
    against its SKU's bar (envdoctor/data/gpu_skus.yaml); unknown with the reason where no bar applies."""

    metric: str = Field(description="the gpu_skus.yaml key: matmul_bf16_tflops, memory_bandwidth_gbs, ...")
    title: str
    gpu_index: int | None = None  # None: a per-node figure (all_reduce)
    gpu_name: str | None = None
    value: Number | None = None  # None: not measured (the reason is in summary)
    unit: str
    status: Status
    summary: str
    fail_below: Number | None = None
    warn_below: Number | None = None
    peak: Number | None = None  # the datasheet peak, where the table has one
    fleet_median: Number | None = Field(None, description="median of this figure across the fleet's GPUs of the "
                                                          "same SKU (3 or more), for SSH/Slurm fleets")
    evidence: list[str] = Field(default_factory=list)  # the bar, its source, the link, the warm-up


class Acceptance(Sparse):
    """A node acceptance run: what was measured, within which budget, and each figure judged."""

    device: str | None = None
    quick: bool = False
    time_budget_s: Number | None = None
    elapsed_s: Number | None = None
    ended_by: str | None = None  # results | deadline | failure | error (the script's own words)
    error: str | None = None
    timing: str | None = None  # how the figures were timed and what warm-up was excluded
    figures: list[AcceptFigure] = Field(default_factory=list)
    allreduce: list[AllReduce] = Field(default_factory=list)  # the message-size sweep, nccl-tests' arithmetic
    secs: Number | None = None


class GreyFailure(BaseModel):
    """A GPU (or node) more than 10 % below the fleet's median of the same figure for its SKU."""

    host: str
    gpu_index: int | None = None
    gpu_name: str | None = None
    group: str  # the SKU (or, for a GPU the table does not know, its name) compared within
    metric: str
    value: Number
    median: Number
    below: Number  # the fraction below the median, 0.18 = 18 %
    peers: int  # figures the median was taken over
    status: Status = Status.WARN
    summary: str


class HostReport(BaseModel):
    """One host's report, in the order it is read (docs/report-json.md): the host and its root cause, its
    status, the verdict and the counts, then the checks and the rest."""

    host: str
    root_cause: RootCause | None = None  # first, as in the text report
    local: bool = False  # this machine, without SSH (`host` is then its hostname)
    status: HostStatus
    bottom_line: BottomLine | None = None  # the verdict; never contradicts root_cause or the checks
    counts: dict[str, int] | None = Field(None, description="checks per status (pass, warn, fail, unknown, skip, "
                                                             "error), counted from `checks` when written")
    error: str | None = None  # why the host could not be evaluated (unreachable, timeout, ...)
    headline: Headline = Field(default_factory=Headline, description="GPU model/count, driver, CUDA, torch...")
    checks: list[CheckResult] = Field(default_factory=list)
    proof: Proof | None = None  # filled by the proof-run stage
    accept: Acceptance | None = None  # filled by `envdoctor accept`
    gather_secs: float | None = None
    redacted: list[str] = Field(default_factory=list)  # evidence in which secrets were replaced by <redacted>
    recognised: list[str] | None = None  # for a paste: the blocks and messages envdoctor read in it
    notes: list[str] = Field(default_factory=list)  # e.g. that only part of a huge paste was scanned

    def status_counts(self) -> dict[str, int]:
        counts = {s.value: 0 for s in Status}
        for c in self.checks:
            counts[c.status.value] += 1
        return counts

    @model_serializer(mode="wrap")
    def _with_counts(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # counted as written, so the counts can never disagree with the checks beside them
        doc = handler(self)
        doc["counts"] = self.status_counts()
        if doc.get("accept") is None:  # only `envdoctor accept` writes it: other reports keep their keys
            doc.pop("accept", None)
        return doc


class NotStarted(BaseModel):
    """The hosts a run was interrupted (Ctrl-C, SIGTERM) before it started: not checked, and not failed.

    The names are a plain array in target order, not a folded range (gpu[0033-100000]): a CI job reads it
    with jq or json.load and needs no host-range parser, and a name may itself hold brackets or commas.
    100,000 names are a few MB of JSON; the text report gives them one line."""

    count: int
    hosts: list[str] = Field(default_factory=list)


# ---------------------------------------------------------------- several hosts (envdoctor/hosts/fleet.py)

class _RowKey(Sparse):
    host: str
    status: HostStatus


class FleetRow(Headline, _RowKey):
    """A host and its headline facts: one row of the fleet table."""


class FleetBaseline(Sparse):
    """What drift is measured against: the golden host's facts, or each fact's majority value."""

    kind: str = Field(description="majority or golden")
    host: str | None = None
    values: dict[str, str | None] = Field(default_factory=dict)


class Drift(BaseModel):
    fact: str
    expected: str | None
    hosts: dict[str, str | None] = Field(description="host -> its differing value (null: unknown)")


class Fleet(Sparse):
    """The fleet summary (several hosts) and/or the multi-node proof job."""

    columns: list[str] | None = None
    rows: list[FleetRow] | None = None
    baseline: FleetBaseline | None = None
    drift: list[Drift] | None = None
    counts: dict[str, int] | None = None
    compared: int | None = Field(None, description="how many hosts were evaluated and so compared for drift")
    multi_node: MultiNode | None = None
    grey_failures: list[GreyFailure] | None = None  # `envdoctor accept` across a fleet


REPORT_SCHEMA_ID = "urn:envdoctor:report:1"  # the `$schema` of a report; `envdoctor schema` prints that schema


class Report(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    schema_id: str = Field(default=REPORT_SCHEMA_ID, alias="$schema")
    version: int = 1  # raised only on an incompatible change (docs/report-json.md)
    envdoctor: str
    hosts: list[HostReport] = Field(default_factory=list)
    fleet: Fleet | None = None  # fleet summary and drift, for several hosts; the multi-node proof job
    interrupted: bool = False  # the run was stopped (Ctrl-C, SIGTERM): `hosts` holds what was started
    not_started: NotStarted | None = None  # after an interrupt: the hosts never started, in no `hosts` entry

    # The document's keys are the aliases (`$schema`), always.
    def model_dump(self, **kw):
        return super().model_dump(**{"by_alias": True, **kw})

    def model_dump_json(self, **kw):
        return super().model_dump_json(**{"by_alias": True, **kw})


_ORDER = [Status.PASS, Status.SKIP, Status.UNKNOWN, Status.WARN, Status.ERROR, Status.FAIL]


def host_status(checks: list[CheckResult]) -> HostStatus:
    """Worst of the checks: any fail -> fail; else warn; else unknown/error -> unknown; else pass."""
    if not checks:
        return HostStatus.UNKNOWN
    statuses = {c.status for c in checks}
    if Status.FAIL in statuses:
        return HostStatus.FAIL
    if Status.WARN in statuses:
        return HostStatus.WARN
    if statuses & {Status.UNKNOWN, Status.ERROR}:
        return HostStatus.UNKNOWN
    return HostStatus.PASS
