"""The JSON report's schema is complete: headline, proof (verdict, GPUs, baseline) and fleet (rows,
drift, multi-node job) are typed, reports carry `$schema` and `version`, and real reports validate."""

import json

import jsonschema
import pytest
from click.testing import CliRunner

from envdoctor.cli import main
from envdoctor.models import REPORT_SCHEMA_ID, NotStarted, Report
from envdoctor.proof.stage import multinode_summary
from envdoctor.report.schema import report_schema
from envdoctor.targets import Target
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
    proofs = [{"status": "fail", "summary": "did not reach the job"}, {"status": "fail", "summary": "x"}]
    job = multinode_summary(targets, proofs, {"a": True, "b": False}, "10.0.0.1:29500")
    doc = json.loads(Report(envdoctor="t", fleet={"multi_node": job}).model_dump_json())
    assert _errors(doc) == []


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
