"""`forensics findings --json` validates against schema/findings.schema.json, on the bundled
sample and on a real export; the schema's kinds follow the code's."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from forensics.cli.main import main
from forensics.findings import FINDINGS_SCHEMA_VERSION, KINDS

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((ROOT / "schema" / "findings.schema.json").read_text())
SAMPLE = ROOT / "data" / "samples" / "heroku-sample.log.gz"
REAL = ROOT / "tests" / "data" / "real"
# kinds no longer emitted: the schema must not accept them
RETIRED = {"worker_down"}


def _findings(tmp: Path, log: Path, *args: str) -> list[dict]:
    runner = CliRunner()
    ingest = runner.invoke(main, ["ingest", str(log), "-o", str(tmp / "ds"), "-q", *args])
    assert ingest.exit_code == 0, ingest.output
    result = runner.invoke(main, ["findings", str(tmp / "ds"), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _validate(found: list[dict]) -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    jsonschema.Draft202012Validator(SCHEMA).validate(found)


def test_schema_kinds_are_the_codes_kinds() -> None:
    enum = set(SCHEMA["$defs"]["finding"]["properties"]["kind"]["enum"])
    assert set(KINDS) <= enum and not RETIRED & (enum | set(KINDS))
    assert SCHEMA["$defs"]["finding"]["properties"]["schema_version"]["const"] == (
        FINDINGS_SCHEMA_VERSION
    )


def test_sample_findings_validate(tmp_path: Path) -> None:
    found = _findings(tmp_path, SAMPLE, "--app", "acme-shop")
    assert found and all(f["schema_version"] == FINDINGS_SCHEMA_VERSION for f in found)
    _validate(found)
    # the crashed worker's findings carry the app's own reason, valid against the schema
    crash = [f for f in found if f["kind"] == "crash" and f["dyno"] == "worker.1"]
    assert any("IMPORT_FEED_TOKEN" in f["evidence"]["reason"]["text"] for f in crash)


@pytest.mark.parametrize("name", ["src-012.log", "src-019.log"])
def test_real_export_findings_validate(tmp_path: Path, name: str) -> None:
    found = _findings(tmp_path, REAL / name)
    assert found
    _validate(found)


def test_an_invalid_finding_is_rejected() -> None:
    bad = [{"schema_version": 1, "kind": "no_such_kind", "severity": "warning", "summary": "x",
            "evidence": {}, "sources": []}]  # fmt: skip
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(SCHEMA).validate(bad)
