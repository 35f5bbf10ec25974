"""Tests of the synthetic Heroku log generator: format, determinism, and truth vs. file contents."""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from forensics.scenario import ScenarioConfig, default_truth_path, generate
from forensics.scenario.cli import main

PREFIX = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00 (app|heroku)\[[^\]]+\]: ")
MEM = re.compile(
    r"^(\S+) heroku\[([^\]]+)\]: source=\S+ dyno=(\S+) sample#memory_total=([\d.]+)MB "
    r"sample#memory_rss=([\d.]+)MB sample#memory_cache=([\d.]+)MB sample#memory_swap=([\d.]+)MB "
    r"sample#memory_pgpgin=\d+pages sample#memory_pgpgout=\d+pages sample#memory_quota=([\d.]+)MB$"
)
LOAD = re.compile(r" heroku\[[^\]]+\]: source=\S+ dyno=\S+ sample#load_avg_1m=")

# Strong leak (R14 then R15), H12 burst, releases, a crashed worker, R12, scaling, a manual
# restart and one artefact of each kind, in 8 simulated hours.
FULL = ScenarioConfig(
    seed=11,
    hours=8,
    rps=1.0,
    web_dynos=2,
    worker_dynos=2,
    release_hours=(1.0, 2.5),
    leak_release=2,
    leak_mb=2.0,
    h12_start_min=200,
    h12_minutes=15,
    h12_fraction=0.8,
    crash_worker="worker.2",
    crash_at_hours=4.0,
    crash_loops=2,
    r12_restart=2,
    scale_at_hours=5.0,
    scale_web=3,
    restart_at_hours=(6.5,),
    artifacts=1,
)


def read_lines(path: Path) -> list[str]:
    """Lines of a plain or gzipped log, without newlines."""
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    return data.decode("ascii").split("\n")[:-1]


def ts(line: str) -> datetime:
    return datetime.fromisoformat(line[:32])


def without_artifacts(lines: list[str], truth: dict) -> list[str]:
    """Log lines with prompt/blank lines removed and hard-wrapped lines joined again."""
    drop, join = set(), {}
    for a in truth["artifacts"]:
        if a["kind"] == "wrap":
            join[a["line"] - 1] = a["continuation_line"] - 1
            drop.add(a["continuation_line"] - 1)
        else:
            drop.add(a["line"] - 1)
    out = []
    for i, line in enumerate(lines):
        if i in drop:
            continue
        out.append(line + lines[join[i]] if i in join else line)
    return out


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], dict, list[str]]:
    path = tmp_path_factory.mktemp("full") / "full.log"
    truth = generate(FULL, path)
    raw = read_lines(path)
    assert json.loads(default_truth_path(path).read_text()) == json.loads(json.dumps(truth))
    return raw, truth, without_artifacts(raw, truth)


def memory_samples(lines: list[str]) -> list[tuple[datetime, str, str, float, float]]:
    """(time, dyno, dyno_id, memory_total, quota) of every memory metrics line."""
    out = []
    for line in lines:
        m = MEM.match(line)
        if m:
            out.append((ts(line), m[2], m[3], float(m[4]), float(m[8])))
    return out


def test_same_seed_same_bytes_and_other_seed_differs(tmp_path: Path) -> None:
    cfg = ScenarioConfig(seed=3, hours=2, rps=0.5, release_hours=(0.5,), artifacts=1)
    a, b, c = tmp_path / "a.log.gz", tmp_path / "b.log.gz", tmp_path / "c.log.gz"
    generate(cfg, a)
    generate(cfg, b)
    generate(ScenarioConfig(seed=4, hours=2, rps=0.5, release_hours=(0.5,), artifacts=1), c)
    assert a.read_bytes() == b.read_bytes()
    assert read_lines(a) != read_lines(c)
    assert a.with_name("a.truth.json").exists()


def test_every_line_has_the_cli_prefix_except_declared_artifacts(full) -> None:
    raw, truth, _ = full
    art = {a["line"]: a for a in truth["artifacts"]}
    assert {a["kind"] for a in art.values()} == {"wrap", "prompt", "blank"}
    cont = {a["continuation_line"] for a in art.values() if a["kind"] == "wrap"}
    for n, line in enumerate(raw, start=1):
        if n in cont:
            assert not PREFIX.match(line)
        elif n in art and art[n]["kind"] == "prompt":
            assert "$ heroku logs" in line
        elif n in art and art[n]["kind"] == "blank":
            assert line == ""
        else:
            assert PREFIX.match(line), (n, line)
    assert len(raw) == truth["counts"]["physical_lines"]


def test_truth_counts_match_the_file(full) -> None:
    _, truth, lines = full
    c = truth["counts"]
    assert len(lines) == c["lines"]
    count = Counter()
    for line in lines:
        body = line[33:]
        if body.startswith("heroku[router]: "):
            m = re.search(r" code=(H\d\d) ", body)
            count[m[1] if m else "router"] += 1
            assert m or " at=info " in body
        elif LOAD.search(line):
            count["load"] += 1
        elif MEM.match(line):
            count["memory"] += 1
        elif re.match(r"app\[(web|worker)\.\d+\]: ", body):
            count["app"] += 1
        elif body.startswith("app[api]: "):
            count["api"] += 1
        elif body.startswith("app[heroku-postgres]: source=DATABASE "):
            count["pg"] += 1
        elif body.startswith("app[heroku-redis]: source=REDIS "):
            count["redis"] += 1
        elif re.match(r"heroku\[\w+\.\d+\]: State changed from \w+ to \w+$", body):
            count["state"] += 1
        elif re.match(r"heroku\[\w+\.\d+\]: Process running mem=\d+M\(\d+\.\d%\)$", body):
            count["running"] += 1
        elif re.match(r"heroku\[\w+\.\d+\]: Error R14 \(Memory quota exceeded\)$", body):
            count["r14"] += 1
        elif re.match(r"heroku\[\w+\.\d+\]: Error R15 \(Memory quota vastly exceeded\)$", body):
            count["r15"] += 1
        elif re.match(r"heroku\[\w+\.\d+\]: Error R12 \(Exit timeout\) -> ", body):
            count["r12"] += 1
        else:
            assert re.match(
                r"heroku\[\w+\.\d+\]: (Restarting|Cycling|Stopping all processes with SIGTERM|"
                r"Stopping process with SIGKILL|Stopping remaining processes with SIGKILL|"
                r"Process exited with status \d+|Starting process with command `.+`)$",
                body,
            ), line
            count["other"] += 1
    assert count["router"] == c["router"]
    for code in ("H10", "H12", "H13", "H14", "H27"):
        assert count[code] == c["router_error"][code]
    assert count["router"] + sum(count[k] for k in c["router_error"]) == c["requests"]
    assert (count["load"], count["memory"]) == (
        c["runtime_metrics_load"],
        c["runtime_metrics_memory"],
    )
    assert count["load"] + count["memory"] == c["runtime_metrics"]
    assert count["app"] == c["app"] and count["api"] == c["api"]
    assert count["pg"] == c["addon_metrics"]["heroku-postgres"] > 80
    assert count["redis"] == c["addon_metrics"]["heroku-redis"] > 400
    assert count["state"] == c["state_changes"] and count["other"] == c["lifecycle_other"]
    assert count["running"] == c["process_running"] == c["r14"] + c["r15"]
    assert (count["r14"], count["r15"], count["r12"]) == (c["r14"], c["r15"], c["r12"])
    assert c["r14"] > 0 and c["r15"] > 0 and c["r12"] == 1 and c["router_error"]["H12"] > 0
    assert sum(c["artifacts"].values()) == len(truth["artifacts"]) == 3


def test_api_events_match_releases_and_scale(full) -> None:
    _, truth, lines = full
    created = [re.search(r"Release (v\d+) created by user ", x) for x in lines]
    assert [m[1] for m in created if m] == [r["version"] for r in truth["releases"] if r["in_log"]]
    deploys = [re.search(r"app\[api\]: Deploy ([0-9a-f]{8}) by user ", x) for x in lines]
    assert [m[1] for m in deploys if m] == [r["commit"] for r in truth["releases"] if r["in_log"]]
    scaled = [x for x in lines if "app[api]: Scaled to " in x]
    assert len(scaled) == 1 and truth["scale"]["formation"] in scaled[0]
    assert "web@3:Standard-1X" in scaled[0]
    assert any(" heroku[web.3]: State changed from starting to up" in x for x in lines)


def test_lines_are_nearly_sorted_with_some_disorder(full) -> None:
    _, _, lines = full
    newest, back = None, 0
    for line in lines:
        t = ts(line)
        if newest is not None and t < newest:
            back += 1
            assert (newest - t).total_seconds() <= 0.05, line
        newest = t if newest is None or t > newest else newest
    assert back > 20


def test_memory_lines_belong_to_truth_lifetimes(full) -> None:
    _, truth, lines = full
    lives = {x["dyno_id"]: x for x in truth["lifetimes"]}
    seen = set()
    for t, dyno, dyno_id, _total, quota in memory_samples(lines):
        life = lives[dyno_id]
        assert life["dyno"] == dyno and life["memory_quota_mb"] == quota
        assert datetime.fromisoformat(life["up"]) <= t <= datetime.fromisoformat(life["end"])
        seen.add(dyno_id)
    ran = {k for k, x in lives.items() if x["up"] and x["ended_by"] != "crash"}
    assert ran <= seen
    ends = Counter(x["ended_by"] for x in truth["lifetimes"])
    assert {"deploy", "restart", "R15", "crash", "end-of-log"} <= set(ends)


def test_leak_grows_memory_and_healthy_mode_does_not(tmp_path: Path) -> None:
    cfg = ScenarioConfig(
        seed=5,
        hours=6,
        rps=0.4,
        web_dynos=1,
        worker_dynos=0,
        release_hours=(0.5,),
        leak_release=2,
        leak_mb=0.5,
        h12_route=None,
        cycling=False,
        app_line_ratio=0.1,
    )
    growth = {}
    for mode in ("leak", "healthy"):
        path = tmp_path / f"{mode}.log"
        truth = generate(ScenarioConfig(**{**cfg.__dict__, "healthy": mode == "healthy"}), path)
        samples = memory_samples(read_lines(path))
        life = next(x for x in truth["lifetimes"] if x["dyno"] == "web.1" and x["release"] == "v2")
        mine = [(t, total) for t, _, i, total, _ in samples if i == life["dyno_id"]]
        t0 = mine[0][0]
        early = [m for t, m in mine if 1800 <= (t - t0).total_seconds() < 5400]
        late = [m for t, m in mine[-180:]]
        growth[mode] = sum(late) / len(late) - sum(early) / len(early)
        if mode == "leak":
            assert truth["leak"]["route"] == "/users/:id/orders/:id"
            assert truth["leak"]["from_release"] == "v2" and "web.1" in truth["leak"]["dynos"]
            assert life["dyno_id"] in truth["leak"]["lifetimes"] and life["leaked_mb"] > 120
            expected = life["leaked_mb"]
        else:
            assert truth["leak"] is None and life["leaked_mb"] == 0
    assert growth["leak"] > 0.6 * expected
    assert growth["leak"] > 100
    assert abs(growth["healthy"]) < 40


def test_fixed_release_stops_the_leak(tmp_path: Path) -> None:
    cfg = ScenarioConfig(
        seed=8,
        hours=6,
        rps=0.5,
        release_hours=(1.0, 3.0),
        leak_release=2,
        fixed_release=3,
        leak_mb=0.5,
        h12_route=None,
    )
    truth = generate(cfg, tmp_path / "fixed.log")
    by_release = defaultdict(set)
    for x in truth["lifetimes"]:
        if x["process_type"] == "web":
            by_release[x["release"]].add(x["leak_mb_per_request"])
    assert by_release["v1"] == {0.0} and by_release["v2"] == {0.5} and by_release["v3"] == {0.0}
    assert truth["leak"]["fixed_release"] == "v3" and truth["leak"]["fixed_time"]


def test_h12_lines_fall_inside_the_window_and_route(full) -> None:
    _, truth, lines = full
    h = truth["h12"]
    start, end = (datetime.fromisoformat(h[k]) for k in ("window_start", "window_end"))
    h12 = [x for x in lines if " code=H12 " in x]
    assert len(h12) == h["count"] > 10 and h["route"] == "/search"
    per_dyno = Counter()
    for line in h12:
        assert start <= ts(line) < end
        assert re.search(r' method=GET path="/search(\?[^"]*)?" ', line)
        m = re.search(r" dyno=(web\.\d+) connect=\d+ms service=(\d+)ms status=503 bytes=0 ", line)
        assert m and 30000 <= int(m[2]) <= 30008
        per_dyno[m[1]] += 1
    assert dict(per_dyno) == h["by_dyno"]


def test_crashed_worker_has_no_metrics_after_it_goes_down(full) -> None:
    _, truth, lines = full
    crash = truth["crashed_worker"]
    dyno, down = crash["dyno"], datetime.fromisoformat(crash["down_from"])
    mine = [x for x in lines if f" heroku[{dyno}]: source={dyno} " in x]
    assert any(ts(x) < down for x in mine)
    assert all(ts(x) < down for x in mine)
    after = [x[33:] for x in lines if f"heroku[{dyno}]: State changed" in x and ts(x) > down]
    assert after and all(x.endswith(("crashed to starting", "starting to crashed")) for x in after)
    assert len(crash["attempts"]) >= 2
    assert any(f"heroku[{dyno}]: Process exited with status 1" in x for x in lines)


def test_r14_only_when_memory_total_exceeds_quota(full) -> None:
    _, truth, lines = full
    last: dict[str, tuple[float, float]] = {}
    r14, over = 0, 0
    r15_ids = {x["dyno_id"] for x in truth["r15"]}
    cutoff = datetime.fromisoformat(truth["end"]) - timedelta(seconds=10)  # R14 comes <= 8 s later
    for line in lines:
        m = MEM.match(line)
        if m:
            total, quota = float(m[4]), float(m[8])
            last[m[2]] = (total, quota)
            r15 = m[3] in r15_ids and total > 2 * quota
            over += total > quota and not r15 and ts(line) < cutoff
        r = re.search(r"heroku\[([^\]]+)\]: Process running mem=(\d+)M\(([\d.]+)%\)$", line)
        if r and r[1] in last:
            total, quota = last[r[1]]
            assert total > quota and abs(int(r[2]) - total) <= 1
            assert abs(float(r[3]) - total / quota * 100) < 0.1
        if line.endswith("Error R14 (Memory quota exceeded)"):
            r14 += 1
    assert r14 == truth["r14"]["count"] > 0
    assert over <= r14 <= over + len(last)


def test_r15_kills_and_restarts_with_a_new_dyno_id(full) -> None:
    _, truth, lines = full
    ev = truth["r15"][0]
    seq = [x[33:] for x in lines if f"heroku[{ev['dyno']}]: " in x and "source=" not in x]
    i = next(k for k, x in enumerate(seq) if "Error R15" in x)
    assert "Process running mem=" in seq[i - 1] and float(seq[i - 1].split("(")[1][:-2]) > 200
    tail = seq[i + 1 : i + 8]
    for want in (
        "Stopping process with SIGKILL",
        "Process exited with status 137",
        "State changed from up to crashed",
        "State changed from crashed to starting",
        "State changed from starting to up",
    ):
        assert any(x.endswith(want) for x in tail), want
    after = [
        i
        for t, d, i, *_ in memory_samples(lines)
        if d == ev["dyno"] and t > datetime.fromisoformat(ev["time"])
    ]
    assert after and ev["dyno_id"] not in after


def test_r12_sequence(full) -> None:
    _, truth, lines = full
    r = truth["r12"]
    mine = sorted(x for x in lines if f"heroku[{r['dyno']}]: " in x and "source=" not in x)
    seq = [x[33:] for x in mine]  # in timestamp order: the export may swap lines a few ms apart
    i = next(
        k for k, x in enumerate(seq) if "Error R12 (Exit timeout) -> At least one process" in x
    )
    assert mine[i].startswith(r["time"][:26])
    assert seq[i + 1].endswith("Stopping remaining processes with SIGKILL")
    assert seq[i + 2].endswith("Process exited with status 137")
    assert any(x.endswith("Stopping all processes with SIGTERM") for x in seq[i - 3 : i])


def test_daily_cycling(tmp_path: Path) -> None:
    truth = generate(
        ScenarioConfig(
            seed=2, hours=27, rps=0.1, releases=0, h12_route=None, web_dynos=1, worker_dynos=0
        ),
        tmp_path / "cyc.log",
    )
    lines = read_lines(tmp_path / "cyc.log")
    cycled = [x for x in truth["lifetimes"] if x["ended_by"] == "cycling"]
    assert len(cycled) == 1 and truth["releases"][0]["in_log"] is False
    i = next(k for k, x in enumerate(lines) if x.endswith(" heroku[web.1]: Cycling"))
    assert lines[i + 1].endswith(" heroku[web.1]: State changed from up to starting")
    for x in cycled:
        hours = (
            datetime.fromisoformat(x["end"]) - datetime.fromisoformat(x["start"])
        ).total_seconds() / 3600
        assert 24 <= hours <= 24 + 216 / 60 + 0.1


def test_size_mb_keeps_going_until_the_size(tmp_path: Path) -> None:
    truth = generate(ScenarioConfig(seed=1, size_mb=3), tmp_path / "s.log")
    size = (tmp_path / "s.log").stat().st_size
    assert size == truth["output"]["bytes"] and 3e6 <= size < 3.6e6
    assert truth["config"]["size_mb"] == 3


def test_stdout_output() -> None:
    res = CliRunner().invoke(main, ["-o", "-", "--hours", "0.2", "--rps", "0.5"])
    assert res.exit_code == 0
    lines = res.stdout.splitlines()
    assert len(lines) > 100 and all(PREFIX.match(x) for x in lines)


def test_cli_writes_log_and_truth(tmp_path: Path) -> None:
    runner = CliRunner()
    help_text = runner.invoke(main, ["--help"]).output
    assert "Examples:" in help_text and "--size-mb" in help_text
    out = tmp_path / "cli.log.gz"
    res = runner.invoke(
        main,
        [
            "-o",
            str(out),
            "--hours",
            "1",
            "--seed",
            "9",
            "--healthy",
            "--crash-worker",
            "worker.1",
            "--artifacts",
        ],
    )
    assert res.exit_code == 0, res.output
    truth = json.loads((tmp_path / "cli.truth.json").read_text())
    assert truth["leak"] is None and truth["crashed_worker"] is None
    assert truth["config"]["seed"] == 9 and len(truth["artifacts"]) == 3
    assert len(read_lines(out)) == truth["counts"]["physical_lines"]
    bad = runner.invoke(main, ["-o", str(out), "--leak-route", "/nope"])
    assert bad.exit_code != 0 and "unknown route" in bad.output


def test_committed_sample_matches_its_truth() -> None:
    sample = Path(__file__).parent.parent / "data" / "samples" / "heroku-sample.log.gz"
    if not sample.exists():
        pytest.skip("data/samples/heroku-sample.log.gz is not there")
    truth = json.loads(sample.with_name("heroku-sample.truth.json").read_text())
    raw = read_lines(sample)
    lines = without_artifacts(raw, truth)
    c = truth["counts"]
    assert (len(raw), len(lines)) == (c["physical_lines"], c["lines"])
    assert (
        sum(" code=H12 " in x for x in lines) == c["router_error"]["H12"] == truth["h12"]["count"]
    )
    assert sum(x.endswith("Error R14 (Memory quota exceeded)") for x in lines) == c["r14"]
    assert truth["leak"]["from_release"] == "v3" and truth["crashed_worker"]["dyno"] == "worker.1"
    assert truth["r12"] and truth["scale"] and len(truth["artifacts"]) == 6
