"""The native and Polars engines on the real `heroku logs` exports rendered into every other
export format (RFC 5424 syslog, drain bodies, Papertrail archives): identical frames at every
step (see `test_engines`)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import reader_render as rr
from ingest_helpers import REAL
from test_engines import assert_same

from forensics import native

pytestmark = pytest.mark.skipif(not native.AVAILABLE, reason=native.NOT_BUILT)

STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d) ")
RENDER = {
    "syslog": rr.syslog_5424,
    "drain": rr.drain_body,
    "papertrail": lambda events: rr.papertrail_tsv(events, "warm-cliffs-8392"),
}


def _events(path: Path) -> list[rr.Event]:
    """The export's well-formed lines (a real export also holds cut ones: `14T08:34:44...`)."""
    lines = path.read_text(errors="replace").splitlines()
    text = "\n".join(ln for ln in lines if rr._CLI.match(ln) and STAMP.match(ln))
    return rr.parse_cli(text)


# the real `heroku logs` exports with well-formed lines (one holds only cut ones)
CLI = [p for p in sorted(REAL.glob("*.log")) if _events(p)]


@pytest.mark.parametrize("fmt", sorted(RENDER))
@pytest.mark.parametrize("path", CLI, ids=lambda p: p.name)
def test_real_exports_in_every_format_give_the_same_frames(path, fmt):
    events = _events(path)
    ref = assert_same(RENDER[fmt](events), fmt)
    rows = sum(v.height for k, v in ref.items() if k.endswith("/envelope"))
    assert rows == len(events)
