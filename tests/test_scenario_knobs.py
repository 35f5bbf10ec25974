"""The newer scenario knobs write the lines and the truth they claim (short scenarios)."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from forensics.scenario import ScenarioConfig, generate
from forensics.scenario.lifecycle import CRASH_STACKS

BASE: dict[str, Any] = {
    "hours": 4.0,
    "rps": 0.4,
    "leak_route": None,
    "h12_route": None,
    "transient_route": None,
    "cycling": False,
}


def run(tmp_path: Path, **knobs: Any) -> tuple[dict[str, Any], list[str]]:
    log = tmp_path / "s.log"
    truth = generate(ScenarioConfig(**{**BASE, **knobs}), log)
    return truth, log.read_text().split("\n")[:-1]


def ts(line: str) -> datetime:
    return datetime.fromisoformat(line[:32])


def at(s: str) -> datetime:
    return datetime.fromisoformat(s)


def test_knobs_off_write_no_new_truth(tmp_path: Path) -> None:
    truth, lines = run(tmp_path, seed=3)
    assert truth["warmup"] is None and truth["crash_reason"] is None
    assert truth["request_errors"] == [] and truth["downtime"] == []
    assert truth["idling"] is None and truth["hung_dyno"] is None and truth["log_loss"] is None
    assert not any("Idling" in x or "Traceback" in x or "heroku[logplex]" in x for x in lines)


def test_web_outage_h10s_inside_the_truth_window(tmp_path: Path) -> None:
    truth, lines = run(
        tmp_path, seed=5, releases=3, web_outage_release=3, web_outage_releases=1,
        crash_stack="python",
    )  # fmt: skip
    (d,) = truth["downtime"]
    assert d["process_type"] == "web" and d["ended_by"] == "release"
    start, end = at(d["start"]), at(d["end"])
    assert d["minutes"] == pytest.approx((end - start).total_seconds() / 60, abs=0.01)
    # web is down from v3's last failed boot until v4 brings a web dyno up
    v4 = next(ts(x) for x in lines if "Release v4 created" in x)
    assert start < v4 < end
    h10 = [ts(x) for x in lines if "code=H10" in x]
    inside = [t for t in h10 if start - timedelta(seconds=5) <= t <= end + timedelta(seconds=5)]
    assert d["failed_requests"] > 0 and len(inside) >= d["failed_requests"]
    ups = [
        ts(x)
        for x in lines
        if re.search(r"heroku\[web\.\d\]: State changed from starting to up", x)
    ]
    assert not [t for t in ups if start < t < end]
    # each failed boot prints the Python traceback, then exits 1
    exits = [
        i
        for i, x in enumerate(lines)
        if re.search(r"heroku\[web\.\d\]: Process exited with status 1$", x)
    ]
    assert len(exits) == d["boot_failures"] >= 2
    for i in exits:
        assert any("KeyError: 'IMPORT_FEED_TOKEN'" in x for x in lines[max(0, i - 40) : i])
    assert truth["crash_reason"]["text"] == "KeyError: 'IMPORT_FEED_TOKEN'"


@pytest.mark.parametrize("stack", sorted(CRASH_STACKS))
def test_crash_stack_printed_before_each_crash_exit(tmp_path: Path, stack: str) -> None:
    truth, lines = run(
        tmp_path, seed=8, crash_worker="worker.1", crash_at_hours=1.0, crash_stack=stack
    )
    reason = CRASH_STACKS[stack][0]
    assert reason in truth["crash_reason"]["texts"]
    exits = [
        i for i, x in enumerate(lines) if "heroku[worker.1]: Process exited with status 1" in x
    ]
    assert len(exits) == 3  # the crash and two failed boots
    last = CRASH_STACKS[stack][1][-1].strip()
    for i in exits[1:] if stack == "ruby" else exits:
        block = [x.split(": ", 1)[1] for x in lines[i - 12 : i] if "app[worker.1]" in x]
        assert any(last in x for x in block)
    (d,) = truth["downtime"]
    assert d["ended_by"] == "end-of-log" and d["dyno"] == "worker.1"


def test_worker_crash_cooloff_recovery(tmp_path: Path) -> None:
    truth, lines = run(
        tmp_path, seed=9, crash_worker="worker.1", crash_at_hours=1.0, crash_recovery="cooloff"
    )
    (d,) = truth["downtime"]
    assert d["ended_by"] == "cooloff" and d["minutes"] >= 20
    up = [ts(x) for x in lines if "heroku[worker.1]: State changed from starting to up" in x]
    assert at(d["end"]) in up
    assert truth["crashed_worker"]["stays_down"] is False


def test_worker_crash_ends_with_deploy(tmp_path: Path) -> None:
    truth, lines = run(
        tmp_path, seed=9, crash_worker="worker.1", crash_at_hours=1.0, crash_recovery="deploy",
        release_hours=(2.5,),
    )  # fmt: skip
    (d,) = truth["downtime"]
    release = next(ts(x) for x in lines if "Release v2 created" in x)
    assert d["ended_by"] == "deploy" and release < at(d["end"]) < release + timedelta(minutes=2)


def test_error_burst_500s_and_exceptions(tmp_path: Path) -> None:
    truth, lines = run(
        tmp_path, seed=4, rps=1.0, error_route="/api/v1/items/:id", error_start_min=60,
        error_minutes=15, error_fraction=1.0,
    )  # fmt: skip
    (e,) = truth["request_errors"]
    start, end = at(e["start"]), at(e["end"])
    assert end - start == timedelta(minutes=15)
    errs = [
        x for x in lines
        if 'path="/api/v1/items/' in x and "status=500" in x and "method=GET" in x
        and start <= ts(x) <= end + timedelta(seconds=5)
    ]  # fmt: skip
    assert e["count"] >= 10 and len(errs) == e["count"]
    fatal = [x for x in lines if "FATAL" in x and "NoMethodError" in x and start <= ts(x) <= end]
    assert fatal


def test_idling_is_not_downtime(tmp_path: Path) -> None:
    truth, lines = run(tmp_path, seed=6, web_size="eco", web_dynos=1, idle_at_hours=1.5,
                       idle_minutes=45)  # fmt: skip
    idle = truth["idling"]
    assert idle["dynos"] == ["web.1"] and idle["downtime"] is False and truth["downtime"] == []
    start, end = at(idle["start"]), at(idle["end"])
    text = [x for x in lines if "heroku[web.1]" in x]
    order = [
        "Idling",
        "State changed from up to down",
        "Unidling",
        "State changed from down to starting",
    ]
    found = [next(i for i, x in enumerate(text) if x.endswith(": " + o)) for o in order]
    assert found == sorted(found)
    router = [ts(x) for x in lines if "heroku[router]" in x]
    assert not [t for t in router if start + timedelta(seconds=10) < t < end]


def test_hung_dyno_h12s_until_restart(tmp_path: Path) -> None:
    truth, lines = run(tmp_path, seed=2, rps=1.0, web_dynos=2, hung_dyno="web.2",
                       hung_at_hours=1.0, hung_minutes=10)  # fmt: skip
    h = truth["hung_dyno"]
    start, end = at(h["start"]), at(h["end"])
    mine = [x for x in lines if "heroku[router]" in x and "dyno=web.2 " in x]
    inside = [x for x in mine if start + timedelta(seconds=31) <= ts(x) <= end]
    assert inside and all("code=H12" in x for x in inside)
    assert h["h12"] == sum("code=H12" in x for x in mine) >= len(inside)
    other = [x for x in lines if "dyno=web.1 " in x and start <= ts(x) <= end]
    assert other and not any("code=H12" in x for x in other)
    restart = next(ts(x) for x in lines if "heroku[web.2]: Restarting" in x)
    assert end < restart < end + timedelta(minutes=2)


def test_worker_warmup_grows_slower(tmp_path: Path) -> None:
    def growth(**knobs: Any) -> float:
        _, lines = run(tmp_path, seed=12, hours=6.0, release_hours=(), **knobs)
        rss = [
            (ts(x), float(re.search(r"memory_rss=([\d.]+)MB", x).group(1)))  # type: ignore[union-attr]
            for x in lines
            if "heroku[worker.1]: source=worker.1" in x and "memory_rss" in x
        ]
        first = [m for t, m in rss if t < rss[0][0] + timedelta(hours=1)]
        last = [m for t, m in rss if t > rss[-1][0] - timedelta(hours=1)]
        return sum(last) / len(last) - sum(first) / len(first)

    slow = growth(worker_warmup_hours=10.0)
    assert slow > growth() + 20


def test_cli_passes_the_new_knobs(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from forensics.scenario.cli import main

    out = tmp_path / "c.log"
    args = ["-o", str(out), "--hours", "3", "--rps", "0.3", "--no-leak", "--no-h12",
            "--hung-dyno", "web.1", "--hung-at", "1", "--error-route", "/users/:id",
            "--crash-worker", "worker.1", "--crash-at", "1", "--crash-recovery", "cooloff",
            "--crash-stack", "node", "--warmup-hours", "5", "--log-loss-at", "2",
            "--log-loss-minutes", "6", "--log-loss-fraction", "0.5",
            "--log-loss-code", "L11"]  # fmt: skip
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    cfg = json.loads((tmp_path / "c.truth.json").read_text())["config"]
    assert cfg["hung_dyno"] == "web.1" and cfg["error_route"] == "/users/:id"
    assert cfg["crash_recovery"] == "cooloff" and cfg["crash_stack"] == "node"
    assert cfg["worker_warmup_hours"] == 5.0
    assert (cfg["log_loss_at_hours"], cfg["log_loss_minutes"]) == (2.0, 6.0)
    assert (cfg["log_loss_fraction"], cfg["log_loss_code"]) == (0.5, "L11")


def test_generate_creates_the_output_folder(tmp_path) -> None:
    """`forensics generate -o new/dir/app.log` writes there (it used to fail with a traceback)."""
    from click.testing import CliRunner

    from forensics.cli import main

    out = tmp_path / "new" / "dir" / "app.log"
    done = CliRunner().invoke(main, ["generate", "-o", str(out), "--hours", "0.5"])
    assert done.exit_code == 0, done.output
    assert out.stat().st_size > 0


MISSING = {
    "ruby": "Errno::ENOENT (No such file or directory @ rb_sysopen - ",
    "python": "FileNotFoundError: [Errno 2] No such file or directory: '",
    "node": "Error: ENOENT: no such file or directory, open '",
    "java": "java.io.FileNotFoundException: ",
}


@pytest.mark.parametrize("stack", sorted(MISSING))
def test_ephemeral_files_lost_on_other_dynos_and_restarts(tmp_path: Path, stack: str) -> None:
    """Each failed download names a file that a line of another dyno, or of the same dyno
    before its restart, said it wrote; the truth counts them."""
    truth, lines = run(
        tmp_path, seed=8, web_dynos=2, releases=1, ephemeral_files=True, ephemeral_stack=stack,
        ephemeral_reads_per_hour=20.0,
    )  # fmt: skip
    e = truth["ephemeral_files"]
    errs = [x for x in lines if MISSING[stack] in x]
    assert e["errors"] == len(errs) >= 5 and e["reads"] > e["errors"]
    assert e["other_dyno"] + e["after_restart"] == e["errors"] and e["other_dyno"]
    wrote = {}
    for x in lines:
        m = re.search(r"app\[(web\.\d)\]: .*(?:written to|wrote|written) (/\S+)", x)
        if m:
            wrote.setdefault(m.group(2), []).append((ts(x), m.group(1)))
    for x in errs:
        path = re.search(r"(/(?:app/)?tmp/exports/report-\d+\.csv)", x).group(1)  # type: ignore[union-attr]
        dyno = re.search(r"app\[(web\.\d)\]", x).group(1)  # type: ignore[union-attr]
        before = [(t, d) for t, d in wrote[path] if t < ts(x)]
        assert before  # it was written, earlier
    # the router answered 500 for each of them
    bad = [x for x in lines if "/download" in x and "heroku[router]" in x and "status=500" in x]
    assert len(bad) == e["errors"]
    assert dyno


def test_ephemeral_files_off_changes_nothing(tmp_path: Path) -> None:
    """The knob draws from its own random stream: without it, a scenario is unchanged."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    _, off = run(tmp_path / "a", seed=9, hours=2.0)
    truth, on = run(tmp_path / "b", seed=9, hours=2.0, ephemeral_files=True)
    added = set(on) - set(off)
    assert set(off) <= set(on)
    router = [x for x in added if "heroku[router]" in x]
    assert all('/download" ' in x for x in router)
    assert len(router) == truth["ephemeral_files"]["reads"] > 0
    assert all(re.search(r" app\[web\.\d\]: ", x) for x in set(added) - set(router))


# ----- log loss --------------------------------------------------------------------------------

L10_RE = re.compile(
    r"^(\S+) heroku\[logplex\]: Error L10 \(output buffer overflow\): (\d+) messages dropped "
    r"since (\S+)\.$"
)
L11_RE = re.compile(
    r"^(\S+) heroku\[logplex\]: Error L11 \(Tail buffer overflow\) -> This tail session "
    r"dropped (\d+) messages since (\S+)$"
)


def _with_and_without(tmp_path: Path, **knobs: Any) -> tuple[dict[str, Any], list[str], list[str]]:
    (tmp_path / "off").mkdir()
    (tmp_path / "on").mkdir()
    _, off = run(tmp_path / "off", seed=12, hours=3.0)
    truth, on = run(tmp_path / "on", seed=12, hours=3.0, **knobs)
    return truth, off, on


def test_log_loss_gap_drops_every_source_and_reports_it(tmp_path: Path) -> None:
    """A gap: every line of the 12 minutes is missing, from every source, and nothing else;
    one L10 line after it says how many (exactly the lines dropped) since the first of them."""
    truth, off, on = _with_and_without(tmp_path, log_loss_at_hours=1.5, log_loss_minutes=12)
    loss = truth["log_loss"]
    reports = [x for x in on if "heroku[logplex]" in x]
    rest = [x for x in on if "heroku[logplex]" not in x]
    missing = sorted(set(off) - set(rest), key=lambda x: x[:32])
    assert set(rest) <= set(off) and len(off) - len(rest) == len(missing)
    # the rest is the same export, in the same order
    assert rest == [x for x in off if x not in set(missing)]
    w0, w1 = at(loss["window_start"]), at(loss["window_end"])
    assert all(w0 - timedelta(milliseconds=50) <= ts(x) < w1 for x in missing)
    inside = [x for x in off if w0 <= ts(x) < w1 - timedelta(seconds=1)]
    assert set(inside) <= set(missing)  # a gap: nothing of the window is left
    for src in ("heroku[router]", "app[web.1]", "heroku[web.1]", "app[worker.1]",
                "heroku[worker.1]", "app[heroku-redis]"):  # fmt: skip
        assert any(f" {src}: " in x for x in missing), src
    (line,) = reports
    m = L10_RE.match(line)
    assert m, line
    when, n, since = datetime.fromisoformat(m.group(1)), int(m.group(2)), m.group(3)
    assert n == len(missing) == loss["dropped"] == loss["reported"]
    assert since == missing[0][:19] + "+00:00" and loss["start"] == missing[0][:32]
    assert when >= w1 and when.microsecond == 0 and loss["reports"][0]["time"] == m.group(1)
    # the report sits in time order, right after the gap
    i = on.index(line)
    assert ts(on[i - 1]) < w1 <= when <= ts(on[i + 1])
    assert truth["counts"]["lines"] == len(on)


def test_log_loss_thinning_l11_reports_each_chunk(tmp_path: Path) -> None:
    """A thinning (half of every source's lines) in a tail session: several L11 reports, each
    counting the lines dropped since its own since; together every line missing."""
    truth, off, on = _with_and_without(
        tmp_path, log_loss_at_hours=1.0, log_loss_minutes=10, log_loss_fraction=0.5,
        log_loss_code="L11",
    )  # fmt: skip
    loss = truth["log_loss"]
    reports = [L11_RE.match(x) for x in on if "heroku[logplex]" in x]
    assert len(reports) >= 3 and all(reports)
    rest = [x for x in on if "heroku[logplex]" not in x]
    missing = sorted(set(off) - set(rest), key=lambda x: x[:32])
    assert set(rest) <= set(off)
    w0, w1 = at(loss["window_start"]), at(loss["window_end"])
    inside = [x for x in off if w0 <= ts(x) < w1]
    assert all(w0 - timedelta(milliseconds=50) <= ts(x) < w1 for x in missing)
    assert 0.35 < len(missing) / len(inside) < 0.65
    assert sum(int(m.group(2)) for m in reports if m) == len(missing) == loss["dropped"]
    # each report: the lines dropped since its since and before it, none left unreported
    prev = None
    for m, r in zip(reports, loss["reports"], strict=True):
        assert m is not None
        when, since = datetime.fromisoformat(m.group(1)), datetime.fromisoformat(m.group(3))
        assert since <= ts(r["first"]) < since + timedelta(seconds=1) and ts(r["last"]) < when
        mine = [x for x in missing if r["first"] <= x[:32] <= r["last"]]
        assert len(mine) == int(m.group(2))
        assert prev is None or prev <= since
        prev = when
    assert {"router", "app", "metrics_memory"} <= set(loss["by_kind"])


def test_log_loss_off_writes_the_same_export(tmp_path: Path) -> None:
    """The knob draws from its own random stream and drops lines only at write time: a loss
    past the end of the log changes nothing (and off, nothing either)."""
    truth, off, on = _with_and_without(tmp_path, log_loss_at_hours=5.0)
    assert on == off and truth["log_loss"]["dropped"] == 0 and truth["log_loss"]["reports"] == []


@pytest.mark.parametrize(
    "knobs",
    [{"log_loss_fraction": 0.0}, {"log_loss_fraction": 1.5}, {"log_loss_code": "L12"},
     {"log_loss_minutes": 0}],
)  # fmt: skip
def test_log_loss_knobs_are_checked(tmp_path: Path, knobs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="log_loss"):
        run(tmp_path, log_loss_at_hours=1.0, **knobs)
