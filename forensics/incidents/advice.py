"""What to do about an incident, from its evidence and Heroku practice."""

from __future__ import annotations

from forensics.heroku import CURRENT_SIZES, quota_mb, r15_limit_mb
from forensics.incidents.model import Incident


def _size_for(peak_mb: float) -> str | None:
    """The smallest current size whose quota holds `peak_mb`."""
    return next((s for s in CURRENT_SIZES if (quota_mb(s) or 0) >= peak_mb), None)


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
    if kinds & {"timeout_hotspot", "offload_candidate"}:
        routes = sorted({f.route for f in fs if f.route})
        out.append(
            f"Move the slow work of {', '.join(routes) or 'the route'} to a background "
            "worker; the router gives up at 30 s (H12) whatever the dyno keeps doing."
        )
    if kinds & {"worker_down", "downtime", "crash_loop", "hung_dyno"}:
        out.append(
            "Add a health check and alerting for workers that die silently; a crashed "
            "dyno is restarted with a growing back-off, so restart it (`heroku ps:restart`)"
            " or fix the crash reason before it stays down."
        )
    if "boot_timeout" in kinds:
        out.append(
            "Bind $PORT within 60 s of boot (R10): move slow boot work out of the boot "
            "path, and roll back the release that does not boot (`heroku rollback`)."
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
    if "concurrency" in kinds:
        out.append("Tune --workers/--threads (WEB_CONCURRENCY) so the processes fit the memory.")
    return out
