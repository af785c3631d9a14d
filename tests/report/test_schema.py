"""The JSON report's schema is complete: headline, proof (verdict, GPUs, baseline) and fleet (rows,
drift, multi-node job) are typed, reports carry `$schema` and `version`, and real reports validate. The
schema is generated from the models the code builds the report of: one source."""

import json

import jsonschema
import pytest
from click.testing import CliRunner

from envdoctor.cli import main
from envdoctor.cli.common import redacted
from envdoctor.hosts.fleet import fleet_summary
from envdoctor.hosts.targets import Target
from envdoctor.models import (REPORT_SCHEMA_ID, Fleet, GpuVerdict, Headline, HostReport, HostStatus, MultiNode,
                              NotStarted, Proof, Report, Status, Verdict)
from envdoctor.proof.stage import multinode_summary
from envdoctor.report.schema import report_schema
from tests.report.corpus_fleet import corpus_report

SCHEMA = report_schema()
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def test_schema_is_valid_and_types_what_was_untyped():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    defs = SCHEMA["$defs"]
    host = defs["HostReport"]["properties"]
    assert host["headline"]["$ref"] == "#/$defs/Headline"
    assert {"$ref": "#/$defs/Proof"} in host["proof"]["anyOf"]
    assert {"$ref": "#/$defs/Fleet"} in SCHEMA["properties"]["fleet"]["anyOf"]
    assert {"gpu", "driver", "torch", "cuda_driver"} <= set(defs["Headline"]["properties"])
    assert {"verdict", "status", "summary"} <= set(defs["Proof"]["properties"])
    assert {"gpus", "host_checks"} <= set(defs["Verdict"]["properties"])
    assert {"img_s", "baseline", "ratio"} <= set(defs["GpuVerdict"]["properties"])
    assert {"rows", "drift", "baseline", "multi_node"} <= set(defs["Fleet"]["properties"])
    assert SCHEMA["$id"] == REPORT_SCHEMA_ID and "$schema" in SCHEMA["properties"]


def _errors(doc):
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in VALIDATOR.iter_errors(doc)]


def test_a_fleet_with_proofs_validates(tmp_path):
    doc = json.loads(corpus_report(tmp_path).model_dump_json())
    assert doc["$schema"] == REPORT_SCHEMA_ID and doc["version"] == 1
    assert _errors(doc) == []
    # and the schema has teeth: a mistyped proof figure is refused
    doc["hosts"][0]["proof"]["verdict"]["gpus"][0]["img_s"] = "fast"
    assert any("img_s" in e for e in _errors(doc))


def test_a_multi_node_job_validates(tmp_path):
    targets = [Target("a", "10.0.0.1"), Target("b", "10.0.0.2")]
    proofs = [Proof(status=Status.FAIL, summary="did not reach the job"), Proof(status=Status.FAIL, summary="x")]
    job = multinode_summary(targets, proofs, {"a": True, "b": False}, "10.0.0.1:29500")
    doc = json.loads(Report(envdoctor="t", fleet=Fleet(multi_node=job)).model_dump_json())
    assert _errors(doc) == []
    assert set(doc["fleet"]) == {"multi_node"} and doc["fleet"]["multi_node"]["status"] == "fail"


def test_the_report_is_built_of_the_models_the_schema_is_generated_from(tmp_path):
    report = corpus_report(tmp_path)
    gpu01 = report.hosts[0]
    assert isinstance(gpu01.headline, Headline) and isinstance(gpu01.proof, Proof)
    assert isinstance(gpu01.proof.verdict, Verdict) and isinstance(gpu01.proof.verdict.gpus[0], GpuVerdict)
    assert isinstance(report.fleet, Fleet)
    defs = SCHEMA["$defs"]
    for model in (Headline, Proof, Verdict, GpuVerdict, MultiNode, Fleet):
        own = model.model_json_schema()
        own.pop("$defs", None)
        assert defs[model.__name__] == own, model.__name__


def test_a_fleet_with_a_refused_login_is_redacted_and_keeps_its_counts():
    hosts = [HostReport(host="a", status=HostStatus.PASS), HostReport(host="b", status=HostStatus.AUTH_FAILED)]
    doc = json.loads(redacted(Report(envdoctor="t", hosts=hosts, fleet=fleet_summary(hosts))).model_dump_json())
    assert doc["fleet"]["counts"] == {"pass": 1, "auth-failed": 1} and _errors(doc) == []


def test_a_document_names_what_its_producer_set():
    # A skipped run has a reason and no error; a host never reached has an empty headline: as before typing.
    skipped = Proof(host="h", device=None, status=Status.SKIP, summary="proof-run skipped: x", reason="x",
                    verdict=None, result=None, secs=0.0)
    assert json.loads(skipped.model_dump_json()) == {"host": "h", "device": None, "status": "skip",
                                                     "summary": "proof-run skipped: x", "reason": "x",
                                                     "verdict": None, "result": None, "secs": 0.0}
    assert Headline().model_dump() == {}
    assert Proof.model_validate(skipped.model_dump(mode="json")) == skipped  # the redaction round trip


def test_an_interrupted_run_names_its_hosts_never_started():
    doc = json.loads(Report(envdoctor="t", interrupted=True,
                            not_started=NotStarted(count=2, hosts=["gpu3", "gpu4"])).model_dump_json())
    assert _errors(doc) == []
    assert doc["not_started"] == {"count": 2, "hosts": ["gpu3", "gpu4"]} and doc["interrupted"] is True
    doc["not_started"]["hosts"] = "gpu[3-4]"
    assert any("hosts" in e for e in _errors(doc))


@pytest.mark.parametrize("args", [["check", "--no-proof", "--json"], ["schema"]])
def test_cli_output_matches(args):
    r = CliRunner().invoke(main, args)
    doc = json.loads(r.stdout)
    if args[0] == "schema":
        assert doc == SCHEMA
    else:
        assert _errors(doc) == []
