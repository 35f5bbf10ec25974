"""`--redact` against the redaction corpus (tests/data/redaction/corpus.toml): every secret of
every case is gone from the masked text, the Redactor's file references, the context excerpts,
the report page (HTML and the chart data in it) and the Markdown postmortem, while the text
around it stays; and, unredacted, those outputs do hold the values (so the checks mean something).
"""

from __future__ import annotations

import html
import json
import re
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from forensics.cli.main import main
from forensics.report import write_report
from forensics.report.redact import Redactor, redact_text
from forensics.store.excerpts import excerpt
from forensics.store.views import open_dataset

CORPUS = Path(__file__).parent / "data" / "redaction" / "corpus.toml"
CASES = tomllib.loads(CORPUS.read_text(encoding="utf-8"))["case"]
# the input file's own name is personal data too
FILE_NAME = "export-jane.doe@example.com-10.0.0.7.log"
FILE_SECRETS = ["jane.doe", "10.0.0.7"]
# router lines: a letters-only invite token stays in the route template, so charts show it
ROUTER_PATH = "/invite/PlMnOkIjUhYgTfRdEsWaQz/accept?email=lee.chan@example.com"
ROUTER_SECRETS = ["PlMnOkIjUhYgTfRdEsWaQz", "lee.chan", "203.0.113.77"]
ALL_SECRETS = sorted(
    {s for c in CASES for s in c["secrets"]} | {*FILE_SECRETS, *ROUTER_SECRETS}, key=len
)


@pytest.mark.parametrize("case", CASES, ids=[c["class"] for c in CASES])
def test_case(case: dict) -> None:
    out = redact_text(case["line"])
    for secret in case["secrets"]:
        assert secret in case["line"]  # the corpus itself is right
        assert secret not in out, out
    for kept in case["kept"]:
        assert kept in out, out
    assert redact_text(out) == out  # masking twice changes nothing


def test_file_names_become_stable_references() -> None:
    r = Redactor({FILE_NAME: "22d526be4482d456", "heroku.log": "ab" * 32, "b/" + FILE_NAME: "ff"})
    ref = r.text(FILE_NAME)
    assert ref == "[email]-[ip].log#22d526be"
    assert r.text(f"sources: {FILE_NAME}:12, heroku.log:3") == f"sources: {ref}:12, heroku.log:3"
    assert r.text("b/" + FILE_NAME) == "b/[email]-[ip].log#ff"  # a different file stays apart
    assert r.value({FILE_NAME: [FILE_NAME]}) == {ref: [ref]}


# ----- the outputs ------------------------------------------------------------------------


@dataclass
class Planted:
    ds: Path
    file: str
    line_of: dict[str, int]  # case class -> its line number


def _build_log(path: Path) -> dict[str, int]:
    t = datetime(2024, 5, 20, 6, 0, tzinfo=UTC)
    lines: list[str] = []
    line_of = {}

    def emit(at: datetime, source: str, text: str) -> None:
        lines.append(f"{at.isoformat(timespec='microseconds')} {source}: {text}")

    for i in range(4):  # H12s on a route whose template keeps a token
        emit(
            t + timedelta(seconds=i),
            "heroku[router]",
            f'at=error code=H12 desc="Request timeout" method=GET path="{ROUTER_PATH}" '
            f'host=shop.herokuapp.com request_id=r{i} fwd="203.0.113.77" dyno=web.1 '
            "connect=1ms service=30000ms status=503 bytes=0 protocol=https",
        )
    for n, case in enumerate(CASES):
        at = t + timedelta(minutes=10 * (n + 1))
        if case.get("source") == "api":
            emit(at, "app[api]", case["line"])
            line_of[case["class"]] = len(lines)
            continue
        emit(at, "app[web.1]", case["line"])
        line_of[case["class"]] = len(lines)
        emit(at + timedelta(seconds=1), "heroku[web.1]", "Process exited with status 1")
        emit(at + timedelta(seconds=1), "heroku[web.1]", "State changed from up to crashed")
        emit(
            at + timedelta(seconds=60),
            "heroku[web.1]",
            "Starting process with command `bundle exec puma -C config/puma.rb`",
        )
        emit(at + timedelta(seconds=64), "heroku[web.1]", "State changed from starting to up")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return line_of


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Planted:
    root = tmp_path_factory.mktemp("redaction")
    log = root / FILE_NAME
    line_of = _build_log(log)
    ds = root / "ds"
    result = CliRunner().invoke(main, ["ingest", str(log), "-o", str(ds), "-q", "--app", "shop"])
    assert result.exit_code == 0, result.output
    return Planted(ds, str(log), line_of)


def _leaks(text: str, secrets: list[str] = ALL_SECRETS) -> list[str]:
    return [s for s in secrets if s in text]


def test_excerpts(planted: Planted) -> None:
    con = open_dataset(planted.ds)
    clean = Redactor.for_dataset(planted.ds).text
    for case in CASES:
        line = planted.line_of[case["class"]]
        raw = "\n".join(excerpt(con, planted.file, line, context_lines=0))
        assert all(s in raw for s in case["secrets"]), (case["class"], raw)
        masked = "\n".join(excerpt(con, planted.file, line, clean=clean))
        assert not _leaks(masked, case["secrets"]), (case["class"], masked)
        assert all(k in masked for k in case["kept"]), (case["class"], masked)


def _page_parts(page: str) -> tuple[str, list[str]]:
    """(the page without its JavaScript and styles, the decoded chart specs as text)."""
    specs = re.findall(r'<script type="application/json" id="spec-\d+">(.*?)</script>', page, re.S)
    decoded = [json.dumps(json.loads(s), ensure_ascii=False) for s in specs]
    rest = re.sub(r"<script(?: [^>]*)?>.*?</script>|<style>.*?</style>", "", page, flags=re.S)
    return html.unescape(rest), decoded


@pytest.fixture(scope="module")
def pages(planted: Planted, tmp_path_factory: pytest.TempPathFactory) -> dict[bool, str]:
    out = tmp_path_factory.mktemp("pages")
    got = {}
    for redact in (False, True):
        path = out / f"r-{redact}.html"
        stats = write_report(planted.ds, path, redact=redact)
        assert stats["errors"] == []
        got[redact] = path.read_text(encoding="utf-8")
    return got


def test_report_page(pages: dict[bool, str]) -> None:
    raw_text, _ = _page_parts(pages[False])
    # unredacted, the crash table shows every app case's line, the sources the file name
    app_secrets = [s for c in CASES if c.get("source") != "api" for s in c["secrets"]]
    assert not [s for s in app_secrets + FILE_SECRETS if s not in raw_text]
    text, _ = _page_parts(pages[True])
    assert not _leaks(text)
    assert "[email]-[ip].log#" in text and "[ip]" in text
    assert not _leaks(html.unescape(pages[True]).split("<script>")[0])


def test_report_chart_data(pages: dict[bool, str]) -> None:
    _, raw_specs = _page_parts(pages[False])
    assert _leaks(" ".join(raw_specs))  # the charts do carry log text
    _, specs = _page_parts(pages[True])
    assert len(specs) == len(raw_specs) and specs
    for spec in specs:
        assert not _leaks(spec)


@pytest.mark.parametrize("form", [["--markdown"], [], ["--json"]])
def test_postmortem(planted: Planted, form: list[str]) -> None:
    raw = CliRunner().invoke(main, ["incidents", str(planted.ds), *form])
    assert raw.exit_code == 0, raw.output
    assert _leaks(raw.stdout)
    masked = CliRunner().invoke(main, ["incidents", str(planted.ds), *form, "--redact"])
    assert masked.exit_code == 0, masked.output
    assert not _leaks(masked.stdout)
    if form == ["--markdown"]:
        assert "```" in masked.stdout and "[email]-[ip].log#" in masked.stdout


@pytest.mark.parametrize("command", ["report", "incidents"])
def test_help_says_what_is_and_is_not_masked(command: str) -> None:
    text = " ".join(CliRunner().invoke(main, [command, "--help"]).output.split())
    for part in ("IPv6", "e-mails", "credentials in URLs", "jsessionid", "cookie",
                 "Not masked: phone numbers", "short hash"):  # fmt: skip
        assert part in text, part
