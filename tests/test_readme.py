"""The README's schema section is generated from forensics.schema; keep them in sync."""

from pathlib import Path

from forensics.schema import TABLE_NAMES, markdown_table_docs

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_schema_matches_code() -> None:
    text = README.read_text()
    start = text.index("\n", text.index("<!-- schema:start")) + 1
    end = text.index("<!-- schema:end -->")
    assert text[start:end].strip() == markdown_table_docs().strip(), (
        "README schema is stale: paste the output of `python -m forensics.schema`"
    )


def test_readme_documents_every_table() -> None:
    text = README.read_text()
    for table in TABLE_NAMES:
        assert f"#### `{table}`" in text


def test_readme_example_lines_give_the_rows_it_shows(tmp_path: Path) -> None:
    import polars as pl

    from forensics.ingest import ingest

    text = README.read_text()
    block = text.split("```\n", 2)[1]
    log = tmp_path / "example.log"
    log.write_text(block)
    ingest([str(log)], tmp_path / "ds")

    def table(name: str) -> pl.DataFrame:
        return pl.read_parquet(tmp_path / "ds" / name / "*.parquet").sort("line_no")

    events = table("events")
    assert events.select("kind", "dyno", "mem_mb", "mem_pct", "code").rows() == [
        ("memory", "web.1", 524.0, 102.5, None),
        ("error", "web.1", None, None, "R14"),
    ]
    req = table("requests").row(0, named=True)
    assert (req["dyno"], req["method"], req["path"], req["route"], req["query"]) == (
        "web.1", "POST", "/users/42/orders", "/users/:id/orders", "page=2",
    )  # fmt: skip
    assert (req["code"], req["service_ms"], req["status"]) == ("H12", 30000, 503)
    metrics = table("dyno_metrics").row(0, named=True)
    assert metrics["dyno"] == "web.2"
    assert metrics["memory_total_mb"] == 324.41
    assert metrics["memory_quota_mb"] == 512.0
    rejects = table("rejects")
    assert rejects.select("line_no", "reason").rows() == [(5, "no_prefix")]


def test_readme_says_where_the_command_is_and_how_much_heroku_logs_gives() -> None:
    text = README.read_text()
    assert ".venv/bin/forensics" in text and "source .venv/bin/activate" in text
    assert "at most 1,500 lines" in text and "heroku logs --tail > " in text


def test_sample_readme_r15_times_match_the_truth() -> None:
    import json

    samples = README.parent / "data" / "samples"
    truth = json.loads((samples / "heroku-sample.truth.json").read_text())
    times = ", ".join(r["time"][11:16] for r in truth["r15"])
    assert f"| next day {times} |" in (samples / "README.md").read_text()


def test_generate_help_shows_the_forensics_command() -> None:
    from click.testing import CliRunner

    from forensics.cli.main import main

    result = CliRunner().invoke(main, ["generate", "--help"])
    assert result.exit_code == 0
    assert "forensics generate -o" in result.stdout
    assert "python -m forensics.scenario" not in result.stdout
