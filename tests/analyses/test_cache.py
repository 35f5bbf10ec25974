"""The on-disk cache of shared tables: written after ingest, read only while fresh (same
manifest, route rules and code), never on a cut, never half-written."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from forensics.analyses import cache
from forensics.analyses.lifetimes import lifetimes
from forensics.cli import main
from forensics.cli.main import CutArgs
from forensics.ingest import ingest
from forensics.store.views import open_dataset

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "samples" / "heroku-sample.log.gz"
LIFETIMES = "forensics.analyses.lifetimes.lifetimes()"


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cache") / "ds"
    result = CliRunner().invoke(main, ["ingest", str(SAMPLE), "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture
def ds(ingested: Path, tmp_path: Path) -> Path:
    """A fresh copy of the ingested (and warmed) sample."""
    return Path(shutil.copytree(ingested, tmp_path / "ds"))


def _folders(ds: Path) -> list[Path]:
    return [p for p in (ds / cache.CACHE_DIR).iterdir() if p.is_dir()]


def _poison(ds: Path) -> pl.DataFrame:
    """Replace the cached lifetimes by a marker frame (index fixed up): reading it proves the
    cache was used."""
    con = cache.open_cached(ds)
    c = cache._ATTACHED[con]
    marker = pl.DataFrame({"poisoned": [1]})
    path = c.folder / cache._file(LIFETIMES)
    marker.write_ipc(path)
    index = (c.folder / cache.INDEX).read_text()
    size = c.index[path.name]
    (c.folder / cache.INDEX).write_text(
        index.replace(f'"{path.name}": {size}', f'"{path.name}": {path.stat().st_size}')
    )
    return marker


def test_ingest_writes_a_cache_that_gives_the_same_tables(ds: Path) -> None:
    assert len(_folders(ds)) == 1
    con = cache.open_cached(ds)
    assert cache.load(con, LIFETIMES) is not None
    assert lifetimes(con).equals(lifetimes(open_dataset(ds)))


def test_a_fresh_cache_is_read(ds: Path) -> None:
    marker = _poison(ds)
    assert lifetimes(cache.open_cached(ds)).equals(marker)


def test_a_cut_never_reads_the_cache(ds: Path) -> None:
    _poison(ds)
    cut = CutArgs(app=None, since=None, until=None, dyno="web", routes_file=None)
    con = cut.open(ds)
    assert con not in cache._ATTACHED
    assert "poisoned" not in lifetimes(con).columns
    whole = CutArgs(None, None, None, None, None).open(ds)
    assert "poisoned" in lifetimes(whole).columns


def test_stale_after_another_ingest(ds: Path, tmp_path: Path) -> None:
    _poison(ds)
    more = tmp_path / "more.log"
    more.write_text(
        '2024-05-21T18:00:00.000000+00:00 heroku[router]: at=info method=GET path="/x" '
        'host=acme-shop.herokuapp.com request_id=r1 fwd="1.2.3.4" dyno=web.1 connect=0ms '
        "service=5ms status=200 bytes=10 protocol=https\n"
    )
    ingest([str(more)], ds)  # the library's ingest: no warm, so only the key protects
    con = cache.open_cached(ds)
    assert cache._ATTACHED[con].index == {}
    assert "poisoned" not in lifetimes(con).columns


def test_another_cli_ingest_replaces_the_cache(ds: Path, tmp_path: Path) -> None:
    (before,) = _folders(ds)
    more = tmp_path / "more.log"
    more.write_text(
        '2024-05-21T18:00:01.000000+00:00 heroku[router]: at=info method=GET path="/y" '
        'host=acme-shop.herokuapp.com request_id=r2 fwd="1.2.3.4" dyno=web.1 connect=0ms '
        "service=5ms status=200 bytes=10 protocol=https\n"
    )
    result = CliRunner().invoke(main, ["ingest", str(more), "-o", str(ds), "-q"])
    assert result.exit_code == 0, result.output
    (after,) = _folders(ds)
    assert after.name != before.name
    con = cache.open_cached(ds)
    assert cache._ATTACHED[con].folder == after and cache.load(con, LIFETIMES) is not None


def test_another_code_version_is_not_read(ds: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _poison(ds)
    monkeypatch.setattr(cache, "code_version", lambda: "another-kit")
    con = cache.open_cached(ds)
    assert cache._ATTACHED[con].index == {}
    assert "poisoned" not in lifetimes(con).columns


def test_another_route_file_is_not_read(ds: Path, tmp_path: Path) -> None:
    _poison(ds)
    rules = tmp_path / "routes.toml"
    rules.write_text('[[route]]\npattern = "/x/.*"\nroute = "/x/:id"\n')
    con = cache.open_cached(ds, routes_file=rules)
    assert cache._ATTACHED[con].index == {}


def test_a_killed_warm_is_not_trusted(ds: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.rmtree(ds / cache.CACHE_DIR)

    def killed(*_: object) -> None:
        raise KeyboardInterrupt  # killed after the tables, before the index

    import forensics.output

    monkeypatch.setattr(forensics.output, "write_text_atomic", killed)
    with pytest.raises(KeyboardInterrupt):
        con = cache.open_cached(ds, record=True)
        lifetimes(con)
        cache.save(con)
    (folder,) = _folders(ds)
    assert any(folder.glob("*.arrow")) and not (folder / cache.INDEX).exists()
    assert cache._ATTACHED[cache.open_cached(ds)].index == {}


def test_a_truncated_table_is_recomputed(ds: Path) -> None:
    con = cache.open_cached(ds)
    path = cache._ATTACHED[con].folder / cache._file(LIFETIMES)
    path.write_bytes(path.read_bytes()[:100])
    con = cache.open_cached(ds)
    assert cache.load(con, LIFETIMES) is None
    assert lifetimes(con).equals(lifetimes(open_dataset(ds)))
