"""Platform and API events (`heroku[<dyno>]`, `app[api]`, `heroku[api]`) -> the `events` table.

Examples (message -> kind and detail columns):

    heroku[web.1]: Error R14 (Memory quota exceeded)          -> error, code=R14,
                                                                 description=Memory quota exceeded
    heroku[web.1]: Error R10 (Boot timeout) -> Web process failed to bind to $PORT within 60 ...
                                                              -> error, code=R10, description=Boot
                                                                 timeout: Web process failed ...
    heroku[logplex]: Error L10 (output buffer overflow): 3 messages dropped since 2015-...
                                                              -> error, code=L10, dropped=3
    heroku[worker.1]: Process running mem=1214M(237.2%)       -> memory, mem_mb=1214, mem_pct=237.2
    heroku[web.3]: State changed from starting to up          -> state_change, from/to_state
    heroku[web.1]: Process exited with status 137             -> exit, exit_status=137
    heroku[web.1]: Stopping all processes with SIGTERM        -> stop, signal=SIGTERM
    heroku[web.1]: Starting process with command `npm start`  -> start, command=npm start
    heroku[web.1]: Cycling / Restarting / Idling / Unidling   -> cycling / restarting / ...
    app[api]: Release v59 created by user a@b.c               -> release, release=v59, user=a@b.c
    app[api]: Deploy 193d1419 by user a@b.c                   -> deploy, commit=193d1419
    app[api]: Scaled to web@2:Standard-1X worker@1:Basic by user a@b.c
                                                              -> scale, formation=web=2:Standard-1X
                                                                 worker=1:Basic
    heroku[api]: Scale to web=2, worker=1 by a@b.c            -> scale, formation=web=2 worker=1
    app[api]: Set FOO, BAR config vars by user a@b.c          -> config_set, config_vars=FOO,BAR

Also: build_started, build_succeeded, build_failed, release_phase, run_command, rollback,
log_session, initial_release, enable_logplex, addon_add/attach/detach/update/remove,
maintenance, slug_compilation, awaiting_client, sighup. A message of no known shape is kept as
kind `other` with its text, never dropped.
"""

from __future__ import annotations

import polars as pl

TABLE = "events"

_ERR_RE = r"^(?:Error )?([RLH]\d{2})(?: \(([^)]*)\))?:?(?: -> (.*)| (.*))?$"

# (kind, how the message starts or a regex it contains); first match wins.
_STARTS: tuple[tuple[str, str], ...] = (
    ("memory", "Process running mem="),
    ("state_change", "State changed from "),
    ("exit", "Process exited"),
    ("stop", "Stopping "),
    ("cycling", "Cycling"),
    ("restarting", "Restarting"),
    ("idling", "Idling"),
    ("unidling", "Unidling"),
    ("awaiting_client", "Awaiting client"),
    ("sighup", "Client connection closed. Sending SIGHUP"),
    ("release", "Release v"),
    ("deploy", "Deploy "),
    ("build_started", "Build started"),
    ("build_succeeded", "Build succeeded"),
    ("build_failed", "Build failed"),
    ("release_phase", "Running release v"),
    ("rollback", "Rollback to "),
    ("log_session", "Log session created"),
    ("initial_release", "Initial release"),
    ("enable_logplex", "Enable Logplex"),
    ("scale", "Scale"),
    ("attach", "Attach "),
    ("detach", "Detach "),
    ("slug_compilation", "Slug compilation"),
    ("maintenance", "Maintenance mode"),
)
_API_DYNOS = ("api",)
# `3 messages dropped since ...` (L10, L12), `lost` (L13), `dropped 1101 messages` (L11)
_DROPPED_RE = r"(?:dropped|lost) \d+ messages|\d+ messages (?:dropped|lost)"


def matches() -> pl.Expr:
    """Envelope rows this parser owns (checked after router and metrics)."""
    origin, dyno, msg = pl.col("origin"), pl.col("dyno"), pl.col("message")
    shuttle = (dyno == "log-shuttle") & msg.str.starts_with("Error L")
    return (origin == "heroku") | dyno.is_in(_API_DYNOS) | shuttle


def _kind(msg: pl.Expr) -> pl.Expr:
    expr = pl.when(msg.str.contains(r"^(?:Error )?[RLH]\d{2}\b")).then(pl.lit("error"))
    expr = expr.when(
        msg.str.starts_with("Starting process with command")
        & msg.str.contains("` by ", literal=True)
    ).then(pl.lit("run_command"))
    expr = expr.when(msg.str.starts_with("Starting process")).then(pl.lit("start"))
    for kind, start in _STARTS:
        expr = expr.when(msg.str.starts_with(start)).then(pl.lit(kind))
    expr = expr.when(msg.str.contains(r"^Set .* config vars")).then(pl.lit("config_set"))
    expr = expr.when(msg.str.contains(r"^(?:Remove|Unset) .* config vars")).then(
        pl.lit("config_removed")
    )
    expr = expr.when(msg.str.contains(r"^Add .* add-on")).then(pl.lit("addon_add"))
    expr = expr.when(msg.str.contains(r"^Remove .* add-on")).then(pl.lit("addon_remove"))
    expr = expr.when(msg.str.contains(r"^Update ")).then(pl.lit("addon_update"))
    return expr.otherwise(pl.lit("other"))


def _only(kind: str | tuple[str, ...]) -> pl.Expr:
    """The message on rows of `kind`, null elsewhere, so each regex runs only where it belongs."""
    kinds = (kind,) if isinstance(kind, str) else kind
    return pl.when(pl.col("kind").is_in(kinds)).then(pl.col("message"))


def _formation(msg: pl.Expr) -> pl.Expr:
    """`Scaled to web@2:Standard-1X worker@1:Basic by ...` or `Scale to web=2, worker=1 by ...`."""
    body = msg.str.extract(r"^Scaled? to (.*?)(?: by .+)?$", 1)
    return body.str.replace_all(r"@", "=").str.replace_all(r",\s*", " ")


def parse(env: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """Event envelope rows -> (events rows, no rejects: unknown shapes are kind `other`)."""
    msg = pl.col("message")
    df = env.with_columns(_kind(msg).alias("kind"))
    err = _only("error").str.extract_groups(_ERR_RE)
    mem = _only("memory").str.extract_groups(r"mem=([0-9.]+)([KMG]?B?)\(([0-9.]+)%\)")
    state = _only("state_change").str.extract_groups(r"^State changed from (\S+) to (\S+)")
    user_re = r" by (?:user )?(.+)$"
    df = df.with_columns(_e=err, _mem=mem, _st=state)
    e, mm, st = (pl.col(c).struct.field for c in ("_e", "_mem", "_st"))
    detail = pl.coalesce(e("3"), e("4"))
    mem_unit = mm("2").str.to_uppercase()
    mem_val = mm("1").cast(pl.Float64, strict=False)
    df = df.with_columns(
        e("1").alias("code"),
        pl.when(detail.is_not_null() & e("2").is_not_null())
        .then(pl.concat_str(e("2"), pl.lit(": "), detail))
        .otherwise(pl.coalesce(e("2"), detail))
        .alias("description"),
        pl.when(mem_unit.str.starts_with("G"))
        .then(mem_val * 1024)
        .when(mem_unit.str.starts_with("K"))
        .then(mem_val / 1024)
        .otherwise(mem_val)
        .alias("mem_mb"),
        mm("3").cast(pl.Float64, strict=False).alias("mem_pct"),
        st("1").alias("from_state"),
        st("2").alias("to_state"),
        _only("exit").str.extract(r"status (-?\d+)", 1).cast(pl.Int32).alias("exit_status"),
        pl.coalesce(
            _only("stop").str.extract(r"with (SIG[A-Z]+)", 1),
            pl.when(pl.col("kind") == "sighup").then(pl.lit("SIGHUP")),
        ).alias("signal"),
        _only(("start", "run_command"))
        .str.extract(r"^Starting process with command:? `(.*)`", 1)
        .alias("command"),
        pl.coalesce(
            _only(("release", "release_phase", "rollback")).str.extract(r"\b(v\d+)\b", 1),
        ).alias("release"),
        _only("deploy").str.extract(r"^Deploy ([0-9a-f]{5,40})\b", 1).alias("commit"),
        _formation(_only("scale")).alias("formation"),
        _only(("config_set", "config_removed"))
        .str.extract(r"^\S+ (.*) config vars", 1)
        .str.replace_all(r",\s*", ",")
        .alias("config_vars"),
        pl.coalesce(
            _only(("attach", "detach")).str.extract(r"^\S+ (\S+)", 1),
            _only(("addon_add", "addon_remove")).str.extract(r"^\S+ (.*?) add-on", 1),
            _only("addon_update").str.extract(r"^Update (\S+)", 1),
        ).alias("addon"),
        _only("error").str.extract(_DROPPED_RE, 0).str.extract(r"(\d+)", 1).cast(pl.Int64)
        .alias("dropped"),
        pl.when(pl.col("dyno").is_in(_API_DYNOS)).then(msg.str.extract(user_re, 1)).alias("user"),
    ).with_columns(
        pl.when(pl.col("kind").is_in(["attach", "detach"]))
        .then(pl.concat_str(pl.lit("addon_"), "kind"))
        .otherwise("kind")
        .alias("kind"),
    )  # fmt: skip
    return df.drop("_e", "_mem", "_st"), None
