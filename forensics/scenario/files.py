"""Files lost on restart (the `ephemeral_files` knob): the export route writes each report to
the dyno's own disk, and a download route reads it back later, from whichever dyno the router
picks. A dyno's filesystem is its own and is wiped at every restart, so a download fails with
the stack's missing-file error when it lands on another dyno or after the writer restarted.

Everything here draws from its own random stream, so a scenario without the knob is the same
byte for byte, and one with it differs only by the lines added here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .catalog import route_index
from .ids import uuid4s
from .timefmt import MINUTE, US, iso, rails_stamp, stamps
from .traffic import OK, Requests, diurnal

if TYPE_CHECKING:
    from .engine import Simulation

WRITE_ROUTE = "/reports/:id/export"
READ_ROUTE = "/reports/:id/download"
KEEP_US = 60 * MINUTE  # a download asks for a report exported in the last hour
STACKS = ("ruby", "python", "node", "java")
DIRS = {"ruby": "/app/tmp/exports", "python": "/tmp/exports", "node": "/tmp/exports",
        "java": "/tmp/exports"}  # fmt: skip


@dataclass
class Written:
    """One file on one dyno's disk: lost when that process instance (dyno_id) ends."""

    t: int
    dyno: str
    dyno_id: str
    path: str
    report: int


@dataclass
class Files:
    """The files written so far, and every failed read (for the truth)."""

    rng: np.random.Generator
    stack: str
    per_hour: float
    files: list[Written] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    reads: int = 0
    writes: int = 0

    def segment(self, sim: Simulation, t0: int, t1: int, req: Requests, webs: list[Any]) -> None:
        """Write the files of this segment's exports, then serve its downloads (`webs`: the up
        web dynos, in the order `req.dyno` indexes them)."""
        if not webs:
            return
        self._writes(sim, req, webs)
        self._reads(sim, t0, t1, webs)
        keep = t1 - KEEP_US
        self.files = [f for f in self.files if f.t >= keep]

    def _writes(self, sim: Simulation, req: Requests, webs: list[Any]) -> None:
        w = (req.route == route_index(WRITE_ROUTE)) & (req.code == OK) & (req.status < 400)
        w &= req.dyno >= 0
        idx = np.flatnonzero(w)
        if not len(idx):
            return
        done = req.arrive[idx] + req.duration[idx]
        reports = self.rng.integers(1000, 99_999, len(idx)).tolist()
        kb = self.rng.integers(40, 900, len(idx)).tolist()
        lines, keys, slots = [], [], []
        for j, (t, d) in enumerate(zip(done.tolist(), req.dyno[idx].tolist(), strict=True)):
            dyno = webs[d]
            path = f"{DIRS[self.stack]}/report-{reports[j]}.csv"
            self.files.append(Written(t, dyno.name, dyno.life.dyno_id, path, reports[j]))
            pid = dyno.life.proc.pids[j % len(dyno.life.proc.pids)]
            lines.append(f"{iso(t)} app[{dyno.name}]: {_wrote(self.stack, t, pid, path, kb[j])}")
            keys.append(t)
            slots.append(dyno.slot)
        self.writes += len(lines)
        sim.emitter.add(np.array(keys), lines, "app", np.array(slots))

    def _reads(self, sim: Simulation, t0: int, t1: int, webs: list[Any]) -> None:
        rng = self.rng
        mid = np.array([(t0 + t1) // 2])
        k = int(rng.poisson(self.per_hour * float(diurnal(mid)[0]) * (t1 - t0) / (3600 * US)))
        if not k:
            return
        when = np.sort(t0 + (rng.random(k) * (t1 - t0)).astype(np.int64)).tolist()
        pick = rng.integers(0, len(webs), k).tolist()
        fwd, client = sim.clients.pick(rng, k)
        rid = uuid4s(rng, k)
        for i, t in enumerate(when):
            recent = [f for f in self.files if t - KEEP_US <= f.t < t]
            if not recent:
                continue
            f = recent[int(rng.integers(0, len(recent)))]
            d = webs[pick[i]]
            lost = d.life.dyno_id != f.dyno_id
            self._serve(sim, t, d, f, lost, rid[i], fwd[i], client[i])
            self.reads += 1
            if lost:
                self.errors.append(
                    {
                        "time": iso(t),
                        "dyno": d.name,
                        "path": f.path,
                        "written_by": f.dyno,
                        "written_at": iso(f.t),
                        "why": "other_dyno" if f.dyno != d.name else "restart",
                    }
                )

    def _serve(
        self, sim: Simulation, t: int, d: Any, f: Written, lost: bool, rid: str, fwd: str,
        client: str,
    ) -> None:  # fmt: skip
        """The router line and the app's lines of one download."""
        rng = self.rng
        ms = int(rng.integers(2, 9)) if lost else int(rng.integers(15, 120))
        status = 500 if lost else 200
        nbytes = int(rng.integers(200, 700)) if lost else int(rng.integers(40_000, 900_000))
        path = f"/reports/{f.report}/download"
        pid = d.life.proc.pids[int(rng.integers(0, len(d.life.proc.pids)))]
        t_done = t + ms * 1000
        router = (
            f"{iso(t_done + int(rng.integers(300, 2500)))} heroku[router]: at=info method=GET "
            f'path="{path}" host={sim.host} request_id={rid} fwd="{fwd}" dyno={d.name} '
            f"connect=1ms service={ms}ms status={status} bytes={nbytes} protocol=https"
        )
        app = _app_lines(self.stack, t, t_done, pid, rid, path, client, f.path, lost)
        sim.emitter.add(np.array([t_done + 2500]), [router], "router", d.slot)
        if not app:
            return
        keys = np.array([t + 200] + [t_done + 10 * i for i in range(1, len(app))])
        src = f"app[{d.name}]"
        ts = stamps(keys)
        sim.emitter.add(keys, [f"{s}+00:00 {src}: {m}" for s, m in zip(ts, app, strict=True)],
                        "app", d.slot)  # fmt: skip


def _wrote(stack: str, t: int, pid: int, path: str, kb: int) -> str:
    """The app's line saying it wrote an export file (it names the path)."""
    s = iso(t)[:26]
    if stack == "ruby":
        return f"I, [{s} #{pid}]  INFO -- : Export written to {path} ({kb} KB)"
    if stack == "python":
        return f"[{s[:10]} {s[11:19]},{s[20:23]}] INFO reports.export: wrote {path} ({kb} KB)"
    if stack == "node":
        return f"info: export written {path} ({kb} KB)"
    return (
        f"{s[:23]}  INFO {pid} --- [nio-8080-exec-2] c.a.shop.reports.ExportService : wrote {path}"
    )


def _app_lines(
    stack: str, t: int, t_done: int, pid: int, rid: str, url: str, client: str, path: str,
    lost: bool,
) -> list[str]:  # fmt: skip
    """What the app prints for one download: the stack's missing-file error when `lost`."""
    s, e = iso(t)[:26], iso(t_done)[:26]
    if stack == "ruby":
        head = f"I, [{s} #{pid}]  INFO -- : [{rid}] "
        out = [f'{head}Started GET "{url}" for {client} at {rails_stamp(s)}']
        if not lost:
            return [*out, f"I, [{e} #{pid}]  INFO -- : [{rid}] Completed 200 OK in 12ms"]
        fatal = f"F, [{e} #{pid}] FATAL -- : [{rid}] "
        return [
            *out,
            f"I, [{e} #{pid}]  INFO -- : [{rid}] Completed 500 Internal Server Error in 3ms",
            f"{fatal}Errno::ENOENT (No such file or directory @ rb_sysopen - {path}):",
            f"{fatal}app/controllers/reports_controller.rb:41:in `download'",
        ]
    if not lost:
        return []
    if stack == "python":
        return [
            f"[{e[:10]} {e[11:19]},{e[20:23]}] ERROR django.request: Internal Server Error: {url}",
            "Traceback (most recent call last):",
            '  File "/app/reports/views.py", line 58, in download',
            '    return FileResponse(open(path, "rb"))',
            f"FileNotFoundError: [Errno 2] No such file or directory: '{path}'",
        ]
    if stack == "node":
        return [
            f"Error: ENOENT: no such file or directory, open '{path}'",
            "    at Object.openSync (node:fs:601:3)",
            "    at download (/app/src/routes/reports.js:41:22)",
        ]
    return [
        f"{e[:23]} ERROR {pid} --- [nio-8080-exec-3] o.a.c.c.C.[.[.[/].[dispatcherServlet]"
        " : Servlet.service() for servlet [dispatcherServlet] threw exception",
        f"java.io.FileNotFoundException: {path} (No such file or directory)",
        "\tat java.base/java.io.FileInputStream.open0(Native Method)",
        "\tat com.acme.shop.reports.ReportController.download(ReportController.java:77)",
    ]


def new_files(seed: int, stack: str, per_hour: float) -> Files:
    """The knob's state, with a random stream of its own."""
    return Files(np.random.default_rng([seed, 5]), stack, per_hour)
