"""Log text that reaches the terminal (`sql`, `findings`, `incidents`, the Markdown) has its
control characters and bidi controls shown escaped, and the HTML report shows bidi controls
as escapes too: a log line can neither retitle or clear the terminal nor reorder what is read."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from forensics.cli.main import main
from forensics.cli.text import terminal_safe
from forensics.report import write_report
from forensics.report.bidi import neutral_bidi

HOSTILE = "RuntimeError: boom \x1b]0;owned\x07 \x1b[2J \x9b31m \r\x08 \u202egpj.exe \u2067x\u2069"
RAW = ("\x1b", "\x07", "\x9b", "\r", "\x08", "\u202e", "\u2067", "\u2069")


def test_terminal_safe() -> None:
    assert terminal_safe(HOSTILE) == (
        "RuntimeError: boom \\x1b]0;owned\\x07 \\x1b[2J \\x9b31m \\x0d\\x08 \\u202egpj.exe "
        "\\u2067x\\u2069"
    )
    assert terminal_safe("tab\there\nnext é ✓ 日本") == "tab\there\nnext é ✓ 日本"


def test_neutral_bidi() -> None:
    assert neutral_bidi("a\u202eb\u2066c\u200fd") == "a\\u202eb\\u2066c\\u200fd"
    assert neutral_bidi("plain é\ttab\nline") == "plain é\ttab\nline"
    assert neutral_bidi(HOSTILE) == terminal_safe(HOSTILE)  # the page shows what the CLI does


def _log(path: Path) -> Path:
    lines = []
    for i in range(3):
        m = 10 + i * 5
        lines += [
            f"2024-05-20T10:{m:02d}:00.000000+00:00 app[web.1]: {HOSTILE}",
            f"2024-05-20T10:{m:02d}:01.000000+00:00 heroku[web.1]: Process exited with status 1",
            f"2024-05-20T10:{m:02d}:01.000000+00:00 heroku[web.1]: State changed from up to "
            "crashed",
            f"2024-05-20T10:{m + 1:02d}:02.000000+00:00 heroku[web.1]: Starting process with "
            "command `bundle exec puma`",
            f"2024-05-20T10:{m + 1:02d}:05.000000+00:00 heroku[web.1]: State changed from "
            "starting to up",
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def ds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hostile")
    out = root / "ds"
    log = _log(root / "hostile.log")
    result = CliRunner().invoke(main, ["ingest", str(log), "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    return out


def _clean(text: str) -> None:
    for c in RAW:
        assert c not in text, repr(c)


@pytest.mark.parametrize(
    "args",
    [
        ["sql", "{ds}", "SELECT message FROM app_logs"],
        ["findings", "{ds}"],
        ["incidents", "{ds}"],
        ["incidents", "{ds}", "--markdown"],
    ],
)
def test_terminal_output_is_escaped(ds: Path, args: list[str]) -> None:
    result = CliRunner().invoke(main, [a.format(ds=ds) for a in args])
    assert result.exit_code == 0, result.output
    _clean(result.stdout)
    assert "\\x1b]0;owned\\x07" in result.stdout  # shown, not dropped


def test_markdown_file_is_escaped(ds: Path, tmp_path: Path) -> None:
    out = tmp_path / "pm.md"
    result = CliRunner().invoke(main, ["incidents", str(ds), "--markdown", "-o", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    _clean(text)
    assert "\\u202egpj.exe" in text


def _specs(page: str) -> list[object]:
    found = re.findall(r'<script type="application/json" id="spec-\d+">(.*?)</script>', page)
    return [json.loads(s) for s in found]


def test_report_has_no_raw_bidi(ds: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    write_report(ds, out)
    page = out.read_text(encoding="utf-8")
    assert "\u202e" not in page and "\u2067" not in page
    assert "\\u202egpj.exe" in page  # the crash line is shown, its override made visible
    body = re.sub(r"<script(?: [^>]*)?>.*?</script>|<style>.*?</style>", "", page, flags=re.S)
    _clean(body)  # nor a raw ESC, BEL or C1 control in the page's text
    assert "\\x1b]0;owned\\x07" in body
    for spec in _specs(page):
        decoded = json.dumps(spec, ensure_ascii=False)
        assert "\u202e" not in decoded and "\u2067" not in decoded


def test_error_lines_are_escaped(tmp_path: Path) -> None:
    missing = tmp_path / "no\x1b]0;owned\x07such"
    result = CliRunner().invoke(main, ["findings", str(missing)])
    assert result.exit_code == 2
    _clean(result.stderr)
    assert "no\\x1b]0;owned\\x07such" in result.stderr
