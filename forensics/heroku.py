"""Heroku's platform facts, in one place: dyno sizes and their memory quotas, the R14/R15
limits, the router's timeout, the shutdown window, error codes, the crash-restart back-off, and
how a dyno name gives its process type.

Everything else (analyses, findings, charts, the scenario generator) imports these; a fact
written down anywhere else is a copy that will drift. Sources: Heroku Dev Center ("Dyno
Types", "Heroku Error Codes", "Dynos and the Dyno Manager", "Router"), and the shapes seen in
real exports (see the README).

>>> process_type("web.1"), process_type("run.1234"), process_type("worker.scheduler.2")
('web', 'run', 'worker')
>>> quota_mb("Standard-2X"), r15_limit_mb("Performance-L-RAM"), r15_limit_mb("Private-M")
(1024.0, 36864.0, 2560.0)
"""

from __future__ import annotations

import re

import polars as pl

# Memory quota (MB) of each dyno size, by the name `Scaled to web@2:Standard-1X` prints
# (lowercased). Legacy names (free, hobby, 1X, 2X, PX) appear in older exports.
DYNO_QUOTA_MB: dict[str, float] = {
    "free": 512.0,
    "hobby": 512.0,
    "eco": 512.0,
    "basic": 512.0,
    "1x": 512.0,
    "standard-1x": 512.0,
    "2x": 1024.0,
    "standard-2x": 1024.0,
    "px": 6144.0,
    "performance": 6144.0,
    "performance-m": 2560.0,
    "performance-l": 14336.0,
    "performance-l-ram": 30720.0,
    "performance-xl": 62464.0,
    "performance-2xl": 126976.0,
    "private-s": 1024.0,
    "private-m": 2560.0,
    "private-l": 14336.0,
    "private-l-ram": 30720.0,
    "private-xl": 62464.0,
    "private-2xl": 126976.0,
    "shield-s": 1024.0,
    "shield-m": 2560.0,
    "shield-l": 14336.0,
    "shield-l-ram": 30720.0,
    "shield-xl": 62464.0,
    "shield-2xl": 126976.0,
}
# Every quota a dyno can have, smallest first: a log without `memory_quota` and without a
# `Scaled to` line is matched to the nearest of these (see the memory analysis).
KNOWN_QUOTAS_MB: tuple[float, ...] = tuple(sorted(set(DYNO_QUOTA_MB.values())))
# Sizes a dyno can be scaled to today, smallest first (what advice may name).
CURRENT_SIZES: tuple[str, ...] = (
    "Basic",
    "Standard-1X",
    "Standard-2X",
    "Performance-M",
    "Performance-L",
    "Performance-L-RAM",
    "Performance-XL",
    "Performance-2XL",
)
# Dyno sizes that sleep after 30 min without traffic (Idling / Unidling is not downtime).
SLEEPING_SIZES = frozenset({"free", "eco"})

# R14 from 100 % of the quota (rss + swap + cache); R15 kills the dyno past a limit that
# depends on its type: 2x the quota on most types, 1.2x on the largest Performance types, the
# quota itself in Private and Shield spaces (where no R14 is logged at all).
R14_PCT = 100.0
R15_FACTOR_DEFAULT = 2.0
R15_FACTOR_LARGE = 1.2
_LARGE = frozenset({"performance-l-ram", "performance-xl", "performance-2xl"})


def size_key(size: str | None) -> str | None:
    """The lookup key of a dyno size name: `Standard-1X` -> `standard-1x`; None stays None."""
    return size.strip().lower() if size else None


def quota_mb(size: str | None) -> float | None:
    """Memory quota of a dyno size name (any case), or None when the name is unknown."""
    key = size_key(size)
    return DYNO_QUOTA_MB.get(key) if key else None


def r15_factor(size: str | None) -> float:
    """How many quotas a dyno may use before R15 kills it (2.0 when the size is unknown)."""
    key = size_key(size) or ""
    if key.startswith(("private-", "shield-")):
        return 1.0
    if key in _LARGE:
        return R15_FACTOR_LARGE
    return R15_FACTOR_DEFAULT


def r15_limit_mb(size: str | None, *, logged_quota_mb: float | None = None) -> float | None:
    """The R15 limit in MB: the log's own `memory_quota` wins over the size's table quota."""
    quota = logged_quota_mb if logged_quota_mb else quota_mb(size)
    return None if quota is None else quota * r15_factor(size)


def r15_pct(size: str | None) -> float:
    """The R15 limit as a percent of the quota (200 on most types)."""
    return 100.0 * r15_factor(size)


# The router gives up on a request after 30 s (H12, `service=30000ms`); 55 s of idle mid-
# response is H15/H28. A boot must bind $PORT within 60 s (R10; 90 s for some JVM apps).
ROUTER_TIMEOUT_MS = 30_000
ROUTER_TIMEOUT_S = 30.0
IDLE_TIMEOUT_MS = 55_000
BOOT_TIMEOUT_S = 60.0
# After SIGTERM a dyno has this long to exit before SIGKILL (R12). 2012-era logs say 10 s; the
# R12 line states the window it used ("within 30 seconds of SIGTERM"): `shutdown_seconds`.
SHUTDOWN_SECONDS = 30.0
# Plain regex text that Python and DuckDB (RE2) read alike.
R12_WINDOW_RE = r"within (\d+) seconds? of SIGTERM"
_R12_WINDOW = re.compile(R12_WINDOW_RE)


def shutdown_seconds(r12_description: str | None) -> float:
    """The shutdown window an R12 line states, else the current 30 s.

    >>> shutdown_seconds("Process failed to exit within 10 seconds of SIGTERM")
    10.0
    """
    m = _R12_WINDOW.search(r12_description or "")
    return float(m.group(1)) if m else SHUTDOWN_SECONDS


def shutdown_seconds_sql(col: str) -> str:
    """`shutdown_seconds` as a DuckDB SQL expression (DOUBLE) over the R12 text in `col`."""
    found = f"nullif(regexp_extract({col}, '{R12_WINDOW_RE}', 1), '')"
    return f"coalesce(TRY_CAST({found} AS DOUBLE), {SHUTDOWN_SECONDS})"


# The dyno manager restarts a crashed dyno at once the first time, then after a cool-off that
# grows with each crash (minutes); a new release, `heroku restart` or scaling resets it.
CRASH_RESTART_BACKOFF_MINUTES: tuple[float, ...] = (0, 20, 40, 60, 180, 320)

# Exit statuses with a platform meaning.
EXIT_SIGTERM = 143
EXIT_SIGKILL = 137

# Error codes and what they mean (Heroku Error Codes). Router codes are H*, dyno manager R*,
# logging L*.
ERROR_CODES: dict[str, str] = {
    "H10": "App crashed",
    "H11": "Backlog too deep",
    "H12": "Request timeout",
    "H13": "Connection closed without response",
    "H14": "No web processes running",
    "H15": "Idle connection",
    "H16": "Redirect to herokuapp.com",
    "H17": "Poorly formatted HTTP response",
    "H18": "Server Request Interrupted",
    "H19": "Backend connection timeout",
    "H20": "App boot timeout",
    "H21": "Backend connection refused",
    "H22": "Connection limit reached",
    "H23": "Endpoint misconfigured",
    "H24": "Forced close",
    "H25": "HTTP restriction",
    "H26": "Request Error",
    "H27": "Client Request Interrupted",
    "H28": "Client Connection Idle",
    "H31": "Misdirected Request",
    "H80": "Maintenance mode",
    "H81": "Blank app",
    "H82": "Free dyno quota exhausted",
    "H99": "Platform error",
    "R10": "Boot timeout",
    "R12": "Exit timeout",
    "R13": "Attach error",
    "R14": "Memory quota exceeded",
    "R15": "Memory quota vastly exceeded",
    "R16": "Detached",
    "R17": "Checksum error",
    "R99": "Platform error",
    "L10": "Drain buffer overflow",
    "L11": "Tail buffer overflow",
    "L12": "Local buffer overflow",
    "L13": "Local delivery error",
    "L14": "Certificate validation error",
    "L15": "Tail buffer temporarily unavailable",
}
# Router codes that mean the app (not one route) could not serve: grouped across routes.
APP_DOWN_CODES = ("H10", "H13", "H14", "H20", "H99")
# Heroku's own failures (router H99, dyno R99): nothing in the app caused them.
PLATFORM_CODES = ("H99", "R99")
# Router codes the router answers itself for the whole app, before any dyno: the maintenance
# page (`heroku maintenance:on`), a blank app with no code, free dyno hours used up. No
# release's code served them, and they hold for every route alike.
ROUTER_PAGE_CODES = ("H80", "H81", "H82")
# Router codes where the client gave up, not the app (never a failed request of the app's).
CLIENT_CODES = ("H27", "H28", "H31")
# Codes that lose log lines.
LOG_LOSS_CODES = ("L10", "L11", "L12", "L13")

# Dyno names: `web.1`, `worker.2`, `run.1234`, `scheduler.9200`, `release.8012`; the process
# type is everything before the first dot. A dyno id is `heroku.<app id>.<uuid>` and changes at
# every restart.
# `DYNO_NAME_RE` is plain regex text that Python and DuckDB (RE2) read alike; match it whole.
DYNO_NAME_RE = "[A-Za-z][A-Za-z0-9_-]*\\.[0-9]+"
DYNO_NAME = re.compile(DYNO_NAME_RE)
UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
UUID_RE = re.compile(UUID)
DYNO_ID = re.compile(rf"heroku\.(\d+)\.({UUID})")
# The user Heroku Scheduler runs its jobs as (`Starting process with command ... by user ...`).
SCHEDULER_USER = "scheduler@addons.heroku.com"
# Process types of one-off dynos, which run one command and stop (not from the Procfile's
# formation): `heroku run`, Heroku Scheduler, the release phase, and the Bamboo-era names of
# `heroku run` (`console.1`, `rake.1`).
ONE_OFF_TYPES = frozenset({"run", "scheduler", "release", "console", "rake"})
# Add-on server logs that arrive as app output, named like dynos: `app[postgres.4242]` is one
# Heroku Postgres backend (its pid), `app[redis]` the Redis server. Not dynos of the app.
ADDON_LOG_TYPES = frozenset({"postgres", "redis"})
# Heroku Postgres logs every statement that runs this long or longer (log_min_duration_statement
# on Standard and higher plans), as `LOG:  duration: 2463.560 ms  statement: SELECT ...`.
PG_SLOW_STATEMENT_MS = 2000
# The process that logs the database's own metrics (`sample#load-avg-1m=...`).
PG_METRICS_DYNO = "heroku-postgres"


def process_type(dyno: str | None) -> str | None:
    """`web.1` -> `web`: the dyno name up to its first dot (the whole name when it has none)."""
    return None if dyno is None else dyno.split(".", 1)[0]


def process_type_sql(col: str = "dyno") -> str:
    """`process_type` as a DuckDB SQL expression over column `col`."""
    return f"split_part({col}, '.', 1)"


def process_type_expr(col: str = "dyno") -> pl.Expr:
    """`process_type` as a Polars expression over column `col`."""
    return pl.col(col).str.split_exact(".", 1).struct.field("field_0").alias("process_type")
