"""The HTML report: one self-contained file, no network loads, every chart rendered by a real
headless browser with the network cut, log text kept as text (even hostile markup), and
nothing identifying left when redacted."""

from __future__ import annotations

import html
import ipaddress
import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from report_browser import dump_dom, find_chromium, offline_page

import forensics.report.writer
from forensics.errors import ForensicsError
from forensics.findings import Finding, Source
from forensics.ingest import ingest
from forensics.report import write_report
from forensics.report.assets import vega_bundle
from forensics.report.redact import redact_text
from forensics.scenario import ScenarioConfig, generate
from forensics.store.views import Cut

SCRIPT = "</script><img src=x onerror=alert(1)>"
BOLD = "<b>bold</b>"
EMAIL = "jane@example.org"
IPV4 = "198.51.100.23"
IPV6 = "2001:db8::7"
REQUEST_ID = "8d3c4c4e-2b1c-4d7e-9f00-1234567890ab"
SECRET = "s3cr3t"
APP_MESSAGE = (
    f'{SCRIPT} {BOLD} Started GET "/users/9?email={EMAIL}&token={SECRET}" for {IPV4} '
    f"request_id={REQUEST_ID} ip6={IPV6}"
)


def hostile_lines() -> list[str]:
    """H12s on two hostile paths (web.1), then a dyno whose last app line before its crash
    carries markup, an e-mail, IPs, a request id and a query string."""
    lines = []
    for i, path in enumerate([f"/{SCRIPT}", f"/{BOLD}"] * 3):
        lines.append(
            f"2024-05-20T07:0{i}:00.000000+00:00 heroku[router]: at=error code=H12 "
            f'desc="Request timeout" method=GET path="{path}?token={SECRET}" host=a.herokuapp.com '
            f'request_id={REQUEST_ID[:-1]}{i} fwd="{IPV4}, {IPV6}" dyno=web.1 connect=1ms '
            "service=30000ms status=503 bytes=0 protocol=https"
        )
    lines += [
        f"2024-05-20T07:30:00.000000+00:00 app[web.7]: {APP_MESSAGE}",
        "2024-05-20T07:30:01.000000+00:00 heroku[web.7]: Process exited with status 1",
        "2024-05-20T07:30:01.100000+00:00 heroku[web.7]: State changed from up to crashed",
        # a crash logged only by its exit (no `to crashed` line): the findings count it
        "2024-05-20T07:40:00.000000+00:00 heroku[worker.3]: Process exited with status 3",
    ]
    return lines


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("report")
    log = root / "scenario.log"
    generate(
        ScenarioConfig(
            seed=11,
            hours=6,
            rps=0.3,
            release_hours=(1.5, 3.5),
            leak_release=2,
            leak_mb=1.0,
            h12_start_min=150.0,
            h12_minutes=10.0,
            crash_worker="worker.1",
            crash_at_hours=4.0,
            app_line_ratio=0.05,
        ),
        log,
    )
    hostile = root / "hostile.log"
    hostile.write_text("\n".join(hostile_lines()) + "\n")
    ingest([str(log), str(hostile)], root / "ds")
    return root / "ds"


@pytest.fixture(scope="module")
def report(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("out") / "report.html"
    return out, write_report(dataset, out)


@pytest.fixture(scope="module")
def page(report: tuple[Path, dict]) -> str:
    return report[0].read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def redacted(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict]:
    out = tmp_path_factory.mktemp("redacted") / "shared.html"
    stats = write_report(dataset, out, redact=True)
    return out.read_text(encoding="utf-8"), stats


@pytest.fixture(scope="module")
def dom(report: tuple[Path, dict]) -> str:
    browser = find_chromium()
    if browser is None:
        pytest.skip("no Chromium installed (Debian: apt-get install -y chromium)")
    return dump_dom(report[0], browser=browser)


def without_bundle(text: str) -> str:
    """`text` minus the inlined Vega JavaScript (its tooltip code holds an `<img` template)."""
    bundle = vega_bundle()
    assert text.count(bundle) == 1
    return text.replace(bundle, "")


def specs(text: str) -> list[dict[str, Any]]:
    """The chart specs embedded in a page, parsed back from their JSON script elements."""
    blocks = re.findall(r'<script type="application/json" id="spec-\d+">(.*?)</script>', text)
    return [json.loads(b) for b in blocks]


def data_rows(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for values in spec.get("datasets", {}).values() for r in values]


# ----- the file ------------------------------------------------------------------------------


def test_one_file_with_stats(report: tuple[Path, dict], page: str) -> None:
    out, stats = report
    assert [p.name for p in out.parent.iterdir()] == ["report.html"]  # no side files
    assert stats["path"] == str(out) and stats["bytes"] == out.stat().st_size
    assert stats["errors"] == []
    assert stats["charts"] == len(specs(page)) == page.count('<div class="vega-chart"')
    assert stats["sections"] >= 7 and stats["strip"] is True
    # every chart is either drawn or says why not: the strip, 9 sections, the zoomed ones
    zoom_blocks = len(re.findall(r'<h4 id="i-[0-9a-f]+-\w+">', page))
    assert stats["charts"] + len(stats["notes"]) == 1 + 9 + zoom_blocks
    assert stats["zoomed"] >= 2 * page.count('<details class="zoom"')  # status and latency
    assert stats["tables"] == 3 and stats["seconds"] > 0 and stats["redacted"] is False
    assert stats["excerpts"] > 0
    assert stats["bytes"] < 3_000_000
    sections = [
        page.index(f'id="{s}"') for s in ("incidents", "findings", "charts", "tables", "provenance")
    ]
    assert sections == sorted(sections)  # incidents first


def test_no_external_loads(page: str) -> None:
    assert not re.search(r"<script[^>]*\bsrc\s*=", page, re.I)
    assert not re.search(r"<(link|img|iframe|object|embed)\b", without_bundle(page), re.I)
    for needle in ('src="http', "src='http", 'href="http', "url(http", "@import", "//cdn."):
        assert needle not in page
    for cdn in ("jsdelivr", "unpkg.com", "cdnjs", "googleapis"):
        assert cdn not in page
    assert "default-src 'none'" in page  # the CSP refuses any fetch the page might attempt
    bundle = vega_bundle()
    assert page.count(bundle[:2000]) == 1  # Vega, Vega-Lite and vega-embed inlined once
    assert page.count("<script>") == 3  # error hook, the bundle, the embedding code


def test_the_first_screen_counts_the_incidents_and_their_cost(
    dataset: Path, report: tuple[Path, dict], page: str
) -> None:
    """Before any incident's own section: how many, one row each with what it cost (the
    impact line) linking to it, then the timeline strip of them all."""
    from forensics.charts.strip import impact_line

    incidents = _incidents(dataset)
    first = page[page.index('<div class="first">') : page.index('<section class="incident')]
    n = len(incidents)
    assert f"{n} incident{'' if n == 1 else 's'} (" in first
    table = first.split('<table class="costs">', 1)[1].split("</table>", 1)[0]
    assert table.count("<tr class=") == n
    for inc in incidents:
        assert f'<a href="#{inc["id"]}">' in table
        assert html.escape(impact_line(inc["impact"])) in table
    assert first.index("</table>") < first.index('id="chart-strip"')
    strip = next(s for s in specs(first) if "vconcat" in s)
    hrefs = {r["href"] for r in data_rows(strip) if "href" in r}
    assert hrefs == {f"#{i['id']}" for i in incidents}


def test_each_incident_has_its_charts_zoomed_to_its_window(
    dataset: Path, report: tuple[Path, dict], page: str
) -> None:
    """Each incident links to its status and latency charts, drawn for its window (or, for one
    that spans about the whole log, the whole log's own charts)."""
    from forensics.report.zoom import MAX_ZOOMED

    zoomed = 0
    for inc in _incidents(dataset)[:MAX_ZOOMED]:
        body = page[page.index('<section class="incident') :]
        body = body[body.index(f'id="{inc["id"]}"') :].split("</section>", 1)[0]
        if "its window is the whole log" in body:
            assert '<a href="#chart-status">' in body and '<a href="#chart-latency">' in body
            continue
        zoomed += 1
        for kind in ("status", "latency"):
            assert f'<a class="zoom-link" href="#{inc["id"]}-{kind}">' in body
            assert f'<h4 id="{inc["id"]}-{kind}">' in body
        status = specs(body.split(f'<h4 id="{inc["id"]}-status">', 1)[1])[0]
        area = next(u for u in _units(status) if _mark(u) == "area")
        lo, hi = area["encoding"]["x"]["scale"]["domain"]
        start = datetime.fromisoformat(inc["start"].replace("Z", "+00:00"))
        assert lo <= start.timestamp() * 1000 <= hi
        assert hi - lo < 0.9 * _log_ms(page)  # zoomed in
        buckets = [r["bucket"] for r in data_rows(status) if "status_class" in r]
        assert buckets and all(lo - 86_400_000 < b < hi for b in buckets)  # the window only
    assert zoomed >= 1


def _log_ms(page: str) -> float:
    """The whole log's span in ms, from the strip's time domain."""
    strip = next(s for s in specs(page) if "vconcat" in s)
    lo, hi = next(u for u in _units(strip) if _mark(u) == "area")["encoding"]["x"]["scale"][
        "domain"
    ]
    return hi - lo


def test_every_source_reference_opens_its_lines(dataset: Path, page: str) -> None:
    """Each `file:line` is a fold holding the lines around it, escaped: the crash of web.7
    opens on its hostile app line (as text), the worker's crash on its own line."""
    refs = re.findall(r'<details class="src" data-excerpt="(x-\d+)"><summary><code>', page)
    assert refs and page.count('<details class="src"') == len(refs)
    templates = re.findall(r'<template id="(x-\d+)">', page)
    assert set(refs) == set(templates) and len(templates) == len(set(templates))  # once each
    crashes = page.split('id="table-crashes"', 1)[1].split("</table>", 1)[0]
    assert "hostile.log:9</code></summary>" in crashes
    fold = _fold(page, "hostile.log:9")
    assert '<span class="cited"><i>9</i> ' in fold
    assert html.escape(SCRIPT, quote=True) in fold and SCRIPT not in fold
    assert "State changed from up to crashed" in fold
    assert "Process exited with status 1" in fold  # the line before, as context


def _incidents(dataset: Path) -> list[dict[str, Any]]:
    from forensics.findings import collect_findings
    from forensics.incidents import build_incidents
    from forensics.store.views import open_dataset

    con = open_dataset(dataset)
    try:
        return [i.to_json() for i in build_incidents(con, collect_findings(con))]
    finally:
        con.close()


def _units(spec: dict[str, Any]) -> list[dict[str, Any]]:
    out = [spec] if "mark" in spec else []
    for key in ("layer", "hconcat", "vconcat"):
        for sub in spec.get(key, []):
            out += _units(sub)
    return out


def _mark(unit: dict[str, Any]) -> str:
    m = unit["mark"]
    return m if isinstance(m, str) else m["type"]


def test_findings_and_provenance(report: tuple[Path, dict], page: str) -> None:
    stats = report[1]
    assert stats["findings"] > 0
    assert 'class="finding critical"' in page
    for text in ("scenario.log", "hostile.log", "forensics", "time span (UTC)", "input lines"):
        assert text in page
    for table in ("Slowest routes by p95 service time", "R14 / R15 memory episodes", "Crashes"):
        assert table in page


def test_the_page_opens_with_the_incidents(
    dataset: Path, report: tuple[Path, dict], page: str
) -> None:
    """The incidents come first (before the findings), one section each with its id, and each
    holds its member findings: every finding of the page is in exactly one incident."""
    from forensics.findings import collect_findings
    from forensics.incidents import build_incidents
    from forensics.store.views import open_dataset

    con = open_dataset(dataset)
    incidents = build_incidents(con, collect_findings(con))
    assert report[1]["incidents"] == len(incidents) > 0
    assert page.index('<h2 id="incidents">') < page.index('<h2 id="findings">')
    body = page[page.index('<h2 id="incidents">') : page.index('<h2 id="findings">')]
    for inc in incidents:
        assert f'id="{inc.id}"' in body
    assert body.count('<details class="finding') == report[1]["findings"]
    assert '<a href="#incidents">Incidents</a>' in page


def test_crash_table_lists_the_crashes_the_findings_count(dataset: Path, page: str) -> None:
    """One definition of a crash: the table shows `availability.crashes`, the crashes of the
    `crash` findings (it used to count only `State changed ... to crashed` lines)."""
    from forensics.analyses.availability import crashes
    from forensics.store.views import open_dataset

    con = open_dataset(dataset)
    try:
        k = crashes(con)
    finally:
        con.close()
    section = page.split('id="table-crashes"', 1)[1].split("</table>", 1)[0]
    assert section.count("<tr>") - 1 == k.height  # header row
    assert "worker.3" in set(k["dyno"]) and '<td class="">worker.3</td>' in section


# ----- in a browser, offline -----------------------------------------------------------------


def test_every_chart_renders_offline(report: tuple[Path, dict], dom: str) -> None:
    charts = report[1]["charts"]
    views = re.findall(r'<div class="vega-chart[^"]*"[^>]*>', dom)
    assert len(views) == charts
    assert all('data-status="rendered"' in v for v in views), views
    marks = [int(m) for m in re.findall(r'data-marks="(\d+)"', " ".join(views))]
    assert len(marks) == charts and all(m > 0 for m in marks)  # views drawn with data
    rendered = re.findall(r'<(svg|canvas)[^>]*class="marks"', dom)
    assert len(rendered) == charts
    assert f'data-charts-done="{charts}"' in dom
    assert 'class="js-error"' not in dom  # no script error, failed embed or alert()
    assert re.search(r'<div id="report-errors" hidden="?"?>\s*</div>', dom)


def test_hostile_text_stays_text_in_the_page(page: str) -> None:
    # nothing became markup: no image element anywhere, no bold element with that text
    assert not re.search(r"<img\b", without_bundle(page), re.I)
    assert BOLD not in page and SCRIPT not in page
    # it is still there, as text: in the crash table, escaped
    assert html.escape(SCRIPT, quote=True) in page
    assert html.escape(APP_MESSAGE, quote=True)[:120] in page
    # and the chart data holds it exactly: routes of the H12 heatmap, the crash's app line
    values = [v for s in specs(page) for r in data_rows(s) for v in r.values()]
    assert f"/{SCRIPT}" in values and f"/{BOLD}" in values
    assert any(isinstance(v, str) and APP_MESSAGE in v for v in values)


@pytest.fixture(scope="module")
def live(report: tuple[Path, dict]):
    """The report open in headless Chromium (Playwright), offline."""
    browser = find_chromium()
    if browser is None:
        pytest.skip("no Chromium installed (Debian: apt-get install -y chromium)")
    pytest.importorskip("playwright.sync_api", reason="pip install playwright (the dev extra)")
    with offline_page(report[0], browser=browser) as (pg, tried):
        yield pg, tried


def test_the_first_screen_in_a_browser(live, report: tuple[Path, dict]) -> None:
    """The strip is drawn (a vega-embed `.marks` element with data) on the first screen,
    below the table of what each incident cost, and nothing was fetched."""
    pg, tried = live
    assert tried == [] and pg.inner_text("#report-errors") == ""
    strip = pg.locator("#chart-strip ~ div.vega-chart").first
    assert strip.get_attribute("data-status") == "rendered"
    assert int(strip.get_attribute("data-marks")) > 0
    assert strip.locator(".marks").count() == 1
    box = strip.bounding_box()
    costs = pg.locator("table.costs").bounding_box()
    assert costs["y"] < box["y"] and box["y"] + box["height"] <= 900 * 1.2  # on the first screen
    assert pg.locator("table.costs tr.critical").count() >= 1
    assert box["x"] + box["width"] <= 1280  # not wider than the window


def test_an_incident_link_opens_its_zoomed_chart(live) -> None:
    pg, _ = live
    link = pg.locator("section.incident a.zoom-link").first
    target = link.get_attribute("href")[1:]
    fold = pg.locator(f"details.zoom:has(#{target})")
    assert fold.get_attribute("open") is None  # folded until asked
    link.click()
    pg.wait_for_function(f"document.getElementById('{target}').closest('details').open")
    chart = pg.locator(f"#{target} ~ div.vega-chart").first
    assert chart.get_attribute("data-status") == "rendered"
    assert int(chart.get_attribute("data-marks")) > 0
    assert chart.locator(".marks").is_visible()


def test_a_source_reference_opens_its_excerpt(live) -> None:
    pg, _ = live
    ref = pg.locator("section.incident details.src").first
    excerpt = ref.locator(".excerpt")
    assert not excerpt.is_visible()
    ref.locator("summary").click()
    excerpt.wait_for(state="visible", timeout=5000)  # copied in from its template
    assert ref.locator(".cited").count() >= 1
    ref.locator("summary").click()  # closed and opened again: still one excerpt
    ref.locator("summary").click()
    pg.wait_for_function("el => el.open", arg=ref.element_handle())
    assert ref.locator(".excerpt").count() == 1
    cited = ref.locator(".cited i").first.inner_text()
    label = ref.locator("summary").inner_text()
    assert cited == label.rsplit(":", 1)[1].split("–")[0]  # the cited line's number


def test_hostile_text_stays_text_in_the_browser(dom: str) -> None:
    assert not re.search(r"<img\b", without_bundle(dom), re.I)
    assert BOLD not in dom and SCRIPT not in dom
    assert "&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in dom
    assert "&lt;b&gt;bold&lt;/b&gt;" in dom
    assert 'class="js-error">alert() called' not in dom  # the page turns alert() into this


# ----- redaction -----------------------------------------------------------------------------

V4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
MAIL = re.compile(r"[\w.+-]+(?:@|%40)[\w-]+(?:\.[\w-]+)+")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
V6_CANDIDATE = re.compile(r"(?<![\w:.])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![\w:])")


def ipv6_addresses(text: str) -> list[str]:
    found = []
    for m in V6_CANDIDATE.finditer(text):
        token = m.group(0)
        if not re.search(r"[0-9A-Fa-f]", token):
            continue  # a bare "::" (JavaScript in the bundle)
        try:
            ipaddress.IPv6Address(token)
        except ValueError:
            continue
        found.append(token)
    return found


def test_unredacted_report_holds_the_planted_values(page: str) -> None:
    # the redaction test below only means something if these are really in the page
    for value in (EMAIL, IPV4, IPV6, REQUEST_ID, SECRET, "dev@example.com"):
        assert value in page


def test_redacted_report_leaves_no_address_or_request_id(redacted: tuple[str, dict]) -> None:
    text, stats = redacted
    assert stats["redacted"] is True and stats["errors"] == []
    assert V4.findall(text) == []
    assert MAIL.findall(text) == []
    assert UUID.findall(text) == []
    assert ipv6_addresses(text) == []
    for value in (EMAIL, IPV4, IPV6, REQUEST_ID, SECRET, "dev@example.com", "?token="):
        assert value not in text
    assert "[email]" in text and "[ip]" in text and "[id]" in text and "?[query]" in text
    assert stats["charts"] >= 5  # redaction masks, it does not drop sections
    # the excerpts are masked too (the unredacted ones hold the planted values: see below)
    fold = _fold(text, "hostile.log:9")
    assert "?[query]" in fold and "[ip]" in fold and "request_id=[id]" in fold
    assert EMAIL not in fold and REQUEST_ID not in fold
    h12 = _fold(text, "hostile.log:1")
    assert "code=H12" in h12 and "token" not in h12  # router excerpts leave the query out


def test_unredacted_excerpts_hold_the_planted_values(page: str) -> None:
    fold = _fold(page, "hostile.log:9")
    assert EMAIL in fold and IPV4 in fold and REQUEST_ID in fold
    h12 = _fold(page, "hostile.log:1")
    assert "code=H12" in h12 and "status=503" in h12
    assert IPV4 not in h12 and REQUEST_ID[:-1] not in h12  # fwd and request id left out


def _fold(text: str, ref: str) -> str:
    """The excerpt a source reference opens (its template, stored once in the page)."""
    head = text.split(f"{ref}</code></summary>", 1)[0]
    xid = head[head.rindex('data-excerpt="') :].split('"')[1]
    return text.split(f'<template id="{xid}">', 1)[1].split("</template>", 1)[0]


def test_redact_text() -> None:
    assert redact_text("fwd=10.1.2.3, 2001:db8::1 at 12:30:05") == "fwd=[ip], [ip] at 12:30:05"
    assert redact_text("from 1.2.3.4.") == "from [ip]."
    assert redact_text("GET /a?b=c HTTP/1.1") == "GET /a?[query] HTTP/1.1"
    assert redact_text("by dev%40example.com") == "by [email]"
    assert redact_text("request_id=abc-123 ok") == "request_id=[id] ok"
    assert (
        redact_text("ActiveRecord::RecordNotFound v1.2.3") == "ActiveRecord::RecordNotFound v1.2.3"
    )


# ----- findings ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tiny")
    log = root / "tiny.log"
    log.write_text("\n".join(hostile_lines()) + "\n")
    ingest([str(log)], root / "ds")
    return root / "ds"


def test_a_bug_in_a_section_fails_instead_of_becoming_a_note(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("a bug")

    monkeypatch.setattr(forensics.report.writer.availability, "timeline", broken)
    with pytest.raises(KeyError, match="a bug"):
        write_report(tiny, tmp_path / "r.html")
    assert not (tmp_path / "r.html").exists()


def test_a_forensics_error_in_a_section_is_shown_as_a_note(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def gap(*args: object, **kwargs: object) -> None:
        raise ForensicsError("no release lines")

    monkeypatch.setattr(forensics.report.writer.availability, "timeline", gap)
    stats = write_report(tiny, tmp_path / "r.html")
    # the timeline section, and each incident's zoomed timeline, says so
    assert "Event timeline: ForensicsError: no release lines" in stats["errors"]
    assert all(e.endswith(": ForensicsError: no release lines") for e in stats["errors"])
    assert (
        "This chart failed: ForensicsError: no release lines" in (tmp_path / "r.html").read_text()
    )


def test_findings_must_be_finding_objects(tiny: Path, tmp_path: Path) -> None:
    with pytest.raises(
        TypeError, match=r"a finding must be a forensics\.findings\.Finding, not dict"
    ):
        write_report(tiny, tmp_path / "r.html", findings=[{"kind": "crash"}])  # type: ignore[list-item]


def test_given_findings_are_escaped_and_redacted(tiny: Path, tmp_path: Path) -> None:
    finding = Finding(
        kind="crash",
        severity="critical",
        summary=f"{SCRIPT} crashed for {EMAIL}",
        dyno="web.7",
        evidence={"<k>": BOLD, "ips": [IPV4, IPV6]},
        sources=[Source(f"{BOLD}.log", 3, 5)],
    )
    stats = write_report(tiny, tmp_path / "r.html", findings=[finding], redact=True, title=BOLD)
    text = (tmp_path / "r.html").read_text()
    assert stats["findings"] == 1
    assert BOLD not in text and SCRIPT not in text and EMAIL not in text and IPV4 not in text
    assert "&lt;b&gt;bold&lt;/b&gt;.log:3–5" in text
    assert "crashed for [email]" in text


def test_evidence_records_are_tables_with_their_cells_escaped(tiny: Path, tmp_path: Path) -> None:
    rows = [{"route": f"/r{i}", "mb_per_request": 0.5 * i, "note": BOLD} for i in range(15)]
    rows[0]["only_in_first"] = True
    finding = Finding(
        kind="memory_leak", severity="critical", summary="s", evidence={"routes": rows}
    )
    write_report(tiny, tmp_path / "r.html", findings=[finding])
    text = (tmp_path / "r.html").read_text()
    table = text.split('<div class="records"><dt>routes</dt><dd><table>', 1)[1].split("</table>")[0]
    heads = [h.split("</th>")[0] for h in table.split("<th>")[1:]]
    assert heads == ["route", "mb per request", "note", "only in first"]
    assert table.count("<tr>") == 1 + 12  # header and the first 12 records
    assert '<td class="num">3.5</td>' in table and '<td class="">/r7</td>' in table
    assert BOLD not in text and "&lt;b&gt;bold&lt;/b&gt;" in table
    assert '<p class="note">+3 more</p>' in text
    assert "{'route'" not in text  # no Python reprs of the records


def test_sparse_dataset_explains_missing_charts(tiny: Path, tmp_path: Path) -> None:
    stats = write_report(tiny, tmp_path / "r.html", findings=[], cut=Cut(dyno="web"))
    text = (tmp_path / "r.html").read_text()
    assert stats["errors"] == []
    zoom_blocks = len(re.findall(r'<h4 id="i-[0-9a-f]+-\w+">', text))
    assert stats["charts"] + len(stats["notes"]) == 1 + 9 + zoom_blocks
    assert any("No memory data" in n for n in stats["notes"])
    assert "No findings" in text and "dyno web" in text


@pytest.mark.parametrize(
    ("value", "text"),
    [(1.6e-314, "1.6e-314"), (0.0042, "0.0042"), (0.0, "0"), (0.25, "0.25"), (27.7559, "27.76"),
     (1234.5, "1,234"), (-0.003, "-0.003"), (float("nan"), "–"), (True, "yes"), (5000, "5,000")],
)  # fmt: skip
def test_numbers_read_as_people_write_them(value: object, text: str) -> None:
    from forensics.report.page import fmt

    assert fmt(value) == text
