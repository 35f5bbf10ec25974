"""The finding builders are an explicit list with declared options (forensics.findings.builders)."""

from __future__ import annotations

import inspect

import pytest

import forensics.findings.builders as builders
from forensics.errors import ForensicsError
from forensics.findings import Finding, collect_findings


def test_unknown_option_raises_and_names_the_valid_ones():
    with pytest.raises(ForensicsError) as err:
        collect_findings(None, workres=2)
    msg = str(err.value)
    assert "workres" in msg
    assert "workers" in msg and "gap_minutes" in msg and "window_minutes" in msg
    assert "\n" not in msg


@pytest.mark.parametrize("builder", builders.BUILDERS, ids=lambda b: b.name)
def test_declared_options_match_explicit_signatures(builder):
    """A builder with keyword-only options declares exactly those (no silent drift)."""
    params = inspect.signature(builder.build).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        assert builder.options, f"{builder.name} takes **options but declares none"
        return
    keyword = {p.name for p in params if p.kind is p.KEYWORD_ONLY}
    assert builder.options == keyword


def test_each_option_goes_only_to_builders_that_declare_it(monkeypatch):
    seen: dict[str, dict] = {}

    def make(name):
        def build(con, **kw):
            seen[name] = kw
            return [Finding(kind="crash", severity="info", summary=name)]

        return build

    fake = (
        builders.Builder("a", make("a"), frozenset({"lifetimes", "workers"})),
        builders.Builder("b", make("b"), frozenset({"gap_minutes"})),
    )
    monkeypatch.setattr(builders, "BUILDERS", fake)
    monkeypatch.setattr(
        "forensics.analyses.memory.lifetimes_and_growth", lambda con, lt, gr: ("LT", "GR")
    )
    monkeypatch.setattr("forensics.analyses.attribution.route_attribution", lambda con, **kw: "ATT")
    out = collect_findings(None, workers=3, gap_minutes=5)
    assert seen == {"a": {"lifetimes": "LT", "workers": 3}, "b": {"gap_minutes": 5}}
    assert sorted(f.summary for f in out) == ["a", "b"]
    with pytest.raises(ForensicsError, match="threads"):
        collect_findings(None, threads=2)  # a real builder's option, but not a fake one's


def test_duration_text_reads_seconds_minutes_and_hours() -> None:
    from forensics.findings import duration_text

    assert duration_text(0.5) == "30 s"
    assert duration_text(25.4) == "25 min"
    assert duration_text(119.4) == "119 min"
    assert duration_text(210) == "3.5 h"
