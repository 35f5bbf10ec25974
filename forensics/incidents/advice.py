"""What to do about an incident, from its evidence and Heroku practice."""

from __future__ import annotations

import re

from forensics.findings.request_errors import said
from forensics.heroku import CURRENT_SIZES, PLATFORM_CODES, quota_mb, r15_limit_mb
from forensics.incidents.model import Incident

# The database (or its pool) out of connections, as Postgres, Rails, SQLAlchemy, Django, Prisma,
# node-postgres and Sequel say it.
_DB_CONNECTIONS = re.compile(
    r"too many connections|remaining connection slots|connection limit exceeded"
    r"|could not obtain a (?:database )?connection|ConnectionTimeoutError|QueuePool limit"
    r"|timeout exceeded when trying to connect|Timed out fetching a new connection"
    r"|PoolTimeout|too many clients",
    re.IGNORECASE,
)


# A dependency the app could not reach, as Ruby, Python, Node, Java and HTTP clients say it.
_UNREACHABLE = re.compile(
    r"APIConnectionError|ConnectionError|ConnectTimeout|ReadTimeout|OpenTimeout|TimeoutError"
    r"|Timeout::Error|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EAI_AGAIN|getaddrinfo|SocketError"
    r"|CannotConnectError|Could not connect|Connection refused|Connection reset"
    r"|connect timed out|Name or service not known|SSL_connect|UnknownHostException",
    re.IGNORECASE,
)
_HOST = re.compile(r"https?://([\w.-]+)|\b([a-z0-9-]+(?:\.[a-z0-9-]+)+):\d{2,5}\b", re.I)


def _errors_advice(inc: Incident, fs: list) -> str | None:
    """Request errors whose exception the app logged: fix it, or, when it is a dependency
    that could not be reached, guard the calls to it."""
    errs = [f for f in fs if f.kind == "request_errors" and f.evidence.get("exceptions")]
    if not errs:
        return None
    top = errs[0].evidence["exceptions"][0]
    text = said(top)
    if not text:
        return None
    routes = sorted({f.route for f in errs if f.route})
    where = ", ".join(routes[:3]) or "the app"
    if _UNREACHABLE.search(text):
        host = _HOST.search(text)
        dep = host.group(1) or host.group(2) if host else "a service it calls"
        return (
            f"{where} failed because the app could not reach {dep} ({text}): a dependency's "
            "outage or network trouble, not this code's logic. Check that service's status for "
            "the time, and guard the calls: a short timeout, retries with backoff, a circuit "
            "breaker, and an answer for users (or a background retry) instead of a 500."
        )
    rel = f" (release {inc.root.release})" if inc.root.release else ""
    return f"Fix what {where} raises{rel}: {text}, logged {top.get('count', 0)} times."


def _size_for(peak_mb: float) -> str | None:
    """The smallest current size whose quota holds `peak_mb`."""
    return next((s for s in CURRENT_SIZES if (quota_mb(s) or 0) >= peak_mb), None)


# A config var named in a crash reason: KeyError: 'DATABASE_URL', "FOO is not set", ENV["FOO"]
_CONFIG_VAR = re.compile(
    r"""(?:KeyError: key not found: "|KeyError: '|ENV\[["']|\b)([A-Z][A-Z0-9_]{2,})"""
    r"""(?:["']\]?| is not set| must be set| missing)"""
)


# Lifetime classifications (`analyses.memory`) of a memory level that holds rather than grows.
_NOT_GROWING = ("healthy", "plateau", "warmup", "step", "spike")


def _over_quota(inc: Incident, over: list) -> str:
    """Memory over quota with no leak: the processes need more than the dyno has."""
    peak = max(float(f.evidence.get("peak_mb") or 0) for f in over)
    quota = min(float(f.evidence.get("quota_mb") or 0) for f in over) or None
    ptype = next((f.process_type for f in over if f.process_type), None) or "web"
    n = len({f.dyno for f in over if f.dyno}) or 1
    boot = any(
        quota and float(f.evidence.get("lifetime_start_mb") or 0) >= 0.9 * quota for f in over
    )
    if peak:
        text = f"{ptype} needs up to {peak:.0f} MB" + (" from boot" if boot else "")
        text += f", more than its {quota:.0f} MB quota" if quota else ""
    else:
        text = f"{ptype} went over its memory quota" + (f" of {quota:.0f} MB" if quota else "")
    flat = all(f.evidence.get("lifetime_classification") in _NOT_GROWING for f in over)
    fewer = (
        "WEB_CONCURRENCY, --workers / --threads"
        if ptype == "web"
        else "the job runner's concurrency: Sidekiq -c, Celery --concurrency, ..."
    )
    text += (
        ", and swaps over it (R14: slower responses; R15 kills it at the limit). "
        + ("Its memory does not grow, so it is not a leak: run" if flat and peak else "Run")
        + f" fewer processes or threads per dyno ({fewer}) or a bigger dyno"
    )
    size = _size_for(peak * 1.1) if peak else None
    if size:
        text += f": {size} ({quota_mb(size):.0f} MB) holds it, `heroku ps:scale {ptype}={n}:{size}`"
    elif peak:
        text += f": no dyno size holds {peak:.0f} MB, so the processes must use less"
    r = inc.resolved_by
    if r is not None and r.kind == "scale":
        text += f" (the scale at {r.ts:%H:%M} ended it)"
    return text + "."


def advice(inc: Incident) -> list[str]:
    fs = [m.finding for m in inc.members]
    kinds = {f.kind for f in fs}
    out = []
    leak = next((f for f in fs if f.kind == "memory_leak"), None)
    if leak:
        route = leak.route or "the leaking code path"
        peaks = [float(lt.get("peak_mb") or 0) for lt in leak.evidence.get("lifetimes") or []]
        peaks += [float(f.evidence.get("peak_mb") or 0) for f in fs if f.kind == "memory_quota"]
        peak = max(peaks, default=0.0)
        size = _size_for(peak) if peak else None
        n = len(leak.evidence.get("dynos") or []) or 1
        ptype = leak.process_type or "web"
        text = f"Fix the leak in {route} (release {leak.release})."
        if size:
            text += (
                f" Until then, {size} ({quota_mb(size):.0f} MB) holds the {peak:.0f} MB "
                f"peak: `heroku ps:scale {ptype}={n}:{size}`."
            )
        elif peak:
            text += f" No dyno size holds a leak that grows without bound ({peak:.0f} MB seen)."
        text += " A leak keeps growing: a bigger dyno only delays R14/R15 (R15 at "
        text += f"{r15_limit_mb(size or 'Standard-1X'):.0f} MB); restart before it if needed."
        out.append(text)
    hot = {f.route for f in fs if f.kind == "timeout_hotspot" and f.route}
    reg = inc.trigger_regression()
    db = None if reg else inc.busy_database()
    surge = None if reg else inc.surge()
    if len(hot) > 1 and reg:
        # every route slow from one release: the release, not each route's work
        done = inc.resolved_by is not None and inc.resolved_by.kind == "release"
        back = "as was done" if done else f"`heroku rollback` to the release before {reg.release}"
        out.append(
            f"Release {reg.release} made {len(hot)} routes slow at once: roll it back ({back}) "
            "and look in its diff for what every request runs (middleware, a layout's query, "
            "a call to another service, a changed pool size)."
        )
    if db:
        top = db.get("top_statement")
        what = (
            f"run `EXPLAIN ANALYZE` on `{top}` (logged {db['top_statement_count']} times) and "
            "add the index or rewrite it needs"
            if top
            else "find the costly queries"
        )
        out.append(
            f"The database is what the slow routes share: {what}; `heroku pg:outliers` and "
            "`heroku pg:diagnose` (pg-extras) list the costliest queries and missing indexes. "
            "Set a `statement_timeout` under 30 s so a slow query fails fast instead of holding "
            "a dyno until the router's H12."
        )
    if surge:
        web = {str(d) for f in fs for d in f.evidence.get("by_dyno") or {}} | set(inc.dynos)
        n = len({d for d in web if d.startswith("web.")}) or 1
        out.append(
            f"Traffic rose to {surge['ratio']:.1f}x its level of the hour before and {n} web "
            f"dyno{'s' if n > 1 else ''} could not keep up: scale web out ahead of known surges "
            "(`heroku ps:scale web=N`, in proportion to the traffic) or enable autoscaling "
            "(Performance dynos, or an autoscaling add-on), and keep requests short so each "
            "process frees up sooner; the router queues requests at the dyno and gives up at "
            "30 s (H12)."
        )
    told = (len(hot) > 1 and reg) or db or surge
    if not told and kinds & {"timeout_hotspot", "offload_candidate"}:
        routes = sorted({f.route for f in fs if f.route})
        out.append(
            f"Move the slow work of {', '.join(routes) or 'the route'} to a background "
            "worker; the router gives up at 30 s (H12) whatever the dyno keeps doing."
        )
    reason = next(
        (f.evidence["reason"] for f in fs if isinstance(f.evidence.get("reason"), dict)), None
    )
    # what took it down, and (a downtime's `kept_down_by`) what its restarts then died of
    for r in [reason, (reason or {}).get("kept_down_by")] if reason and not leak else []:
        if not isinstance(r, dict):
            continue
        text = str(r.get("text") or "").rstrip(".")
        where = f" at {r['location']}" if r.get("location") else ""
        var = _CONFIG_VAR.search(text)
        fix = (
            f" Set it: `heroku config:set {var.group(1)}=...` (a config change restarts the dynos)."
            if var
            else ""
        )
        crashed = not (kinds & {"job_failed", "release_phase_failed"}) and (
            inc.kind != "worker_errors"
        )
        head = "Fix what crashes it" if crashed else "Fix what makes it fail"
        if r is not reason:
            head = "Then what its restarts died of"
        out.append(f"{head}: {text}{where}.{fix}")
    if not leak and kinds & {"worker_down", "downtime", "crash_loop", "hung_dyno"}:
        types = {f.process_type for f in fs if f.process_type}
        if types - {"web"}:
            out.append(
                "Alert on workers that stop: a crashed dyno is restarted with a growing "
                "cool-off (up to hours), so restart it (`heroku ps:restart "
                f"{sorted(types - {'web'})[0]}`) once the cause is fixed, and watch for the "
                "next `State changed from up to crashed`."
            )
        if "web" in types:
            out.append(
                "Catch a release that does not boot before it takes web down: a release-phase "
                "check or Preboot (`heroku features:enable preboot`), and `heroku rollback` to "
                "the last release that came up."
            )
    if "boot_timeout" in kinds:
        out.append(
            "Bind $PORT within 60 s of boot (R10): move slow boot work out of the boot "
            "path, and roll back the release that does not boot (`heroku rollback`)."
        )
    over = [f for f in fs if f.kind == "memory_quota"]
    if over and not leak:
        out.append(_over_quota(inc, over))
    if inc.kind == "worker_errors":
        out.append(
            "The jobs that failed meanwhile are lost unless the job runner retries them: look in "
            "its retry and dead queues (Sidekiq's Retries/Dead tabs, Celery's failed tasks) and "
            "re-enqueue what did not run, and alert on the worker's error rate, not only on "
            "crashes: a worker that fails every job stays up."
        )
    if "unclean_shutdown" in kinds:
        out.append(
            "Handle SIGTERM: finish or requeue in-flight work and exit within 30 s "
            "(R12 means the work was cut)."
        )
    if "ephemeral_files" in kinds:
        out.append(
            "Files written to the dyno disk vanish at every restart: keep them in S3 or a database."
        )
    for f in fs:
        if f.kind == "release_phase_failed":
            rel = f.release or "the release"
            out.append(
                f"Fix the release command and deploy again: {rel} never went live "
                f"(`heroku releases:output {rel}` prints the command's whole output)."
            )
        elif f.kind == "job_failed" and f.process_type == "scheduler":
            cmd = f.evidence.get("command")
            rerun = f" (`heroku run {cmd}`)" if cmd else ""
            out.append(
                f"Fix the job and run the missed work by hand{rerun}: Heroku Scheduler does not "
                "retry a failed job or alert on it, so check that its work got done (a "
                "dead man's switch on the job's last success)."
            )
    logged = [
        f"{e.get('exception')} {e.get('example')}"
        for f in fs
        if f.kind == "request_errors"
        for e in f.evidence.get("exceptions") or []
    ]
    if any(_DB_CONNECTIONS.search(s) for s in logged):
        t = inc.trigger
        scaled = ""
        if t and t.kind == "scale":
            to = t.summary.split(" by ")[0].removeprefix("Scaled ").removeprefix("Scale ")
            scaled = f" (scaling {to} multiplied them)"
        out.append(
            "The database ran out of connections: every dyno process opens up to its pool "
            "(RAILS_MAX_THREADS, DB_POOL, the ORM's pool size), so dynos x processes x pool must "
            f"stay under the Postgres plan's connection limit{scaled}. Lower the pool or put "
            "PgBouncer in front (the pgbouncer buildpack), then scale."
        )
    elif inc.kind == "request_errors" and "ephemeral_files" not in kinds:
        tip = _errors_advice(inc, fs)
        if tip:
            out.append(tip)
    seen = {str(c) for f in fs for c in (f.evidence.get("codes") or {})}
    seen |= {str(f.evidence.get("code")) for f in fs if f.evidence.get("code")}
    platform = sorted(seen & set(PLATFORM_CODES))
    if platform:
        out.append(
            f"{'/'.join(platform)} is Heroku's own error, not the app's: look up "
            "status.heroku.com for that time and region, and open a Heroku support ticket "
            "with the request ids and times; there is no code of yours to fix."
        )
    if "concurrency" in kinds:
        out.append("Tune --workers/--threads (WEB_CONCURRENCY) so the processes fit the memory.")
    codes = {str(f.evidence.get("code")) for f in fs if f.kind == "log_loss"}
    if codes & {"L10", "L12", "L13"}:
        out.append(
            "Logplex dropped log lines because a drain could not keep up (it buffers about 1,024 "
            "messages per drain): make the drain endpoint accept faster or log less, and read "
            "this period's counts as lower bounds."
        )
    if "L11" in codes:
        out.append(
            "A `heroku logs --tail` session fell behind and lost lines: export from a drain "
            "(or `heroku logs -n 1500` after the fact) for a complete record of this period."
        )
    return out
