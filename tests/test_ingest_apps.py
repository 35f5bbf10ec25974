"""Apps never mixed: without `--app`, each input gets the app its own lines name (router
`host=`, runtime metrics' app id, drain hostnames); inputs of different apps stay apart (app
column, dedup keys, findings, incidents) and the summary says so; `--app` always wins."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from ingest_helpers import REAL

from forensics.cli.main import main
from forensics.ingest.apps import assign, evidence
from forensics.readers.source import Source
from forensics.store.views import open_dataset, query

T = "2024-05-20T10:{m:02d}:{s:02d}.000000+00:00"


def _router(host: str, m: int) -> str:
    return (
        f'{T.format(m=m, s=0)} heroku[router]: at=info method=GET path="/" host={host} '
        f'request_id=r{m} fwd="203.0.113.5" dyno=web.1 connect=1ms service=5ms status=200 '
        "bytes=10 protocol=https"
    )


CRASH = [  # the same lines, same second, in every app's export
    f"{T.format(m=30, s=0)} heroku[web.1]: Process exited with status 1",
    f"{T.format(m=30, s=0)} heroku[web.1]: State changed from up to crashed",
]
METRICS = (
    f"{T.format(m=5, s=0)} heroku[web.1]: source=web.1 dyno=heroku.2808254.d97d0ea7-cf3d-411b-"
    "b453-d2943a50b456 sample#memory_total=21.00MB sample#memory_rss=21.22MB"
)


def test_evidence() -> None:
    head = "\n".join(
        [
            _router("shop.herokuapp.com", 1),
            _router("shop-3996d65ded90.herokuapp.com", 2),  # the newer form, same app
            _router("www.shop.example", 3),  # a custom domain names no app
            METRICS,
        ]
    ).encode()
    ev = evidence(head)
    assert ev.name() == "shop" and ev.names["shop"] == 2 and ev.app_id() == "heroku.2808254"
    old = b"heroku[router]: Error H12 (Request timeout) -> GET growing-dusk-20.heroku.com/t dyno="
    assert evidence(old).name() == "growing-dusk-20"
    drain = (
        b"83 <40>1 2012-11-30T06:45:29+00:00 acme-api app web.3 - State changed\n"
        b"90 <190>1 2014-07-17T12:59:25+00:00 d.8f7a4b11-c323-c764-a74f-89bf4c1100ab app web.2 - x"
        b"70 <40>1 2012-11-30T06:45:29+00:00 host app web.3 - State changed"
    )
    ev = evidence(drain)
    assert dict(ev.drain_names) == {"acme-api": 1}
    assert list(ev.ids) == ["d.8f7a4b11-c323-c764-a74f-89bf4c1100ab"]
    mixed = evidence(f"{_router('a.herokuapp.com', 1)}\n{_router('b.herokuapp.com', 2)}".encode())
    assert mixed.mixed and mixed.name() is None


def _assign(heads: dict[str, str], app_for=lambda name: None):
    sources = [Source(name=n, path=Path(n)) for n in heads]
    return assign(sources, app_for, head=lambda s: heads[s.name].encode())


def test_rules() -> None:
    shop, api = _router("shop.herokuapp.com", 1), _router("api-0123456789ab.herokuapp.com", 1)
    # evidence per file; an id tied to a name by another file; no evidence: its own app
    got = _assign({"a.log": shop + "\n" + METRICS, "b.log": METRICS, "c.log": api, "d.log": ""})
    assert got.apps == ["shop", "shop", "api", "unknown:d.log"]
    [warning] = got.warnings(got.apps)
    assert warning.startswith("inputs of 2 apps, kept apart (app column): api (c.log); ")
    assert "shop (a.log, b.log)" in warning and "no app named in d.log" in warning
    # one app in the job: a file with no evidence gets it; an untied id too
    got = _assign({"a.log": shop, "b.log": "", "c.log": METRICS})
    assert got.apps == ["shop", "shop", "shop"] and got.warnings(got.apps) == []
    # --app always wins, plain or GLOB=NAME
    got = _assign({"a.log": shop, "b.log": api}, lambda n: "acme" if n == "b.log" else None)
    assert got.apps == ["shop", "acme"]
    # a GLOB=NAME does not spread to files it does not match; no evidence: no app
    assert _assign({"a.log": "", "b.log": ""}, lambda n: "x" if n == "a.log" else None).apps == [
        "x",
        None,
    ]
    # an input whose lines name several apps gets none, and says so
    got = _assign({"m.log": shop + "\n" + api})
    assert got.apps == [None]
    assert got.warnings(got.apps) == [
        "m.log: lines name several apps (shop 1, api 1); given no app: name it with --app GLOB=NAME"
    ]


@pytest.fixture(scope="module")
def two_apps(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("apps")
    (root / "in").mkdir()
    shop = [_router("shop.herokuapp.com", m) for m in range(5)]
    api = [_router("api-3996d65ded90.herokuapp.com", m) for m in range(5)]
    (root / "in" / "shop.log").write_text("\n".join(shop + CRASH) + "\n")
    (root / "in" / "api.log").write_text("\n".join(api + CRASH) + "\n")
    result = CliRunner().invoke(main, ["ingest", str(root / "in"), "-o", str(root / "ds"), "-q"])
    assert result.exit_code == 0, result.output
    return root / "ds", result.stdout


def test_inputs_of_two_apps_stay_apart(two_apps: tuple[Path, str]) -> None:
    ds, summary = two_apps
    con = open_dataset(ds)
    rows = query(con, "SELECT app, count(*) AS n FROM events GROUP BY 1 ORDER BY 1").rows()
    assert rows == [("api", 2), ("shop", 2)]  # the same lines at the same second: both kept
    assert query(con, "SELECT DISTINCT app FROM requests ORDER BY 1")["app"].to_list() == [
        "api",
        "shop",
    ]
    warning = [x for x in summary.splitlines() if "warning:" in x]
    assert warning == [
        f"  warning: inputs of 2 apps, kept apart (app column): api ({ds.parent}/in/api.log); "
        f"shop ({ds.parent}/in/shop.log)"
    ]


def test_findings_and_incidents_name_the_app(two_apps: tuple[Path, str]) -> None:
    ds, _ = two_apps
    text = CliRunner().invoke(main, ["findings", str(ds)]).stdout
    crashes = [x for x in text.splitlines() if "] crash " in x]
    assert len(crashes) == 2 and "api, web.1" in crashes[0] + crashes[1]
    assert "shop, web.1" in crashes[0] + crashes[1]
    out = CliRunner().invoke(main, ["incidents", str(ds), "--json"]).stdout
    incidents = json.loads(out)
    assert sorted(i["app"] for i in incidents) == ["api", "shop"]  # one story per app
    text = CliRunner().invoke(main, ["incidents", str(ds)]).stdout
    heads = sorted(
        x.split("] ", 1)[1].split(" — ")[0] for x in text.splitlines() if x[:1].isdigit()
    )
    assert heads == ["api: Crash on web.1", "shop: Crash on web.1"]  # the log ends at the crash


def test_app_flag_wins(tmp_path: Path, two_apps: tuple[Path, str]) -> None:
    ds, _ = two_apps
    src = ds.parent / "in"
    result = CliRunner().invoke(
        main, ["ingest", str(src), "-o", str(tmp_path / "ds"), "-q", "--app", "acme"]
    )
    assert result.exit_code == 0 and "warning" not in result.stdout
    con = open_dataset(tmp_path / "ds")
    assert query(con, "SELECT DISTINCT app FROM events")["app"].to_list() == ["acme"]
    assert query(con, "SELECT count(*) AS n FROM events")["n"][0] == 2  # one app: deduplicated


def test_stdin_is_named_from_its_own_lines(tmp_path: Path) -> None:
    text = "\n".join([_router("shop.herokuapp.com", 1), *CRASH]) + "\n"
    result = CliRunner().invoke(main, ["ingest", "-", "-o", str(tmp_path / "ds"), "-q"], input=text)
    assert result.exit_code == 0, result.output
    con = open_dataset(tmp_path / "ds")
    assert query(con, "SELECT DISTINCT app FROM events")["app"].to_list() == ["shop"]


def test_unrelated_exports_give_no_story_across_files(tmp_path: Path) -> None:
    # the real exports of tests/data/real are of many apps, years apart
    result = CliRunner().invoke(main, ["ingest", str(REAL), "-o", str(tmp_path / "ds"), "-q"])
    assert result.exit_code == 1, result.output  # PROVENANCE.md and src-036: not logs
    assert "warning: inputs of" in result.stdout
    found = json.loads(
        CliRunner().invoke(main, ["findings", str(tmp_path / "ds"), "--json"]).stdout
    )
    assert found
    for f in found:
        files = {s["file"] for s in f["sources"]}
        assert len(files) == 1, (f["kind"], f["app"], sorted(files))


def test_stdin_among_other_apps(tmp_path: Path, two_apps: tuple[Path, str]) -> None:
    ds, _ = two_apps
    text = "\n".join([_router("blog.herokuapp.com", 1), *CRASH]) + "\n"
    files = [str(ds.parent / "in" / "shop.log"), str(ds.parent / "in" / "api.log"), "-"]
    args = ["ingest", *files, "-o", str(tmp_path / "ds"), "-q"]
    result = CliRunner().invoke(main, args, input=text)
    assert result.exit_code == 0, result.output
    con = open_dataset(tmp_path / "ds")
    got = query(con, "SELECT DISTINCT app FROM events ORDER BY 1")["app"].to_list()
    assert got == ["api", "blog", "shop"]
    [warning] = [x for x in result.stdout.splitlines() if "warning:" in x]
    assert "inputs of 3 apps" in warning and "blog (-)" in warning and "unknown" not in warning


def test_dedup_keys_hash_the_app() -> None:
    # the contract the native dedup key keeps too: same line, other app, other key
    import polars as pl

    from forensics.ingest.dedup import with_keys, with_reject_keys

    ts = pl.lit("2024-05-20T10:00:00").str.to_datetime(time_zone="UTC").alias("ts")
    env = pl.DataFrame(
        {"message": ["boom"] * 3, "dyno": ["web.1"] * 3, "origin": ["heroku"] * 3,
         "app": ["shop", "api", None]}
    ).with_columns(ts)  # fmt: skip
    assert with_keys(env)["_key"].n_unique() == 3
    raw = pl.DataFrame({"raw": ["$ heroku logs"]})
    keys = {with_reject_keys(raw, app=a)["_key"][0] for a in ("shop", "api", None)}
    assert len(keys) == 3


def _two_lengths(root: Path) -> Path:
    """`shop` ends 10:40, its web dyno down since a crash at 10:30 and its worker logging every
    20 s to the end; `api` ends 10:20 on H12s; `blog`, in the same folder, logs on to 16:00."""
    from datetime import UTC, datetime, timedelta

    t0 = datetime(2024, 5, 20, 10, 0, tzinfo=UTC)

    def at(seconds: float) -> str:
        return (t0 + timedelta(seconds=seconds)).isoformat(timespec="microseconds")

    def router(host: str, s: float, n: int) -> str:
        return (
            f'{at(s)} heroku[router]: at=info method=GET path="/" host={host} request_id=r{n} '
            'fwd="203.0.113.5" dyno=web.1 connect=1ms service=5ms status=200 bytes=10 '
            "protocol=https"
        )

    shop = [router("shop.herokuapp.com", s, s) for s in range(0, 1800, 20)]
    shop += [f"{at(s)} app[worker.1]: job {s} done" for s in range(0, 2400, 20)]
    shop += [f"{at(1800)} heroku[web.1]: Process exited with status 1",
             f"{at(1800)} heroku[web.1]: State changed from up to crashed"]  # fmt: skip
    for s in (1805, 1900, 2100):  # restarts that fail: down to the end of shop's log
        shop += [f"{at(s)} heroku[web.1]: State changed from crashed to starting",
                 f"{at(s + 3)} heroku[web.1]: Process exited with status 1",
                 f"{at(s + 3)} heroku[web.1]: State changed from starting to crashed"]  # fmt: skip
    blog = [router("blog.herokuapp.com", s, s) for s in range(0, 6 * 3600, 60)]
    # `api` ends 10:20 on request timeouts: an incident still going on at the end of its log
    api = [router("api.herokuapp.com", s, s) for s in range(0, 1170, 20)]
    api += [
        f'{at(s)} heroku[router]: at=error code=H12 desc="Request timeout" method=GET '
        f'path="/poll" host=api.herokuapp.com request_id=t{s} fwd="203.0.113.5" dyno=web.1 '
        "connect=1ms service=30000ms status=503 bytes=0 protocol=https"
        for s in range(1170, 1200, 5)
    ]
    (root / "in").mkdir()
    (root / "in" / "api.log").write_text("\n".join(api) + "\n")
    (root / "in" / "shop.log").write_text("\n".join(sorted(shop)) + "\n")
    (root / "in" / "blog.log").write_text("\n".join(blog) + "\n")
    result = CliRunner().invoke(main, ["ingest", str(root / "in"), "-o", str(root / "ds"), "-q"])
    assert result.exit_code == 0, result.output
    return root / "ds"


def test_another_apps_longer_log_stretches_nothing(tmp_path: Path) -> None:
    # an app's windows still open at its end (downtime, a silent worker, an ongoing incident)
    # end at its own last line, as with --app: not at the end of another app's export
    ds = _two_lengths(tmp_path)

    def run(*args: str) -> list[dict]:
        result = CliRunner().invoke(main, [*args, str(ds), "--json"])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    def shape(items: list[dict]) -> list[tuple]:
        return sorted((i["kind"], i["start"], i["end"], i.get("ongoing")) for i in items)

    whole = [f for f in run("findings") if f["app"] == "shop"]
    assert {f["kind"] for f in whole} >= {"downtime"}
    assert max(f["end"] for f in whole) <= "2024-05-20T10:40:00Z"
    assert shape(whole) == shape(run("findings", "--app", "shop"))
    incidents = [i for i in run("incidents") if i["app"] == "shop"]
    assert any(i["ongoing"] for i in incidents)
    assert shape(incidents) == shape(run("incidents", "--app", "shop"))
    [timeouts] = [i for i in run("incidents") if i["app"] == "api"]
    assert timeouts["ongoing"], timeouts["title"]  # its app's log ends on them
