"""`forensics incidents` and the ids `findings --json` carries: exit codes, the JSON contract,
the postmortem with its excerpts, redaction, and ids that agree across commands."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from forensics.cli import main

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "samples" / "heroku-sample.log.gz"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("inc") / "ds"
    done = CliRunner().invoke(main, ["ingest", str(SAMPLE), "-o", str(out), "--app", "acme-shop"])
    assert done.exit_code == 0, done.output
    return out


def _run(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(main, list(args))
    return r.exit_code, r.stdout, r.stderr


def test_json_incidents_and_finding_ids_agree(dataset: Path) -> None:
    code, out, _ = _run("incidents", str(dataset), "--json")
    assert code == 0
    incidents = json.loads(out)
    schema = json.loads((SAMPLE.parents[2] / "schema" / "incidents.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(incidents)
    broken = {k: v for k, v in incidents[0].items() if k != "impact"}
    assert not jsonschema.Draft202012Validator(schema).is_valid([broken])
    assert 3 <= len(incidents) <= 8  # the sample plants about four incidents
    for key in ("id", "title", "severity", "kind", "impact", "trigger", "resolved_by", "timeline"):
        assert all(key in i for i in incidents), key
    assert incidents[0]["kind"] in ("downtime", "memory_leak")
    code, out, _ = _run("findings", str(dataset), "--json")
    findings = json.loads(out)
    members = {fid: i["id"] for i in incidents for fid in i["findings"]}
    # every finding, info included, in exactly one incident, the same ids from both commands
    assert sorted(f["id"] for f in findings) == sorted(members)
    assert all(members[f["id"]] == f["incident"] for f in findings)
    leak = next(i for i in incidents if i["kind"] == "memory_leak")
    assert leak["trigger"]["release"] == "v3" and leak["impact"]["r15"] == 2
    # advice grounded in the evidence: the leak's route and a size, no worker advice there;
    # the worker's missing config var as the command that sets it
    assert (
        "/users/:id/orders/:id" in leak["advice"][0] and "heroku ps:scale web=" in leak["advice"][0]
    )
    assert not any("worker" in a for a in leak["advice"])
    worker = next(i for i in incidents if "worker" in i["process_types"])
    assert any("heroku config:set IMPORT_FEED_TOKEN=" in a for a in worker["advice"])


def test_text_and_markdown(dataset: Path, tmp_path: Path) -> None:
    code, out, _ = _run("incidents", str(dataset))
    assert code == 0 and "impact:" in out and "heroku-sample.log.gz:" in out
    target = tmp_path / "postmortem.md"
    code, _, err = _run("incidents", str(dataset), "--markdown", "-o", str(target))
    assert code == 0 and f"wrote {target}" in err
    md = target.read_text()
    for heading in ("Summary", "Impact", "Timeline", "Root cause", "What changed", "Advice"):
        assert f"### {heading}" in md, heading
    # the excerpt of a source line: the line itself, marked, with its neighbours
    assert "State changed from up to crashed" in md and "\n    >" in md


def test_redact_masks_the_postmortem(dataset: Path) -> None:
    _, plain, _ = _run("incidents", str(dataset), "--markdown")
    _, masked, _ = _run("incidents", str(dataset), "--markdown", "--redact")
    assert "dev@example.com" in plain and "dev@example.com" not in masked


def test_bad_cut_and_flags(dataset: Path) -> None:
    code, _, err = _run("incidents", str(dataset), "--dyno", "wbe.1")
    assert code == 2 and err.startswith("forensics: error: --dyno wbe.1 matches no dyno")
    code, _, err = _run("incidents", str(dataset), "--json", "--markdown")
    assert code == 2 and "--json and --markdown exclude each other" in err


REAL = SAMPLE.parents[2] / "tests" / "data" / "real"


def _real_incidents(tmp_path: Path, stem: str) -> tuple[list[dict], list[dict]]:
    out = tmp_path / stem
    done = CliRunner().invoke(main, ["ingest", str(REAL / f"{stem}.log"), "-o", str(out), "-q"])
    assert done.exit_code == 0, done.output
    incidents = json.loads(_run("incidents", str(out), "--json")[1])
    findings = json.loads(_run("findings", str(out), "--json")[1])
    return incidents, findings


def test_real_failing_boot_is_one_incident(tmp_path: Path) -> None:
    """src-041: web.1 goes over its memory quota while booting, misses the 60 s bind (R10),
    crashes and is still down at the end: one story, not a quota warning beside it."""
    incidents, findings = _real_incidents(tmp_path, "src-041")
    (inc,) = incidents
    assert inc["kind"] == "boot_timeout" and inc["ongoing"]
    assert {f["kind"] for f in findings} >= {"boot_timeout", "memory_quota", "downtime"}
    assert {f["incident"] for f in findings} == {inc["id"]}


def test_real_web_down_fixed_by_a_release(tmp_path: Path) -> None:
    """src-012: after v57 web.1 crashes on boot across releases (eventlet's ReferenceError)
    until v61 comes up: the incident names the reason and the release that ended it."""
    incidents, _ = _real_incidents(tmp_path, "src-012")
    down = incidents[0]
    assert down["kind"] == "downtime" and down["dynos"] == ["web.1"]
    assert "weakly-referenced object no longer exists" in down["cause"]
    assert (down["resolved_by"]["kind"], down["resolved_by"]["release"]) == ("release", "v61")
    assert down["impact"]["failed_requests"] >= 1


def test_real_r12_at_every_deploy_is_one_incident(tmp_path: Path) -> None:
    """src-012: web.1 is SIGKILLed 30 s after SIGTERM at four deploys (v63-v66): one pattern,
    one incident listing each time, not four incidents."""
    incidents, findings = _real_incidents(tmp_path, "src-012")
    r12 = [i for i in incidents if i["kind"] == "unclean_shutdown"]
    assert len(r12) == 1 and r12[0]["title"].endswith(", 4 times")
    members = [f for f in findings if f["incident"] == r12[0]["id"]]
    assert sorted(f["release"] for f in members if f["kind"] == "unclean_shutdown") == [
        "v63", "v64", "v65", "v66"
    ]  # fmt: skip


def test_real_crash_loop_to_the_end(tmp_path: Path) -> None:
    """src-019: web.1 crash-loops for 42 h on a Node too old for Meteor; requests get H10."""
    incidents, _ = _real_incidents(tmp_path, "src-019")
    (inc,) = incidents
    assert inc["ongoing"] and "Meteor requires Node v0.8.24 or later." in inc["cause"]
    assert ".." not in inc["cause"] and inc["impact"]["failed_requests"] == 6


def test_real_app_wide_errors_are_titled_by_the_app_not_a_dyno(tmp_path: Path) -> None:
    """src-016: every request for 22 h got H13; the router names web.1, but the failure is the
    app's (route null), and the title says so with its code."""
    incidents, _ = _real_incidents(tmp_path, "src-016")
    (inc,) = [i for i in incidents if i["kind"] == "request_errors"]
    assert inc["title"] == "Requests failing across the app (H13)"


def test_no_incidents_is_said_in_text_and_markdown(tmp_path: Path) -> None:
    """A healthy log: one line saying so, in the terminal and in the postmortem, exit 0."""
    log = tmp_path / "ok.log"
    log.write_text(
        "\n".join(
            f"2024-05-20T10:00:{s:02d}.000000+00:00 heroku[router]: at=info method=GET "
            f'path="/" host=ok.herokuapp.com request_id=r{s} fwd="1.2.3.4" dyno=web.1 '
            "connect=1ms service=5ms status=200 bytes=10 protocol=https"
            for s in range(30)
        )
        + "\n"
    )
    ds = tmp_path / "ds"
    assert _run("ingest", str(log), "-o", str(ds))[0] == 0
    code, out, _ = _run("incidents", str(ds))
    assert (code, out) == (0, "No incidents: nothing in these logs crossed a threshold.\n")
    code, out, _ = _run("incidents", str(ds), "--markdown")
    assert code == 0 and "No incidents: nothing in these logs crossed a threshold." in out
    code, out, _ = _run("incidents", str(ds), "--json")
    assert (code, json.loads(out)) == (0, [])
