"""A cut that selects nothing is a one-line error naming what exists, for every command that
takes the cut options: it must not read as a healthy incident (`No findings`, exit 0)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from forensics.cli.main import main

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "samples" / "heroku-sample.log.gz"
DYNOS = "web.1, web.2, web.3, worker.1, worker.2"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cut") / "ds"
    args = ["ingest", str(SAMPLE), "-o", str(out), "-q", "--app", "acme-shop"]
    assert CliRunner().invoke(main, args).exit_code == 0
    return out


def _commands(ds: Path, tmp: Path) -> list[list[str]]:
    return [
        ["findings", str(ds)],
        ["sql", str(ds), "SELECT count(*) FROM requests"],
        ["report", str(ds), "-o", str(tmp / "r.html")],
    ]


@pytest.mark.parametrize("command", [0, 1, 2], ids=["findings", "sql", "report"])
@pytest.mark.parametrize(
    ("cut", "message"),
    [
        (["--dyno", "wbe.1"], f"--dyno wbe.1 matches no dyno; dynos: {DYNOS}"),
        (["--app", "nope"], "--app nope matches no app; apps: acme-shop"),
        (
            ["--since", "2024-05-20T12:00Z", "--until", "2024-05-20T08:00Z"],
            "--since 2024-05-20T12:00:00Z --until 2024-05-20T08:00:00Z: "
            "the window must end after it starts",
        ),
        (
            ["--since", "2030-01-01"],
            "--since 2030-01-01T00:00:00Z selects no rows; "
            "the data spans 2024-05-20T06:00:00Z .. 2024-05-21T17:59:59Z",
        ),
        (
            ["--until", "soon"],
            "--until 'soon' is not an ISO-8601 time; use e.g. 2024-05-20T22:00:00Z",
        ),
    ],
)
def test_a_cut_selecting_nothing_is_an_error(
    dataset: Path, tmp_path: Path, command: int, cut: list[str], message: str
) -> None:
    result = CliRunner().invoke(main, [*_commands(dataset, tmp_path)[command], *cut])
    assert result.exit_code == 2, result.output
    assert result.stderr == f"forensics: error: {message}\n"
    assert result.stdout == ""
    assert not (tmp_path / "r.html").exists()


def test_a_process_type_and_a_dyno_that_exist_pass(dataset: Path) -> None:
    for dyno in ("web", "worker.2"):
        result = CliRunner().invoke(main, ["sql", str(dataset), "SELECT 1 AS x", "--dyno", dyno])
        assert result.exit_code == 0, result.output


def test_not_a_dataset_names_the_ingest_command(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["findings", str(tmp_path)])
    assert result.exit_code == 2
    assert result.stderr == (
        f"forensics: error: {tmp_path}: not a forensics dataset (no manifest.json); "
        f"build one with `forensics ingest FILE... -o {tmp_path}`\n"
    )


@pytest.mark.parametrize("command", ["findings", "incidents", "sql", "report"])
def test_a_window_that_selects_rows_works(dataset: Path, tmp_path: Path, command: str) -> None:
    """`--since`/`--until` that select rows run the command on them (the emptiness check once
    left a half-read result that blocked the connection: every such cut failed)."""
    args = {
        "findings": ["findings", str(dataset)],
        "incidents": ["incidents", str(dataset)],
        "sql": ["sql", str(dataset), "SELECT min(ts) >= '2024-05-20 10:00:00+00' AS ok, "
                "count(*) > 0 AS some FROM requests"],
        "report": ["report", str(dataset), "-o", str(tmp_path / "r.html")],
    }[command]  # fmt: skip
    window = ["--since", "2024-05-20T10:00Z", "--until", "2024-05-20T14:00Z"]
    result = CliRunner().invoke(main, [*args, *window])
    assert result.exit_code == 0, result.output
    if command == "sql":
        assert "true" in result.stdout and "false" not in result.stdout
    elif command == "report":
        assert (tmp_path / "r.html").stat().st_size > 0
    else:
        assert result.stdout.strip() and not result.stdout.startswith("No ")
