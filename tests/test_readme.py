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
