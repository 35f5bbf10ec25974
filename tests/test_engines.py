"""The native engine (the compiled core) against the Polars engine, the reference: both give
identical frames (every column, dtype, null and row, in order) at every step of ingest (the
reader's envelope and rejects, each table and the parser rejects) on every test corpus, every
real export, the bundled sample, and generated and mangled lines; and the same dataset from
`forensics ingest`.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from ingest_helpers import ALL_TABLES, REAL, run_ingest
from polars.testing import assert_frame_equal
from test_properties import PROFILE, mangled_export, random_export

from forensics import native, readers
from forensics.parsers import parse_envelope
from forensics.readers.envelope import REJECT_COLUMNS

pytestmark = pytest.mark.skipif(not native.AVAILABLE, reason=native.NOT_BUILT)

ROOT = Path(__file__).resolve().parents[1]
CORPORA = [*sorted(REAL.glob("*.log")), ROOT / "tests/data/formats/equivalence.log"]
SAMPLE = ROOT / "data/samples/heroku-sample.log.gz"


def steps(data: bytes, engine: str, fmt: str | None = None) -> dict[str, object]:
    """Every frame ingest makes of `data` before writing, by step and batch."""
    fmt = fmt or readers.detect(data[: readers.SNIFF_BYTES])
    out: dict[str, object] = {}
    batches = readers.read(fmt, iter([data]), source_file="in.log", app="acme", engine=engine)
    for i, batch in enumerate(batches):
        out[f"{i}/envelope"] = batch.envelope
        out[f"{i}/read_rejects"] = batch.rejects.select(REJECT_COLUMNS)  # what the job keeps
        out[f"{i}/lines"] = batch.lines
        parsed = parse_envelope(batch.envelope, engine=engine)
        out |= {f"{i}/{t}": df for t, df in parsed.tables.items()}
        out[f"{i}/rejects"] = parsed.rejects
        out[f"{i}/records"] = parsed.records
    return out


def assert_same(data: bytes, fmt: str | None = None) -> dict[str, object]:
    ours, ref = steps(data, "native", fmt), steps(data, "polars", fmt)
    assert ours.keys() == ref.keys()
    for key, want in ref.items():
        got = ours[key]
        if isinstance(want, pl.DataFrame):
            assert isinstance(got, pl.DataFrame), key
            assert_frame_equal(got, want, check_exact=True), key
        else:
            assert got == want, key
    return ref


@pytest.mark.parametrize("path", CORPORA, ids=lambda p: p.name)
def test_every_corpus_gives_the_same_frames(path):
    ref = assert_same(path.read_bytes())
    assert any(isinstance(v, pl.DataFrame) and v.height for v in ref.values())


def test_the_sample_gives_the_same_frames():
    ref = assert_same(gzip.decompress(SAMPLE.read_bytes()))
    assert ref["0/requests"].height > 10_000  # the router path really ran


def test_the_sample_gives_the_same_dataset(tmp_path):
    ours = run_ingest([SAMPLE], tmp_path / "n", app="acme", engine="native")
    ref = run_ingest([SAMPLE], tmp_path / "p", app="acme", engine="polars")
    assert ours.summary.engine == "native" and ref.summary.engine == "polars"
    assert ours.summary.to_json()["totals"] == ref.summary.to_json()["totals"]
    for table in ALL_TABLES:
        order = ("source_file", "line_no")
        want = ref.table(table).sort(order, maintain_order=True)
        assert_frame_equal(ours.table(table).sort(order, maintain_order=True), want)


@PROFILE
@given(data=mangled_export())
def test_mangled_real_lines_give_the_same_frames(data):
    assert_same(data, "heroku-cli")


@PROFILE
@given(data=random_export())
def test_random_text_gives_the_same_frames(data):
    assert_same(data, "heroku-cli")


# Router lines and timestamps built from the pieces the parsers branch on.
_VALUES = st.sampled_from(
    ("", "0", "007", "18ms", "18", "+5", "-5", "1.5", "99999999999999999999", "2147483648",
     "ms", "x", "\u0663", " ", '"', "a b", "/p?q=1", "/", "?", "h.example", "é"))  # fmt: skip
_KEYS = ("at", "code", "desc", "method", "path", "host", "request_id", "fwd", "dyno",
         "connect", "service", "status", "bytes", "protocol", "tls_version", "extra")  # fmt: skip
_CANON = ("at", "method", "path", "host", "request_id", "fwd", "dyno", "connect", "service",
          "status", "bytes", "protocol")  # fmt: skip


@st.composite
def router_message(draw) -> str:
    """Mostly the usual line with odd values; sometimes keys dropped, added or reordered."""
    keys = list(_CANON)
    if draw(st.booleans()):
        keys = draw(st.permutations(keys)) if draw(st.booleans()) else keys[:-1]
    if draw(st.integers(0, 3)) == 0:
        keys.insert(draw(st.integers(0, len(keys))), draw(st.sampled_from(_KEYS)))
    parts = []
    for key in keys:
        value = "info" if key == "at" and draw(st.booleans()) else draw(_VALUES)
        if key in ("path", "fwd", "desc") and draw(st.integers(0, 4)):
            value = f'"{value}"'
        parts.append(f"{key}={value}")
    sep = draw(st.sampled_from((" ", " ", " ", "  ")))
    return sep.join(parts) + draw(st.sampled_from(("", "", " ", " tail")))


_PREFIX_KEYS = ("sock", "at", "code", "desc", "cause")
_PREFIX_VALUES = st.sampled_from(
    ("client", "error", "warning", "H12", '"Request timeout"', '"Client Request Interrupted"',
     '""', '"a"b"', "", '"x', "\t", "é"))  # fmt: skip


@st.composite
def router_error_message(draw) -> str:
    """The error and warning lines: some of `sock at code desc cause` in order, then the usual
    keys (sometimes one dropped or an extra one after `bytes`), odd values now and then."""
    parts = []
    for key in _PREFIX_KEYS:
        if draw(st.booleans()):
            quoted = key in ("desc", "cause")
            odd = draw(st.integers(0, 5)) == 0
            value = draw(_PREFIX_VALUES) if odd else '"Request timeout"' if quoted else "H13"
            parts.append(f"{key}={value}")
    usual = {"method": "GET", "path": '"/a?b=1"', "host": "h.example", "request_id": "r-1",
             "fwd": '"1.2.3.4"', "dyno": "web.1", "connect": "1ms", "service": "30000ms",
             "status": "503", "bytes": "0", "protocol": "https"}  # fmt: skip
    keys = list(usual)
    if draw(st.integers(0, 4)) == 0:
        del keys[draw(st.integers(0, len(keys) - 1))]
    if draw(st.integers(0, 4)) == 0:
        keys.insert(len(keys), draw(st.sampled_from(("tls_version", "agent", "extra"))))
    for key in keys:
        value = usual.get(key, '"x"')
        if draw(st.integers(0, 5)) == 0:
            value = draw(_VALUES)
            if key in ("path", "fwd") and draw(st.booleans()):
                value = f'"{value}"'
        parts.append(f"{key}={value}")
    return " ".join(parts) + draw(st.sampled_from(("",) * 6 + (" ", "  x")))


@PROFILE
@given(lines=st.lists(router_error_message(), min_size=1, max_size=20))
def test_generated_router_error_lines_give_the_same_frames(lines):
    assert_same(_lines(("heroku[router]:", m) for m in lines), "heroku-cli")


_DATES = ("2016-01-17T16:13:56", "2016-02-29T23:59:59", "2015-02-29T00:00:00",
          "1999-12-31T24:00:00", "2016-01-17T16:13:60", "0012-01-01T00:00:00",
          "2016-1-17T16:13:56", "2016-01-17 16:13:56")  # fmt: skip
_FRACTIONS = ("", ".", ".9", ".123456", ".1234567", ".123456789", ".1234567890", ".12a456",
              ".\u0663")  # fmt: skip
_ZONES = ("Z", "+00:00", "-07:00", "+0530", "+05:3", "", "z", "+99:99")
_TS = st.builds(lambda *p: "".join(p), *map(st.sampled_from, (_DATES, _FRACTIONS, _ZONES)))
_SOURCES = st.sampled_from(("heroku[router]:", "app[web.1]:", "heroku[web.1]:"))


@PROFILE
@given(lines=st.lists(st.tuples(_TS, _SOURCES, router_message()), min_size=1, max_size=20))
def test_generated_router_lines_give_the_same_frames(lines):
    assert_same("\n".join(" ".join(parts) for parts in lines).encode(), "heroku-cli")


_STAMP = "2024-05-20T06:00:00.000000+00:00 "
UUID = "32853e1c-a9c1-4d9b-910c-5e49389f928e"


def _lines(pairs) -> bytes:
    return "\n".join(_STAMP + src + " " + msg for src, msg in pairs).encode()


# Runtime-metrics samples built from the pieces the two parsers branch on.
_MEM = ("memory_total", "memory_rss", "memory_cache", "memory_swap", "memory_pgpgin",
        "memory_pgpgout", "memory_quota")  # fmt: skip
_LOAD = ("load_avg_1m", "load_avg_5m", "load_avg_15m")
_NUMBERS = st.sampled_from(
    ("0", "324.41", "0.00", "00.10", ".5", "1.", "3.2.4", "1e3", "-1", "1" * 19, "1" * 30,
     "\u0663", "", "12345678901234567890.5", "7"))  # fmt: skip
_UNITS = st.sampled_from(("", "MB", "kB", "GB", "pages", "x"))


@st.composite
def metrics_message(draw) -> str:
    """Mostly the usual memory or load sample with odd numbers; sometimes keys dropped, added,
    moved, or the 2013 form."""
    if draw(st.integers(0, 9)) == 0:
        return f"source=heroku.1.web.1.{UUID} measure={draw(st.sampled_from(_LOAD))} val=2"
    keys = list(_MEM if draw(st.booleans()) else _LOAD)
    if draw(st.integers(0, 2)) == 0:
        keys = draw(st.permutations(keys)) if draw(st.booleans()) else keys[:-1]
    if draw(st.integers(0, 3)) == 0:
        keys.insert(draw(st.integers(0, len(keys))), "extra")
    source = draw(st.sampled_from(("web.1", "worker.1", "w\u00f6rker.1", "", "web.1\tx")))
    dyno = draw(st.sampled_from(("heroku.97268060." + UUID, "heroku.x", "x")))
    parts = [f"source={source}", f"dyno={dyno}"]
    for key in keys:
        usual = "pages" if key in ("memory_pgpgin", "memory_pgpgout") else "MB"
        odd = draw(st.integers(0, 9)) == 0  # each key: mostly the usual number and unit
        unit = draw(_UNITS) if odd else "" if key in _LOAD else usual
        number = draw(_NUMBERS) if odd or draw(st.booleans()) else "12.5"
        parts.append(f"sample#{key}={number}{unit}")
    sep = draw(st.sampled_from((" ",) * 6 + ("\t", "  ")))
    return sep.join(parts) + draw(st.sampled_from(("", "", " ")))


_METRIC_SOURCES = st.sampled_from(("heroku[web.1]:", "heroku[web.1]:", "app[web.1]:"))


@PROFILE
@given(lines=st.lists(st.tuples(_METRIC_SOURCES, metrics_message()), min_size=1, max_size=20))
def test_generated_runtime_metrics_give_the_same_frames(lines):
    assert_same(_lines(lines), "heroku-cli")


_ID_PIECES = st.sampled_from(
    ("request_id=", 'request_id="', '"request_id"', '"requestId"', '"request_Id"', '"requestid"',
     ":", " : ", '"', "[", "]", UUID, UUID.upper(), UUID[:-1], "abc", " ", "\t", "\u00a0",
     "\u2003", "\u0085", "\u00e9", "x=1", "q", "re"))  # fmt: skip


@PROFILE
@given(msgs=st.lists(st.lists(_ID_PIECES, max_size=12).map("".join), min_size=1, max_size=20))
def test_generated_request_ids_give_the_same_frames(msgs):
    assert_same(_lines(("app[web.1]:", m) for m in msgs), "heroku-cli")


# Which family takes a line: every source and message head the `matches()` test.
_FAMILY_SOURCES = st.sampled_from(
    ("heroku[router]:", "heroku[web.1]:", "app[web.1]:", "app[api]:", "heroku[api]:",
     "app[log-shuttle]:", "app[heroku-redis]:", "app[heroku-postgres]:", "heroku[heroku-kafka]:",
     "heroku[logplex]:"))  # fmt: skip
_FAMILY_PIECES = st.sampled_from(
    ("source=", "sample#", "addon=", "Error L10 (output buffer overflow)", "heroku.", " measure=",
     " dyno=heroku.", " sample#a=1", "at=info", " x", "Process running mem=1M(1.0%)"))  # fmt: skip


@PROFILE
@given(
    lines=st.lists(
        st.tuples(_FAMILY_SOURCES, st.lists(_FAMILY_PIECES, max_size=5).map("".join)),
        min_size=1,
        max_size=20,
    )
)
def test_generated_families_give_the_same_frames(lines):
    assert_same(_lines(lines), "heroku-cli")


def test_a_polars_only_engine_is_said_once(tmp_path, monkeypatch):
    from forensics.cli.text import ingest_summary_text

    monkeypatch.setattr(native, "AVAILABLE", False)
    log = tmp_path / "in.log"
    log.write_bytes(b"2016-01-17T16:13:56Z app[web.1]: hi\n")
    ds = run_ingest([log], tmp_path / "d", engine=None)
    text = ingest_summary_text(ds.summary)
    assert ds.summary.engine == "polars"
    assert text.count("native engine is not built") == 1


_SEGMENTS = st.sampled_from(
    ("", "users", "123", "123.json", "123.toolong", "123.", "9f86d081", "9F86D081", "9F86d081",
     "deadbeef", "deadbeefdeadbeef", "123e4567-e89b-12d3-a456-426614174000", "AbCdEfGh12345678_-",
     "abcdefghijklmnopq", "app-0123456789abcdef0123.css", "caf\u00e9", "\u0663\u0664", "a b",
     ":id", "x\x01y", "%20", "0x1F"))  # fmt: skip


@PROFILE
@given(paths=st.lists(st.lists(_SEGMENTS, max_size=6).map("/".join), min_size=1, max_size=30))
def test_route_templates_match_the_polars_rules(paths):
    from forensics.routes import route_expr

    paths = pl.Series("path", [*paths, None], dtype=pl.String)
    want = paths.to_frame().select(route_expr(pl.col("path")).alias("route"))["route"]
    got = native.route_templates(paths)
    handled = got["handled"]
    assert handled[:-1].to_list() == [p.isascii() and p.isprintable() for p in paths[:-1]]
    assert_frame_equal(got.filter(handled).select("route"), want.filter(handled).to_frame())


@pytest.mark.parametrize("engine", ["native", "polars"])
def test_the_cli_summary_says_which_engine_ran(tmp_path, engine):
    import json

    from click.testing import CliRunner

    from forensics.cli.main import main

    log = tmp_path / "in.log"
    log.write_bytes(b"2016-01-17T16:13:56Z app[web.1]: hi\n")
    args = ["ingest", str(log), "-o", str(tmp_path / engine), "-q", "--engine", engine]
    text = CliRunner().invoke(main, args)
    as_json = CliRunner().invoke(main, [*args[:3], str(tmp_path / "j"), *args[4:], "--json"])
    assert text.exit_code == 0 and as_json.exit_code == 0, text.output + as_json.output
    assert f"engine          {engine}" in text.output
    assert json.loads(as_json.output)["engine"] == engine


# RFC 5424 headers built from the pieces `rfc5424` branches on: half in the plain form the
# core takes, half with an odd PRI, timestamp, HOSTNAME, PROCID, MSGID or SD.
_TOKEN = "d.8f7a4b11-c323-c764-a74f-89bf4c1100ab"
_PRIS = ("<190>1 ", "<45>1 ", "", "<1a>1 ", "<1234>1 ", "<40>2 ", "<\u0663>1 ", "<>1 ")
_HOSTS = ("host", "heroku", "app", _TOKEN, "myapp", "ho[st", "", "d.", "caf\u00e9")
_APPS = ("app", "heroku", "router", "heroku-postgres", "we[b", "", "-")
_PROCIDS = ("web.1", "-", "router", _TOKEN, "", "w\u00f6rker.1")
_SDS = ("-", "[x]", "[a", "b]", "[]", "", "-x")
_MSGS = ("Started GET", "- msg", "[x] msg", "", " two  spaces", "at=info method=GET path=/",
         "caf\u00e9 \u2003", "-", "tab\there")  # fmt: skip
_PLAIN_TS = st.sampled_from(
    ("2014-07-17T12:59:25.223980+00:00", "2012-11-30T06:45:29+00:00", "2019-05-01T11:23:05Z",
     "2016-02-29T23:59:59.9-07:00"))  # fmt: skip


@st.composite
def rfc5424_line(draw) -> str:
    """One RFC 5424 text without a frame count."""
    if draw(st.booleans()):  # the plain layouts the core takes
        ts, pri = draw(_PLAIN_TS), draw(st.sampled_from(_PRIS[:3]))
        layout = draw(st.integers(0, 4))
        msg = draw(st.sampled_from(_MSGS))
        procid = draw(st.sampled_from(_PROCIDS[:4]))
        head = (f"host app {procid} -", f"{_TOKEN} app {procid} - -",
                f"heroku {procid} {_TOKEN} -", f"heroku {procid} - -",
                f"myapp heroku {procid} - [x]")[layout]  # fmt: skip
        return f"{pri}{ts} {head} {msg}"
    ts = draw(st.one_of(_TS, _PLAIN_TS.map(lambda t: t.replace("T", " ", 1))))
    fields = [draw(st.sampled_from(pieces)) for pieces in (_HOSTS, _APPS, _PROCIDS, _SDS, _SDS)]
    fields = fields[: draw(st.integers(0, 5))]
    sep = draw(st.sampled_from((" ", " ", " ", "  ")))
    return draw(st.sampled_from(_PRIS)) + sep.join([ts, *fields, draw(st.sampled_from(_MSGS))])


@PROFILE
@given(lines=st.lists(rfc5424_line(), min_size=1, max_size=20))
def test_generated_syslog_lines_give_the_same_frames(lines):
    bsd = "Jan  8 10:55:11 host app[web.1]: Completed 200 OK in 12ms"
    assert_same("\n".join([*lines, bsd]).encode(), "syslog")


@PROFILE
@given(
    frames=st.lists(
        st.tuples(rfc5424_line(), st.sampled_from(("", "\n", " ", "\r\n"))), min_size=1, max_size=20
    )
)
def test_generated_drain_frames_give_the_same_frames(frames):
    body = b"".join(
        str(len(text.encode())).encode() + b" " + text.encode() + end.encode()
        for text, end in frames
    )
    assert_same(b"2019-05-01 11:14:53.114 " + body, "drain")


_GENERATED_AT = st.sampled_from(
    ("2011-02-10 00:19:36 -0800", "2011-02-10 00:19:36 +0000", "2011-02-10T08:19:36Z",
     "2011-02-10 00:19:36", "2011-02-10  00:19:36 -0800", "2011-02-10 00:19:36 -08:00",
     "2011-02-30 00:19:36 -0800", "2011-02-10 00:19:36.5 -0800", "", "x" * 50,
     "2011-02-10 00:19:36 -0800 x"))  # fmt: skip
_PROGRAMS = st.sampled_from(
    ("heroku/router", "app/web.1", "heroku/web.1/x", "cron", "", "/", "app/", "caf\u00e9/web.1")
)


@st.composite
def archive_row(draw) -> str:
    """A Papertrail archive row: mostly ten columns, an odd time or program now and then."""
    cols = ["700000001", draw(_GENERATED_AT), "2011-02-10 00:19:37 -0800", "42424",
            draw(st.sampled_from(("warm-cliffs-8392", "", "caf\u00e9"))), "10.0.0.1", "Local7",
            "Info", draw(_PROGRAMS), draw(st.sampled_from(_MSGS))]  # fmt: skip
    if draw(st.integers(0, 4)) == 0:
        cols = cols[: draw(st.integers(1, 9))]
    elif draw(st.integers(0, 4)) == 0:
        cols.append("more\tcolumns")
    return "\t".join(cols)


@PROFILE
@given(rows=st.lists(archive_row(), min_size=1, max_size=20))
def test_generated_archive_rows_give_the_same_frames(rows):
    first = "700000000\t2011-02-10 00:19:36 -0800\tx\t1\ts\tip\tf\ts\theroku/router\tat=info"
    assert_same("\n".join([first, *rows, ""]).encode(), "papertrail")


def test_the_core_takes_the_usual_syslog_drain_and_archive_lines():
    """Most lines of every format go through the core, not the Polars fallback."""
    from forensics.readers.lines import iter_line_batches

    text = (ROOT / "tests/data/formats/equivalence.log").read_text()
    syslog = [
        f"<190>1 {line.split(' ', 1)[0]} host app web.1 - {line.split(': ', 1)[-1]}"
        for line in text.splitlines()
    ]
    env = native.rfc5424_envelope(pl.Series(syslog))
    assert env["handled"].all()
    rows = next(iter_line_batches([REAL_ARCHIVE], source_file="a.tsv"))["raw"]
    assert native.papertrail_tsv(rows)["handled"].all()


REAL_ARCHIVE = (
    b"50342052\t2011-02-10 00:19:36 -0800\t2011-02-10 00:19:36 -0800\t42424\twarm-cliffs-8392\t"
    b"1.2.3.4\tLocal3\tInfo\theroku/router\tat=info method=GET path=/ status=200\n"
    b"50342053\t2011-02-10 00:19:37 -0800\t2011-02-10 00:19:37 -0800\t42424\twarm-cliffs-8392\t"
    b'1.2.3.4\tLocal3\tInfo\tapp/web.1\tStarted GET "/"\twith a tab'
)
