"""Typed results and the report document. The JSON report (`--json`) is `Report.model_dump_json()`,
and `envdoctor schema` prints `Report.model_json_schema()`."""

from __future__ import annotations

from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


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
    """The last line of a report, derived from the root cause and the checks (envdoctor/conclusion.py)."""

    verdict: TrainingVerdict
    text: str
    cuda: str  # works | fails | unknown: what was observed of CUDA itself
    cuda_evidence: str | None = None


class HostReport(BaseModel):
    host: str
    root_cause: RootCause | None = None  # first, as in the text report
    local: bool = False  # this machine, without SSH (`host` is then its hostname)
    status: HostStatus
    error: str | None = None  # why the host could not be evaluated (unreachable, timeout, ...)
    headline: dict[str, Any] = Field(default_factory=dict)  # GPU model/count, driver, CUDA, torch...
    checks: list[CheckResult] = Field(default_factory=list)
    proof: dict[str, Any] | None = None  # filled by the proof-run stage
    gather_secs: float | None = None
    redacted: list[str] = Field(default_factory=list)  # evidence in which secrets were replaced by <redacted>
    recognised: list[str] | None = None  # for a paste: the blocks and messages envdoctor read in it
    notes: list[str] = Field(default_factory=list)  # e.g. that only part of a huge paste was scanned
    bottom_line: BottomLine | None = None  # the verdict; never contradicts root_cause or the checks


class NotStarted(BaseModel):
    """The hosts a run was interrupted (Ctrl-C, SIGTERM) before it started: not checked, and not failed.

    The names are a plain array in target order, not a folded range (gpu[0033-100000]): a CI job reads it
    with jq or json.load and needs no host-range parser, and a name may itself hold brackets or commas.
    100,000 names are a few MB of JSON; the text report gives them one line."""

    count: int
    hosts: list[str] = Field(default_factory=list)


REPORT_SCHEMA_ID = "urn:envdoctor:report:1"  # the `$schema` of a report; `envdoctor schema` prints that schema


class Report(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    schema_id: str = Field(default=REPORT_SCHEMA_ID, alias="$schema")
    version: int = 1  # raised only on an incompatible change (docs/report-json.md)
    envdoctor: str
    hosts: list[HostReport] = Field(default_factory=list)
    fleet: dict[str, Any] | None = None  # fleet summary and drift, for several hosts
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
