"""Route rules files: a bad regex or an unreadable file is one line naming the file and the rule,
never a traceback (the views run the rules through Polars, whose regex syntax is Rust's)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from ingest_helpers import REAL

from forensics.cli.main import main
from forensics.errors import ForensicsError
from forensics.routes import RouteRule, load_rules


def _rules(tmp_path: Path, pattern: str) -> Path:
    path = tmp_path / "routes.toml"
    path.write_text(f"[[route]]\npattern = '{pattern}'\nroute = '/users/:id'\n")
    return path


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [("/users/(\\d+", "unclosed group"), ("(?<=/)users", "look-around"), ("[z-a]", "range")],
)
def test_invalid_regex_is_one_line(tmp_path: Path, pattern: str, reason: str) -> None:
    path = _rules(tmp_path, pattern)
    with pytest.raises(ForensicsError) as e:
        load_rules(path)
    message = str(e.value)
    assert "\n" not in message and str(path) in message and "#1" in message
    assert repr(pattern) in message and reason in message


def test_valid_rules_load(tmp_path: Path) -> None:
    rules = load_rules(_rules(tmp_path, "^/users/\\d+$"))
    assert rules == [RouteRule("^/users/\\d+$", "/users/:id")]


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "routes.toml"
    path.write_bytes(b"# \xff\n")
    with pytest.raises(ForensicsError, match="not UTF-8"):
        load_rules(path)


@pytest.fixture(scope="module")
def ds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("routes") / "ds"
    result = CliRunner().invoke(main, ["ingest", str(REAL / "src-041.log"), "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.parametrize("command", [["sql", "SELECT 1"], ["findings"]])
def test_cli_says_it_in_one_line(ds: Path, command: list[str]) -> None:
    rules = ds / "routes.toml"
    rules.write_text("[[route]]\npattern = '/users/(\\d+'\nroute = '/users/:id'\n")
    try:
        result = CliRunner().invoke(main, [command[0], str(ds), *command[1:]])
    finally:
        rules.unlink()
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"forensics: error: {rules}: [[route]] #1 pattern")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output
