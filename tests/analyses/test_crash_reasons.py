"""Crash reasons: the app's last error block before each crash, on a hand-written log with one
crash per stack (Python, Ruby, Node, Java, Go, Elixir, plain lines), and on the real exports
that hold crashes."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from forensics.analyses.app_errors import error_blocks, reason_key
from forensics.analyses.availability import crashes
from forensics.analyses.crash_reasons import crash_reasons, reason_for, reason_groups
from forensics.analyses.lifetimes import lifetimes
from forensics.findings.availability import findings
from forensics.ingest import ingest
from forensics.store.views import open_dataset

REAL = Path(__file__).resolve().parents[1] / "data" / "real"


def _block(t: str, dyno: str, text: str) -> list[str]:
    """One multi-line app output, every line prefixed by Heroku with the same timestamp."""
    return [f"2024-05-20T{t}+00:00 app[{dyno}]: {line}" for line in text.strip("\n").split("\n")]


def _ev(t: str, dyno: str, msg: str) -> str:
    return f"2024-05-20T{t}+00:00 heroku[{dyno}]: {msg}"


def _crash(start: str, exit_: str, dyno: str, cmd: str, status: int = 1) -> tuple[str, ...]:
    return (
        _ev(start, dyno, f"Starting process with command `{cmd}`"),
        _ev(exit_, dyno, f"Process exited with status {status}"),
        _ev(exit_.replace(".0", ".5", 1), dyno, "State changed from starting to crashed"),
    )


PY = """
Traceback (most recent call last):
  File "/app/manage.py", line 22, in <module>
    main()
  File "/app/.heroku/python/lib/python3.12/site-packages/django/conf/__init__.py", line 81, in __getattr__
    self._setup(name)
  File "/app/app/config.py", line 12, in <module>
    DATABASE_URL = os.environ["DATABASE_URL"]
                   ~~~~~~~~~~^^^^^^^^^^^^^^^^
  File "<frozen os>", line 714, in __getitem__
KeyError: 'DATABASE_URL'
"""  # noqa: E501
RUBY = """
/app/config/initializers/stripe.rb:3:in '<main>': undefined method 'fetch' for nil (NoMethodError)
\tfrom /app/vendor/bundle/ruby/3.3.0/gems/railties-7.1.3/lib/rails/engine.rb:692:in 'load'
\tfrom /app/config/environment.rb:5:in '<main>'
"""
NODE = """
node:internal/modules/cjs/loader:1080
  throw err;
  ^

Error: Cannot find module 'express'
Require stack:
- /app/index.js
    at Module._resolveFilename (node:internal/modules/cjs/loader:1077:15)
    at Object.<anonymous> (/app/index.js:3:17)
    at Module._compile (node:internal/modules/cjs/loader:1256:14) {
  code: 'MODULE_NOT_FOUND',
  requireStack: [ '/app/index.js' ]
}

Node.js v18.17.0
npm ERR! code 1
npm ERR! path /app
npm ERR! command failed
npm ERR! command sh -c node index.js
"""
JAVA = """
2024-05-20 07:00:09.120 ERROR 4 --- [main] o.s.boot.SpringApplication : Application run failed
Exception in thread "main" java.lang.IllegalStateException: Failed to execute CommandLineRunner
\tat org.springframework.boot.SpringApplication.callRunner(SpringApplication.java:787)
\tat com.acme.Main.main(Main.java:10)
Caused by: org.postgresql.util.PSQLException: Connection to 10.0.0.5:5432 refused.
\tat org.postgresql.core.v3.ConnectionFactoryImpl.openConnectionImpl(ConnectionFactoryImpl.java:319)
\tat com.acme.db.Pool.connect(Pool.java:42)
\t... 5 more
"""
GO = """
panic: runtime error: invalid memory address or nil pointer dereference
[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x4a5b2c]

goroutine 1 [running]:
main.loadConfig(...)
\t/app/config.go:27
main.main()
\t/app/main.go:14 +0x2c
"""
ELIXIR = """
ERROR! Config provider Config.Reader failed with:
** (RuntimeError) environment variable SECRET_KEY_BASE is missing.
    (my_app 0.1.0) config/runtime.exs:8: (file)
    (elixir 1.15.7) lib/code.ex:1435: Code.require_file/2
"""
NODE_REJECT = """
node:internal/process/promises:288
            triggerUncaughtException(err, true /* fromPromise */);
            ^

[UnhandledPromiseRejection: This error originated either by throwing inside of an async function without a catch block, or by rejecting a promise which was not handled with .catch(). The promise rejected with the reason "connect ECONNREFUSED 127.0.0.1:6379".] {
  code: 'ERR_UNHANDLED_REJECTION'
}
"""  # noqa: E501

LINES = [
    # web.1: Python KeyError at boot, twice (a crash loop: grouped)
    *_crash("06:00:00.000000", "06:00:04.000000", "web.1", "gunicorn app.wsgi"),
    *_block("06:00:03.000000", "web.1", "[2024-05-20 06:00:03 +0000] [2] [INFO] Booting"),
    *_block("06:00:03.500000", "web.1", PY),
    *_crash("06:10:00.000000", "06:10:04.000000", "web.1", "gunicorn app.wsgi"),
    *_block("06:10:03.500000", "web.1", PY),
    # web.2: Ruby
    *_crash("06:20:00.000000", "06:20:05.000000", "web.2", "bundle exec puma -C config/puma.rb"),
    *_block("06:20:04.000000", "web.2", RUBY),
    # web.3: Node, npm noise after the error
    *_crash("06:30:00.000000", "06:30:03.000000", "web.3", "npm start"),
    *_block("06:30:01.000000", "web.3", "> app@1.0.0 start\n> node index.js"),
    *_block("06:30:02.000000", "web.3", NODE),
    # worker.1: Java with Caused by, three crashes, different IPs (one reason)
    *_crash("07:00:00.000000", "07:00:10.000000", "worker.1", "java -jar target/app.jar"),
    *_block("07:00:09.120000", "worker.1", JAVA),
    *_crash("07:20:00.000000", "07:20:10.000000", "worker.1", "java -jar target/app.jar"),
    *_block("07:20:09.120000", "worker.1", JAVA.replace("10.0.0.5", "10.0.0.6")),
    *_crash("07:40:00.000000", "07:40:10.000000", "worker.1", "java -jar target/app.jar"),
    *_block("07:40:09.120000", "worker.1", JAVA.replace("10.0.0.5", "10.0.0.7")),
    # worker.2: Go panic
    *_crash("08:00:00.000000", "08:00:02.000000", "worker.2", "bin/worker", status=2),
    *_block("08:00:01.000000", "worker.2", GO),
    # worker.3: Elixir
    *_crash("08:10:00.000000", "08:10:06.000000", "worker.3", "mix run --no-halt"),
    *_block("08:10:05.000000", "worker.3", ELIXIR),
    # worker.4: Node unhandled rejection
    *_crash("08:20:00.000000", "08:20:03.000000", "worker.4", "node worker.js"),
    *_block("08:20:02.000000", "worker.4", NODE_REJECT),
    # worker.5: the error five minutes before the exit, ordinary lines after it
    *_crash("08:30:00.000000", "08:36:00.000000", "worker.5", "python worker.py"),
    *_block(
        "08:31:00.000000",
        "worker.5",
        "redis.exceptions.ConnectionError: Error 111 connecting to redis:6379. Connection refused.",
    ),
    *_block("08:33:00.000000", "worker.5", "retrying in 60 s"),
    *_block("08:35:00.000000", "worker.5", "retrying in 60 s"),
    # clock.1: a plain FATAL line
    *_crash("08:40:00.000000", "08:40:02.000000", "clock.1", "bin/clock"),
    *_block(
        "08:40:01.000000", "clock.1", "2024/05/20 08:40:01 FATAL could not load /app/clock.yml"
    ),
    # web.4: nothing error-like printed: no reason
    *_crash("08:50:00.000000", "08:50:05.000000", "web.4", "node server.js"),
    *_block("08:50:01.000000", "web.4", "Server starting\nconnected to cache"),
    # web.5: a request error the framework handled, then an R15 kill: no reason either
    _ev("09:00:00.000000", "web.5", "Starting process with command `bundle exec puma`"),
    _ev("09:00:05.000000", "web.5", "State changed from starting to up"),
    *_block(
        "09:10:00.000000",
        "web.5",
        "F, [2024-05-20T09:10:00.000 #4] FATAL -- : [7d0f6a2e-4b5c-4d7e-9f10-1a2b3c4d5e6f] "
        'ActionController::RoutingError (No route matches [GET] "/wp-login.php"):',
    ),
    _ev("09:20:00.000000", "web.5", "Error R15 (Memory quota vastly exceeded)"),
    _ev("09:20:00.100000", "web.5", "Stopping process with SIGKILL"),
    _ev("09:20:00.300000", "web.5", "Process exited with status 137"),
    _ev("09:20:00.400000", "web.5", "State changed from up to crashed"),
]


@pytest.fixture(scope="module")
def hand(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, Path]:
    tmp = tmp_path_factory.mktemp("reasons")
    log = tmp / "hand.log"
    # sorted by timestamp only: lines of one block keep their order (same timestamp)
    log.write_text("\n".join(sorted(LINES, key=lambda x: x[:32])) + "\n")
    ingest([str(log)], tmp / "ds")
    return open_dataset(tmp / "ds"), log


@pytest.fixture(scope="module")
def table(hand: tuple[object, Path]) -> pl.DataFrame:
    con = hand[0]
    return crash_reasons(con, lifetimes=lifetimes(con))


def _by_dyno(t: pl.DataFrame, dyno: str) -> list[dict]:
    return t.filter(pl.col("dyno") == dyno).sort("crash_ts").to_dicts()


def _line_of(log: Path, text: str) -> int:
    return next(i for i, x in enumerate(log.read_text().splitlines(), 1) if text in x)


def test_python_traceback(table: pl.DataFrame, hand: tuple[object, Path]) -> None:
    rows = _by_dyno(table, "web.1")
    assert len(rows) == 2
    r = rows[0]
    assert r["reason"] == "KeyError: 'DATABASE_URL'"
    assert r["reason_kind"] == "exception" and r["stack"] == "python"
    assert r["location"] == "app/config.py:12"
    assert r["command"] == "gunicorn app.wsgi"
    assert r["first_frame"] == 'File "/app/manage.py", line 22, in <module>'
    assert r["deepest_frame"] == 'File "<frozen os>", line 714, in __getitem__'
    assert 'File "/app/app/config.py", line 12, in <module>' in r["reason_detail"]
    log = hand[1]
    first = _line_of(log, "Traceback (most recent call last):")
    (src,) = r["reason_sources"]
    assert (src["first_line"], src["last_line"]) == (first, first + 9)
    assert r["crash_kind"] == "crashed" and r["exit_status"] == 1


def test_ruby(table: pl.DataFrame) -> None:
    (r,) = _by_dyno(table, "web.2")
    assert r["reason"] == "NoMethodError: undefined method 'fetch' for nil"
    assert r["location"] == "config/initializers/stripe.rb:3"
    assert r["stack"] == "ruby"


def test_node_missing_module_not_the_npm_noise(table: pl.DataFrame) -> None:
    (r,) = _by_dyno(table, "web.3")
    assert r["reason"] == "Error: Cannot find module 'express'"
    assert r["location"] == "index.js:3"
    assert r["command"] == "npm start"


def test_java_caused_by_deepest_frame(table: pl.DataFrame) -> None:
    rows = _by_dyno(table, "worker.1")
    assert len(rows) == 3
    r = rows[0]
    assert r["reason"] == ("java.lang.IllegalStateException: Failed to execute CommandLineRunner")
    assert r["caused_by"] == [
        "org.postgresql.util.PSQLException: Connection to 10.0.0.5:5432 refused."
    ]
    assert "ConnectionFactoryImpl.java:319" in r["deepest_frame"]
    assert r["location"] == "com/acme/db/Pool.java:42"
    # three crashes, three IPs, one reason
    assert len({x["reason_key"] for x in rows}) == 1


def test_go_panic(table: pl.DataFrame) -> None:
    (r,) = _by_dyno(table, "worker.2")
    assert r["reason"] == "panic: runtime error: invalid memory address or nil pointer dereference"
    assert r["location"] == "config.go:27"
    assert r["exit_status"] == 2


def test_elixir(table: pl.DataFrame) -> None:
    (r,) = _by_dyno(table, "worker.3")
    assert r["reason"] == "RuntimeError: environment variable SECRET_KEY_BASE is missing."
    assert r["location"] == "config/runtime.exs:8"


def test_unhandled_rejection(table: pl.DataFrame) -> None:
    (r,) = _by_dyno(table, "worker.4")
    assert r["reason"].startswith("UnhandledPromiseRejection: This error originated")
    assert "ECONNREFUSED 127.0.0.1:6379" in r["reason"]


def test_reason_minutes_before_the_exit(table: pl.DataFrame) -> None:
    (r,) = _by_dyno(table, "worker.5")
    assert r["reason"].startswith("redis.exceptions.ConnectionError: Error 111 connecting")
    assert r["seconds_before_crash"] == pytest.approx(300.5)


def test_plain_fatal_line(table: pl.DataFrame) -> None:
    (r,) = _by_dyno(table, "clock.1")
    assert r["reason"] == "2024/05/20 08:40:01 FATAL could not load /app/clock.yml"
    assert r["reason_kind"] == "error_line"


def test_no_reason_is_invented(table: pl.DataFrame) -> None:
    (r,) = _by_dyno(table, "web.4")
    assert r["reason"] is None and r["reason_key"] is None and r["reason_detail"] == []
    # a request error the framework handled is not why the dyno died of R15
    (r,) = _by_dyno(table, "web.5")
    assert r["reason"] is None
    assert r["platform_cause"] == "R15" and r["crash_kind"] == "memory_kill"


def test_every_crash_has_a_row(hand: tuple[object, Path], table: pl.DataFrame) -> None:
    assert table.height == crashes(hand[0]).height == 14


def test_groups(table: pl.DataFrame) -> None:
    g = reason_groups(table)
    top = g.row(0, named=True)
    assert top["count"] == 3 and top["dynos"] == ["worker.1"]
    assert top["reason_key"] == (
        "java.lang.IllegalStateException: Failed to execute CommandLineRunner"
    )
    py = g.filter(pl.col("reason") == "KeyError: 'DATABASE_URL'").row(0, named=True)
    assert py["count"] == 2 and py["commands"] == ["gunicorn app.wsgi"]
    assert g.height == 9  # 12 crashes with a reason, 9 distinct reasons
    assert int(g["count"].sum()) == 12


def test_reason_for_joins_by_dyno_and_time(table: pl.DataFrame) -> None:
    ev = reason_for(table, app=None, dyno="web.1")
    assert ev is not None and ev["text"] == "KeyError: 'DATABASE_URL'" and ev["crashes"] == 2
    assert ev["sources"][0]["file"].endswith("hand.log")
    assert reason_for(table, app=None, dyno="web.4") is None
    before = table["crash_ts"].min()
    assert reason_for(table, app=None, dyno="web.1", end=before.replace(minute=0, second=0)) is None


def test_findings_carry_the_reason(hand: tuple[object, Path]) -> None:
    con, log = hand
    found = findings(con)
    crash = next(f for f in found if f.kind == "crash" and f.dyno == "web.1")
    assert crash.evidence["reason"]["text"] == "KeyError: 'DATABASE_URL'"
    assert "KeyError: 'DATABASE_URL' (app/config.py:12)" in crash.summary
    line = _line_of(log, "Traceback (most recent call last):")
    assert any(s.first_line <= line <= s.last_line for s in crash.sources)
    loop = next(f for f in found if f.kind == "crash_loop" and f.dyno == "worker.1")
    assert "IllegalStateException" in loop.summary
    assert loop.evidence["reason"]["crashes"] == 3
    # the wrapper says little; what it wraps is the reason a person would give
    assert ", caused by org.postgresql.util.PSQLException: Connection to " in loop.summary
    assert loop.evidence["reason"]["caused_by"][-1].startswith("org.postgresql.util.PSQL")
    quiet = next(f for f in found if f.kind == "crash" and f.dyno == "web.4")
    assert "reason" not in quiet.evidence


# ----- the parser alone --------------------------------------------------------------------


def test_rails_request_style_and_chained_python() -> None:
    (b,) = error_blocks(["NoMethodError (undefined method `total_cents' for nil):"])
    assert b.reason == "NoMethodError: undefined method `total_cents' for nil"
    text = [
        "Traceback (most recent call last):",
        '  File "/app/db.py", line 3, in connect',
        "    raise OSError('down')",
        "OSError: down",
        "",
        "The above exception was the direct cause of the following exception:",
        "",
        "Traceback (most recent call last):",
        '  File "/app/main.py", line 9, in <module>',
        "    connect()",
        "RuntimeError: database unavailable",
    ]
    (b,) = error_blocks(text)
    assert b.reason == "RuntimeError: database unavailable"
    assert b.chain == ["OSError: down"]
    assert b.app_frame.location == "main.py:9"


def test_shutdown_noise_is_not_a_reason() -> None:
    blocks = error_blocks(
        ["Traceback (most recent call last):", '  File "/app/w.py", line 1, in <module>',
         "    run()", "KeyboardInterrupt"]
    )  # fmt: skip
    assert blocks[0].shutdown_noise


def test_reason_key_normalizes_ids() -> None:
    a = reason_key("Error: connect ECONNREFUSED 10.1.2.3:5432 (pid 42, id 9f86d081884c7d65)")
    b = reason_key("Error: connect ECONNREFUSED 10.9.8.7:5432 (pid 7, id 1a2b3c4d5e6f7a8b)")
    assert a == b


# ----- real exports ------------------------------------------------------------------------


def _real(tmp_path: Path, name: str) -> pl.DataFrame:
    ingest([str(REAL / name)], tmp_path / "ds")
    con = open_dataset(tmp_path / "ds")
    return crash_reasons(con, lifetimes=lifetimes(con))


def test_real_meteor_node_version(tmp_path: Path) -> None:
    """src-019: a Meteor app crash-looping for hours; each boot printed one line."""
    t = _real(tmp_path, "src-019.log")
    assert t.height >= 17
    assert set(t["reason"].to_list()) == {"Meteor requires Node v0.8.24 or later."}
    assert set(t["reason_kind"].to_list()) == {"message"}
    assert reason_groups(t).height == 1


def test_real_gunicorn_worker_failed_to_boot(tmp_path: Path) -> None:
    """src-012: gunicorn's eventlet worker dies in monkey_patch; the apscheduler errors after
    it (`cannot schedule new futures after interpreter shutdown`) are the stop, not the cause."""
    t = _real(tmp_path, "src-012.log").filter(~pl.col("during_shutdown"))
    assert t.height == 2
    assert set(t["reason"].to_list()) == {
        "ReferenceError: weakly-referenced object no longer exists"
    }
    assert all("eventlet/patcher.py" in d for d in t["deepest_frame"].to_list())
    assert set(t["command"].to_list()) == {
        "gunicorn --worker-class eventlet -w 1 app:app --preload"
    }


@pytest.mark.parametrize("name", ["src-041.log", "src-040.log", "src-004.log", "src-049.log"])
def test_real_crashes_without_app_output_have_no_reason(tmp_path: Path, name: str) -> None:
    """R10 (src-041), exit 0 then crashed (src-040), a bare state change (src-004) and an R15
    kill (src-049): the dyno printed nothing before dying, so no reason."""
    t = _real(tmp_path, name)
    assert t.height >= 1
    assert t["reason"].null_count() == t.height


def test_mixed_reasons_in_one_group_are_all_named(tmp_path: Path) -> None:
    """The bundled sample: worker.1 first dies of a NoMethodError in a job, then of a missing
    config var at every reboot; the crash finding names both."""
    sample = Path(__file__).resolve().parents[2] / "data" / "samples" / "heroku-sample.log.gz"
    ingest([str(sample)], tmp_path / "ds", app="acme-shop")
    con = open_dataset(tmp_path / "ds")
    crash = next(
        f for f in findings(con) if f.kind == "crash" and f.dyno == "worker.1" and f.release == "v3"
    )
    reason = crash.evidence["reason"]
    assert reason["text"] == 'KeyError: key not found: "IMPORT_FEED_TOKEN"'
    assert (reason["crashes"], reason["of_crashes"]) == (2, 3)
    assert reason["others"] == [
        {"text": "NoMethodError: undefined method `fetch' for nil", "crashes": 1}
    ]
    assert "also NoMethodError: undefined method `fetch' for nil (1)" in crash.summary
    # the R15 kills of the web dynos: the Rails request errors before them are not reasons
    r15 = [f for f in findings(con) if f.kind == "crash" and f.dyno.startswith("web.")]
    assert r15 and all("reason" not in f.evidence for f in r15)


def test_a_remark_long_before_the_crash_is_not_its_reason(tmp_path: Path) -> None:
    lines = [
        _ev("06:00:00.000000", "web.1", "Starting process with command `node server.js`"),
        _ev("06:00:05.000000", "web.1", "State changed from starting to up"),
        *_block("06:10:00.000000", "web.1", "user 42 not found"),
        _ev("06:30:00.000000", "web.1", "Process exited with status 1"),
        _ev("06:30:00.100000", "web.1", "State changed from up to crashed"),
    ]
    (tmp_path / "x.log").write_text("\n".join(lines) + "\n")
    ingest([str(tmp_path / "x.log")], tmp_path / "ds")
    t = crash_reasons(open_dataset(tmp_path / "ds"))
    assert t.height == 1 and t["reason"][0] is None
    # the same line just before the exit is the app's last words
    lines[2] = lines[2].replace("06:10:00", "06:29:59")
    (tmp_path / "y.log").write_text("\n".join(lines) + "\n")
    ingest([str(tmp_path / "y.log")], tmp_path / "ds2")
    t = crash_reasons(open_dataset(tmp_path / "ds2"))
    assert t["reason"][0] == "user 42 not found" and t["reason_kind"][0] == "message"


def test_frames_whose_indentation_the_export_dropped() -> None:
    """Some exports strip the leading whitespace of app lines (src-012 does for Python): a
    Java trace is still one block with its frames and cause."""
    text = [
        'Exception in thread "main" java.lang.RuntimeException: boom',
        "at com.acme.Main.run(Main.java:20)",
        "Caused by: java.net.ConnectException: Connection refused",
        "at java.base/sun.nio.ch.Net.connect0(Native Method)",
        "at com.acme.Db.open(Db.java:7)",
        "... 3 more",
    ]
    (b,) = error_blocks(text)
    assert b.reason == "java.lang.RuntimeException: boom"
    assert b.chain == ["java.net.ConnectException: Connection refused"]
    assert b.app_frame.location == "com/acme/Db.java:7"
    assert len(b.rows) == 6
