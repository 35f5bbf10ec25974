"""Text of dyno lifecycle sequences: boot, graceful stop, restart, R12, R15, crash, scale."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from forensics import heroku as platform

from .timefmt import US, iso

MS = 1000
WEB_COMMAND = "bundle exec puma -C config/puma.rb"
WORKER_COMMAND = "bundle exec sidekiq -C config/sidekiq.yml"
SIDEKIQ = "7.2.4"
PUMA_VERSION = '6.4.2 (ruby 3.2.2-p53) ("The Eagle of Durango")'
R12_TEXT = (
    f"Error R12 ({platform.ERROR_CODES['R12']}) -> At least one process failed to exit within "
    f"{platform.SHUTDOWN_SECONDS:.0f} seconds of SIGTERM"
)
BOOTING = "INFO: Booting Sidekiq {v} with Sidekiq::RedisConnection::RedisClientAdapter options {o}"
CONNECTING = (
    'INFO: Sidekiq {v} connecting to Redis with options {{:size=>10, :pool_name=>"internal", '
    ':url=>"{u}"}}'
)
JOB_ERROR = (
    "/app/app/services/import/feed_parser.rb:88:in `parse_row': "
    "undefined method `fetch' for nil (NoMethodError)",
    "\tfrom /app/app/services/import/feed_parser.rb:41:in `block in call'",
    "\tfrom /app/app/jobs/import_job.rb:12:in `perform'",
    f"\tfrom /app/vendor/bundle/ruby/3.2.0/gems/sidekiq-{SIDEKIQ}/lib/sidekiq/processor.rb:202"
    ":in `execute_job'",
)
BOOT_ERROR = (
    "/app/config/initializers/import_feed.rb:3:in `fetch': "
    'key not found: "IMPORT_FEED_TOKEN" (KeyError)',
    "\tfrom /app/config/initializers/import_feed.rb:3:in `<main>'",
)


@dataclass
class Block:
    """A sequence of (time, source, message, kind) lines with a moving time cursor."""

    t: int
    items: list[tuple[int, str, str, str]] = field(default_factory=list)

    def add(self, gap_us: float, source: str, message: str, kind: str) -> int:
        """Advance the cursor by gap_us and add one line there; returns its time."""
        self.t += int(gap_us)
        self.items.append((self.t, source, message, kind))
        return self.t


@dataclass
class Proc:
    """One running process instance: its dyno, type and the ids its output mentions."""

    dyno: str
    ptype: str  # web | worker
    master_pid: int
    pids: list[int]
    tid: str
    tids: list[str]  # thread ids of Sidekiq processors

    @property
    def command(self) -> str:
        return WEB_COMMAND if self.ptype == "web" else WORKER_COMMAND


def new_proc(rng: np.random.Generator, dyno: str, ptype: str, workers: int) -> Proc:
    """Pids and thread ids for a fresh process (small pids, as in containers)."""
    master = int(rng.choice([2, 3, 4]))
    pids = sorted(int(p) for p in rng.choice(np.arange(master + 2, 40), workers, replace=False))
    tids = [np.base_repr(int(x), 36).lower() for x in rng.integers(36**3, 36**4, 11)]
    return Proc(dyno, ptype, master, pids, tids[0], tids[1:])


def heroku(p: Proc) -> str:
    return f"heroku[{p.dyno}]"


def app(p: Proc) -> str:
    return f"app[{p.dyno}]"


def sidekiq(p: Proc, msg: str, tid: str | None = None) -> str:
    """A Sidekiq log message as printed on Heroku (no timestamp of its own)."""
    return f"pid={p.master_pid} tid={tid or p.tid} {msg}"


def _sidekiq_booting(b: Block, rng: np.random.Generator, p: Proc, redis_url: str) -> None:
    opts = f'{{:url=>"{redis_url}"}}'
    b.add(rng.uniform(2, 4) * US, app(p), sidekiq(p, BOOTING.format(v=SIDEKIQ, o=opts)), "app")


def boot(b: Block, rng: np.random.Generator, p: Proc, threads: int, redis_url: str) -> int:
    """`Starting process` and the app's boot output; returns the `up` time."""
    b.add(0, heroku(p), f"Starting process with command `{p.command}`", "lifecycle")
    a = app(p)
    if p.ptype == "web":
        m = f"[{p.master_pid}]"
        b.add(rng.uniform(1.5, 3.5) * US, a, f"{m} Puma starting in cluster mode...", "app")
        b.add(300, a, f"{m} * Puma version: {PUMA_VERSION}", "app")
        b.add(40, a, f"{m} * Min threads: {threads}, max threads: {threads}", "app")
        b.add(20, a, f"{m} * Environment: production", "app")
        b.add(20, a, f"{m} * Workers: {len(p.pids)}", "app")
        b.add(30, a, f"{m} * Preloading application", "app")
        port = int(rng.integers(10000, 60000))
        b.add(rng.uniform(1, 3) * US, a, f"{m} * Listening on http://0.0.0.0:{port}", "app")
        b.add(200, a, f"{m} Use Ctrl-C to stop", "app")
        for i, pid in enumerate(p.pids):
            took = f"{rng.uniform(0.01, 0.05):.2f}"
            msg = f"{m} - Worker {i} (PID: {pid}) booted in {took}s, phase: 0"
            b.add(rng.uniform(5, 40) * MS, a, msg, "app")
        up_gap = rng.uniform(0.3, 2.0) * US
    else:
        _sidekiq_booting(b, rng, p, redis_url)
        msg = CONNECTING.format(v=SIDEKIQ, u=redis_url)
        b.add(rng.uniform(0.5, 1.5) * US, a, sidekiq(p, msg), "app")
        b.add(
            rng.uniform(20, 90) * MS,
            a,
            sidekiq(p, "INFO: Starting processing, hit Ctrl-C to stop"),
            "app",
        )
        up_gap = rng.uniform(0.2, 1.0) * US
    return b.add(up_gap, heroku(p), "State changed from starting to up", "state_change")


def shutdown_output(b: Block, rng: np.random.Generator, p: Proc, hangs: bool) -> None:
    """What the app prints after SIGTERM (only the first lines when it hangs: R12)."""
    a = app(p)
    if p.ptype == "web":
        m = f"[{p.master_pid}]"
        b.add(rng.uniform(5, 60) * MS, a, f"{m} - Gracefully shutting down workers...", "app")
        if hangs:
            return
        stamp = iso(b.t)[:19].replace("T", " ")
        b.add(rng.uniform(100, 600) * MS, a, f"{m} === puma shutdown: {stamp} +0000 ===", "app")
        b.add(200, a, f"{m} - Goodbye!", "app")
        b.add(rng.uniform(5, 30) * MS, a, "Exiting", "app")
        return
    b.add(rng.uniform(5, 60) * MS, a, sidekiq(p, "INFO: Shutting down"), "app")
    b.add(400, a, sidekiq(p, "INFO: Terminating quiet threads for default capsule"), "app")
    b.add(300, a, sidekiq(p, "INFO: Scheduler exiting..."), "app")
    if hangs:
        b.add(
            rng.uniform(5, 60) * MS,
            a,
            sidekiq(p, "INFO: Pausing to allow jobs to finish..."),
            "app",
        )
        return
    b.add(rng.uniform(50, 500) * MS, a, sidekiq(p, "INFO: Bye!"), "app")


def graceful_stop(b: Block, rng: np.random.Generator, p: Proc, first: str, r12: bool) -> int:
    """Restarting/Cycling (or up -> down on scale-down), SIGTERM, exit 143; or R12, SIGKILL, 137."""
    h = heroku(p)
    if first:
        b.add(0, h, first, "lifecycle")
        b.add(rng.uniform(0.3, 3) * MS, h, "State changed from up to starting", "state_change")
    else:
        b.add(0, h, "State changed from up to down", "state_change")
    b.add(rng.uniform(0.8, 4.0) * US, h, "Stopping all processes with SIGTERM", "lifecycle")
    sigterm = b.t
    shutdown_output(b, rng, p, hangs=r12)
    if r12:
        b.t = sigterm + int(platform.SHUTDOWN_SECONDS * US) + int(rng.uniform(5, 400) * MS)
        b.add(0, h, R12_TEXT, "r12")
        b.add(rng.uniform(1, 3) * MS, h, "Stopping remaining processes with SIGKILL", "lifecycle")
        return b.add(rng.uniform(20, 120) * MS, h, "Process exited with status 137", "lifecycle")
    return b.add(rng.uniform(0.2, 1.5) * US, h, "Process exited with status 143", "lifecycle")


def r15_kill(b: Block, rng: np.random.Generator, p: Proc, mem_mb: float, pct: float) -> int:
    """R15: the memory line, SIGKILL, exit 137, up -> crashed; returns the crash time."""
    h = heroku(p)
    running = f"Process running mem={round(mem_mb)}M({pct:.1f}%)"
    b.add(rng.uniform(3, 15) * MS, h, running, "process_running")
    b.add(rng.uniform(5, 12) * MS, h, "Error R15 (Memory quota vastly exceeded)", "r15")
    b.add(rng.uniform(5, 12) * MS, h, "Stopping process with SIGKILL", "lifecycle")
    b.add(rng.uniform(150, 300) * MS, h, "Process exited with status 137", "lifecycle")
    return b.add(rng.uniform(20, 90) * MS, h, "State changed from up to crashed", "state_change")


def job_crash(b: Block, rng: np.random.Generator, p: Proc, jid: str) -> int:
    """A Sidekiq process dying on an unhandled error: exit 1, up -> crashed."""
    a, h = app(p), heroku(p)
    b.add(0, a, sidekiq(p, f"class=ImportJob jid={jid} INFO: start"), "app")
    b.add(rng.uniform(50, 400) * MS, a, JOB_ERROR[0], "app")
    for line in JOB_ERROR[1:]:
        b.add(20, a, line, "app")
    b.add(rng.uniform(100, 500) * MS, h, "Process exited with status 1", "lifecycle")
    return b.add(rng.uniform(1, 60) * MS, h, "State changed from up to crashed", "state_change")


def boot_crash(b: Block, rng: np.random.Generator, p: Proc, redis_url: str) -> int:
    """A restart attempt of the broken worker: crashed -> starting, boot error, exit 1, crashed."""
    a, h = app(p), heroku(p)
    b.add(0, h, "State changed from crashed to starting", "state_change")
    b.add(rng.uniform(1.5, 5) * US, h, f"Starting process with command `{p.command}`", "lifecycle")
    _sidekiq_booting(b, rng, p, redis_url)
    b.add(rng.uniform(0.3, 1.2) * US, a, BOOT_ERROR[0], "app")
    b.add(20, a, BOOT_ERROR[1], "app")
    b.add(rng.uniform(100, 400) * MS, h, "Process exited with status 1", "lifecycle")
    return b.add(
        rng.uniform(1, 60) * MS, h, "State changed from starting to crashed", "state_change"
    )
