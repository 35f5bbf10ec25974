"""Properties of `ingest` on hostile input: random text, and real lines mangled the ways pasted
exports get mangled (characters dropped, doubled or replaced, lines cut or wrapped at random
places, invalid UTF-8, NUL bytes, CRLF, very long lines). It never crashes, and every input
line is covered by exactly one record (rows cover line_no .. line_no + line_count - 1), and
the summary adds up.

Examples are derandomized (same examples on every run) and few, so CI is stable and fast.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ingest_helpers import REAL, Ingested, coverage, line_count_of, run_ingest, summary_adds_up

from forensics.errors import InputError

TEXT_FILES = ("src-007", "src-009", "src-010", "src-012", "src-014", "src-016", "src-019",
              "src-022", "src-024", "src-027", "src-033", "src-038", "src-040", "src-041",
              "src-046", "src-049")  # fmt: skip
REAL_LINES = sorted({
    line
    for name in TEXT_FILES
    for line in (REAL / f"{name}.log").read_bytes().split(b"\n")
    if line.strip()
})  # fmt: skip
BAD_BYTES = (b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x81", b"\xf0\x9f", b"\x00", b"\x1b[31m")

PROFILE = settings(
    max_examples=30,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@st.composite
def mangled_line(draw) -> bytes:
    """A real line with up to 3 edits at random places."""
    line = bytearray(draw(st.sampled_from(REAL_LINES)))
    for _ in range(draw(st.integers(0, 3))):
        op = draw(st.sampled_from(("drop", "double", "replace", "cut", "bytes", "wrap", "long")))
        i = draw(st.integers(0, len(line)))
        if op == "drop":
            del line[i : i + 1]
        elif op == "double":
            line[i:i] = line[i : i + 1]
        elif op == "replace":
            line[i : i + 1] = draw(st.sampled_from(b"0123456789 :-T.+[]=\"'x")).to_bytes()
        elif op == "cut":
            del line[i:]
        elif op == "bytes":
            line[i:i] = draw(st.sampled_from(BAD_BYTES))
        elif op == "wrap":
            line[i:i] = b"\n"
        else:
            line += b"y" * draw(st.integers(10_000, 120_000))
    return bytes(line)


@st.composite
def mangled_export(draw) -> bytes:
    lines = draw(st.lists(mangled_line(), min_size=1, max_size=12))
    end = draw(st.sampled_from((b"\n", b"\r\n")))
    data = end.join(lines)
    return data + end if draw(st.booleans()) else data


PREFIXES = st.sampled_from((
    "2024-05-20T22:17:43.421593+00:00 app[web.1]: ",
    "2012-01-20T02:10:47+00:00 heroku[router]: ",
    "2010-10-06T21:51:07-07:00 heroku[web.1]: ",
    "heroku[router]: ",
    "",
))  # fmt: skip


@st.composite
def random_export(draw) -> bytes:
    """Random Unicode text, some lines behind a real-looking prefix."""
    lines = draw(st.lists(st.tuples(PREFIXES, st.text(max_size=120)), max_size=15))
    return "\n".join(p + t for p, t in lines).encode("utf-8", errors="surrogatepass")


def _ingest_bytes(data: bytes, tmp: Path) -> Ingested | None:
    """Ingest `data`; None when it was refused as binary (NUL or control bytes up front)."""
    src = tmp / "in.log"
    src.write_bytes(data)
    try:
        return run_ingest([src], tmp / "ds")
    except InputError as e:
        assert "binary data" in str(e)
        head = data[:8192]
        assert b"\x00" in head or sum(b < 32 and b not in b"\t\n\r\x1b" for b in head) > 0
        return None


def _assert_fully_covered(data: bytes, ds: Ingested | None) -> None:
    if ds is None:
        return
    n = line_count_of(data)
    f = ds.file
    # lines but no record, and not only blank ones: the file is named "not a Heroku log"
    no_log = n and not sum(f.records.values()) and set(f.rejects_by_reason) - {"blank"}
    assert f.status == ("not_a_log" if no_log else "ingested" if n else "empty")
    assert ds.file.lines == n
    assert coverage(ds) == {(ds.file.name, i): 1 for i in range(1, n + 1)}
    # A reject spanning several lines is counted as one line: a known bug, checked by
    # test_accounting.py::test_multi_line_reject_is_counted_in_the_summary.
    if ds.table("rejects").filter(pl.col("line_count") > 1).is_empty():
        lines, parts = summary_adds_up(ds.file)
        assert lines == parts


@PROFILE
@given(data=mangled_export())
def test_mangled_real_lines_are_all_accounted_for(data):
    with tempfile.TemporaryDirectory() as tmp:
        _assert_fully_covered(data, _ingest_bytes(data, Path(tmp)))


@PROFILE
@given(data=random_export())
def test_random_text_is_all_accounted_for(data):
    with tempfile.TemporaryDirectory() as tmp:
        _assert_fully_covered(data, _ingest_bytes(data, Path(tmp)))


def test_nul_byte_after_the_first_8_kb_is_replaced_not_fatal(tmp_path):
    """Binary detection only looks at the head; a NUL later in a text log is just a character."""
    clean = (REAL / "src-012.log").read_bytes().split(b"\n")[:150]
    head = b"\n".join(clean) + b"\n"
    assert len(head) > 8192
    data = head + b"2024-05-21T07:42:05.000001+00:00 app[web.1]: a\x00b\n"
    ds = _ingest_bytes(data, tmp_path)
    assert ds is not None
    _assert_fully_covered(data, ds)
    assert ds.table("app_logs")["message"].to_list()[-1] == "a\ufffdb"


def test_a_year_12_timestamp_is_kept_not_fatal(tmp_path):
    """A mangled year (0012) gives a negative epoch; the dedup key must still be computed."""
    data = b"0012-01-11T05:05:34+00:00 heroku[api]: Release v8 created by a@b.c\n"
    ds = _ingest_bytes(data, tmp_path)
    _assert_fully_covered(data, ds)
