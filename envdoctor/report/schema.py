"""The complete JSON Schema of the `--json` report (`envdoctor schema` prints it), generated from the
models the report is built of (envdoctor/models.py): one definition for the code and for the schema.

Compatibility (docs/report-json.md): within one `version`, fields are only added, never removed, renamed
or retyped; a consumer ignores fields it does not know, so no model forbids additional properties. The
proof script's raw `result` document is an open object (it has its own `proof_version`).
"""

from __future__ import annotations

from envdoctor.models import REPORT_SCHEMA_ID, Report

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def report_schema() -> dict:
    return {"$schema": JSON_SCHEMA_DIALECT, "$id": REPORT_SCHEMA_ID, **Report.model_json_schema(by_alias=True)}
