"""Leak or warm-up: lifetimes that grow judged against each other by their age since boot.

A cache that takes longer to fill than a dyno lives (a worker whose cache needs 6-10 h, on an
app that deploys every 3-4 h) grows steadily in every lifetime and is still rising when the
next deploy restarts it: seen alone, each lifetime looks like a leak. What tells them apart is
the other lifetimes of the same process type. `judge_by_age` revisits every lifetime the shape
classifier of `memory` called `leak` or `growing`, in release order per (app, process type):

1. `step`: one rise between 30-minute blocks holds >= `step_share` of the growth and the rest
   is under `min_growth` (one bloat request: a jump, then flat);
2. no significant trend: Mann-Kendall on the minima of 30-minute blocks (each block holds three
   10-minute window levels, so the autocorrelation of 20 s samples is gone; fewer for
   lifetimes shorter than three hours, so that there are six blocks), one-sided
   p >= `trend_p` -> `inconclusive`;
3. against the lifetimes of earlier releases (the latest `MAX_REFS` not judged `leak`, boot
   time known), at the same age since boot: `leak` when the Theil-Sen slope over the common
   age range is at least `faster_ratio` x theirs and `min_slope` MB/h above;
4. `leak` when it keeps growing (late-half slope >= `min_slope`) past the level where earlier
   lifetimes levelled off (their late-half slope < `min_slope`), by more than
   max(`min_growth`, 3 MAD of those levels); else, when 3 could compare, `warmup` (it grows
   as the earlier releases did at that age);
   Rules 3 and 4 need no long lifetime: the comparison, not the lifetime's own shape, is the
   evidence (an hour or two of lifetime, past where the earlier release levelled off);
5. without a comparison (first release, unknown boot times, no overlap): its own shape. Shorter
   than `min_shape_hours` of samples it is `inconclusive` (a warm-up with a time constant of
   8 h is as straight as a leak over 4 h; one of 11 h bends below `linear_ratio` within
   5 h); else `leak` when the late-half slope is at least
   `linear_ratio` x the early-half slope (linear or accelerating), `warmup` when it bends.

Then, per (app, process type), until nothing changes:

6. one curve that does not bend (`_one_curve`): a rising lifetime below another lifetime of
   the same or an earlier release that ran well above where it ended and still rose as fast
   (per request served: a leak follows the traffic), or below the R15 kill of the previous
   lifetime of its dyno, is `leak`, and so is that rising lifetime above: a cache fills ever
   slower as it fills, a leak does not. This finds a leak that predates the log (every release
   in it leaks; the lifetimes up when the log starts are already high and still rising), which
   rules 3-5 call a warm-up or inconclusive;
7. a rising lifetime that grows as fast at the same age as lifetimes judged `leak` follows
   their curve: `leak` (`_as_a_leak`).

A `plateau` (it bends) that still rises by `min_slope` MB/h in its late half is checked by
rules 3 and 4 too: a warm-up with a leak on top bends like a cache but grows faster than the
earlier releases, or past their level.

`judgement` says which rule decided, `settle` (for `inconclusive`) what data would decide it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl

BLOCK_WINDOWS = 3
# Earlier lifetimes compared with (the latest ones): bounds the work on apps with thousands of
# lifetimes, and the recent releases are the comparison that matters.
MAX_REFS = 40
JUDGED = ("leak", "growing")
# passes of rules 6 and 7 (each goes through the releases in order, so one usually settles it)
MAX_PASSES = 4


def sen_slope(x: np.ndarray, y: np.ndarray) -> float | None:
    """Theil-Sen slope (median of pairwise slopes) of y over x; None with < 2 distinct x."""
    if len(x) < 2:
        return None
    i, j = np.triu_indices(len(x), 1)
    dx = x[j] - x[i]
    ok = dx > 0
    if not ok.any():
        return None
    return float(np.median((y[j] - y[i])[ok] / dx[ok]))


def mann_kendall_p(y: np.ndarray) -> float:
    """One-sided Mann-Kendall p-value that y increases (normal approximation, tie-free
    variance, continuity correction); 1.0 for fewer than 3 values."""
    n = len(y)
    if n < 3:
        return 1.0
    i, j = np.triu_indices(n, 1)
    s = float(np.sign(y[j] - y[i]).sum())
    var = n * (n - 1) * (2 * n + 5) / 18
    z = (s - 1) / math.sqrt(var) if s > 0 else 0.0
    return 0.5 * math.erfc(z / math.sqrt(2))


def _blocks(t: np.ndarray, lvl: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Minima of consecutive groups of BLOCK_WINDOWS window levels (and their mean times);
    fewer per block for short lifetimes, so that there are six blocks when there can be."""
    size = max(1, min(BLOCK_WINDOWS, len(lvl) // 6))
    k = len(lvl) // size
    if k == 0:
        return t[:0], lvl[:0]
    tt = t[: k * size].reshape(k, size).mean(axis=1)
    ll = lvl[: k * size].reshape(k, size).min(axis=1)
    return tt, ll


def _halves(t: np.ndarray, lvl: np.ndarray) -> tuple[float | None, float | None]:
    """Theil-Sen slopes of the first and second half of the time span."""
    if len(t) < 4:
        return None, None
    mid = (t[0] + t[-1]) / 2
    a, b = t <= mid, t >= mid
    return sen_slope(t[a], lvl[a]), sen_slope(t[b], lvl[b])


class _Life:
    """One lifetime's window levels (hours since epoch, MB) and what is derived from them."""

    def __init__(self, row: dict[str, Any]) -> None:
        self.cls: str = row["classification"]
        self.dyno: str = row.get("dyno") or "?"
        self.release: str | None = row["release"]
        self.version = _version(row["release"])
        self.t = np.asarray(row["w_t"] or [], dtype=float) / 3600
        self.lvl = np.asarray(row["w_lvl"] or [], dtype=float)
        boot = row["boot_s"]
        self.age = self.t - boot / 3600 if boot is not None else None
        self.span = float(self.t[-1] - self.t[0]) if len(self.t) > 1 else 0.0
        _, bl = _blocks(self.t, self.lvl)
        self.blocks = bl
        self.trend_p = mann_kendall_p(bl)
        self.early, self.late = _halves(self.t, self.lvl)
        self.first = float(np.median(self.lvl[:3])) if len(self.lvl) else None
        self.last = float(np.median(self.lvl[-3:])) if len(self.lvl) else None
        # whole-lifetime rates: per hour, and per request served when the dyno serves requests
        # (a leak follows the traffic, which swings several-fold over a day)
        enough = len(self.lvl) >= 4
        self.rate_h = sen_slope(self.t, self.lvl) if enough else None
        x = np.asarray(row.get("w_x") or [], dtype=float)
        by_req = row.get("growth_axis") == "requests" and len(x) == len(self.lvl)
        self.rate_req = sen_slope(x, self.lvl) if enough and by_req else None
        self.r15 = int(row.get("r15") or 0)
        self.peak = row.get("peak_mb")
        self.end_total = row.get("end_mb")
        start, end = row.get("start"), row.get("end")
        self.t_start = start.timestamp() if start is not None else math.inf
        self.t_end = end.timestamp() if end is not None else -math.inf

    def slope_between(self, lo: float, hi: float) -> tuple[float | None, float]:
        """Theil-Sen slope over ages [lo, hi] and the hours of that range it covers."""
        if self.age is None:
            return None, 0.0
        m = (self.age >= lo) & (self.age <= hi)
        if m.sum() < 4:
            return None, 0.0
        a = self.age[m]
        return sen_slope(a, self.lvl[m]), float(a[-1] - a[0])


def _version(release: str | None) -> float:
    if release and release[1:].isdigit():
        return float(release[1:])
    return math.inf


def judge_by_age(df: pl.DataFrame, o: dict[str, float]) -> pl.DataFrame:
    """Re-judge `leak` / `growing` lifetimes by their age against earlier releases (module doc).

    Needs the columns app, process_type, release, classification, w_t (window mean times, epoch
    seconds), w_lvl (window levels, MB) and boot_s (epoch seconds of the boot, null when it
    started before the log). Adds age_start_h, age_end_h, trend_p, late_slope_mb_h,
    ref_slope_mb_h, judgement and settle; replaces classification.
    """
    need = ["app", "process_type", "release", "classification", "w_t", "w_lvl", "boot_s"]
    extra = ["dyno", "start", "end", "w_x", "growth_axis", "r15", "peak_mb", "end_mb"]
    rows = df.select(need + [c for c in extra if c in df.columns]).to_dicts()
    lives = [_Life(r) for r in rows]
    n = len(rows)
    cls = [lv.cls for lv in lives]
    ref_slope: list[float | None] = [None] * n
    why: list[str | None] = [None] * n
    settle: list[str | None] = [None] * n
    groups: dict[tuple[Any, Any], list[int]] = {}
    for i, r in enumerate(rows):
        groups.setdefault((r["app"] or "", r["process_type"]), []).append(i)
    for idx in groups.values():
        by_rel: dict[Any, list[int]] = {}
        for i in idx:
            by_rel.setdefault(rows[i]["release"], []).append(i)
        refs: list[int] = []  # lifetimes of earlier releases not judged leak
        for rel in sorted(by_rel, key=_version):
            for i in by_rel[rel]:
                recent = refs[-MAX_REFS:]
                if cls[i] in JUDGED:
                    cls[i], why[i], settle[i], ref_slope[i] = _judge(lives[i], recent, lives, o)
                elif cls[i] == "plateau" and (lives[i].late or 0.0) >= o["min_slope"] and refs:
                    # a warm-up with a leak on top bends like a cache but keeps rising: only
                    # the earlier releases can tell (rules 3 and 4); else it stays a plateau
                    got = _judge(lives[i], recent, lives, o)
                    if got[0] in JUDGED:
                        cls[i], why[i], settle[i], ref_slope[i] = got
            refs += [i for i in by_rel[rel] if cls[i] not in ("leak", "insufficient")]
        order = sorted(idx, key=lambda i: lives[i].version)
        for _ in range(MAX_PASSES):  # each pass turns more lifetimes into `leak`
            a = _one_curve(order, lives, cls, why, settle, ref_slope, o)
            if not (_as_a_leak(order, lives, cls, why, settle, ref_slope, o) or a):
                break
    return df.with_columns(
        pl.Series("classification", cls, dtype=pl.String),
        pl.Series("age_start_h", [_age(lv, 0) for lv in lives], dtype=pl.Float64),
        pl.Series("age_end_h", [_age(lv, -1) for lv in lives], dtype=pl.Float64),
        pl.Series(
            "trend_p",
            [lv.trend_p if len(lv.blocks) >= 3 else None for lv in lives],
            dtype=pl.Float64,
        ),
        pl.Series("late_slope_mb_h", [lv.late for lv in lives], dtype=pl.Float64),
        pl.Series("ref_slope_mb_h", ref_slope, dtype=pl.Float64),
        pl.Series("judgement", why, dtype=pl.String),
        pl.Series("settle", settle, dtype=pl.String),
    )


def _age(lv: _Life, k: int) -> float | None:
    return float(lv.age[k]) if lv.age is not None and len(lv.age) else None


def _judge(
    lv: _Life, refs: list[int], lives: list[_Life], o: dict[str, float]
) -> tuple[str, str, str | None, float | None]:
    """(class, judgement, settle, reference slope) of one growing lifetime."""
    min_slope, min_growth = o["min_slope"], o["min_growth"]
    # rules 3 and 4 compare with other lifetimes: that, not the lifetime's length, is the
    # evidence, so a lifetime of an hour or two can leak by them
    leak = "leak"
    bl = lv.blocks
    if len(bl) >= 3:
        rises = np.diff(bl)
        total = float(bl[-1] - bl[0])
        top = float(rises.max())
        if total > 0 and top >= o["step_share"] * total and total - top < min_growth:
            return "step", f"one rise of {top:.0f} MB holds the growth, flat around it", None, None
    if lv.trend_p >= o["trend_p"]:
        return (
            "inconclusive",
            f"no significant trend (Mann-Kendall p = {lv.trend_p:.2g})",
            f"a lifetime longer than {o['min_shape_hours']:g} h",
            None,
        )
    late = lv.late if lv.late is not None else 0.0
    same_age = _same_age(lv, refs, lives, o)
    if same_age is not None:  # 3: faster than earlier releases at the same age
        own, ref, lo, hi = same_age
        if own >= ref + min_slope and own >= o["faster_ratio"] * max(ref, 0.0):
            return (
                leak,
                f"{own:.1f} MB/h at ages {lo:.1f}-{hi:.1f} h, earlier releases "
                f"{ref:.1f} MB/h at the same age",
                None,
                ref,
            )
    # 4: still growing past where earlier lifetimes levelled off
    flat = [
        lives[j].last
        for j in refs
        if lives[j].late is not None
        and lives[j].late < min_slope
        and lives[j].span >= o["min_compare_hours"]
        and lives[j].last is not None
    ]
    if flat and lv.last is not None and late >= min_slope:
        lvl = np.asarray(flat, dtype=float)
        top = float(np.median(lvl))
        margin = max(min_growth, 3 * float(np.median(np.abs(lvl - top))))
        if lv.last > top + margin:
            return (
                leak,
                f"still growing {late:.1f} MB/h at {lv.last:.0f} MB, past the "
                f"{top:.0f} MB where earlier releases levelled off",
                None,
                same_age[1] if same_age else None,
            )
    if same_age is not None:  # 3: grows as earlier releases did at that age
        own, ref, lo, hi = same_age
        return (
            "warmup",
            f"{own:.1f} MB/h at ages {lo:.1f}-{hi:.1f} h, as earlier releases "
            f"({ref:.1f} MB/h at the same age)",
            None,
            ref,
        )
    # 5: its own shape
    if lv.span < o["min_shape_hours"]:
        return (
            "inconclusive",
            f"grows {late:.1f} MB/h over {lv.span:.1f} h: too short to tell a leak from a "
            f"cache still filling, and no earlier release's lifetime at the same age",
            f"a lifetime longer than {o['min_shape_hours']:g} h",
            None,
        )
    early = lv.early if lv.early is not None else 0.0
    if early > 0 and late >= o["linear_ratio"] * early:
        return leak, f"grows {early:.1f} then {late:.1f} MB/h over {lv.span:.1f} h", None, None
    return (
        "warmup",
        f"slows from {early:.1f} to {late:.1f} MB/h over {lv.span:.1f} h (a cache filling up)",
        None,
        None,
    )


def _same_age(
    lv: _Life, refs: list[int], lives: list[_Life], o: dict[str, float]
) -> tuple[float, float, float, float] | None:
    """(own slope, median slope of earlier releases' lifetimes, lo, hi) over the ages
    [lo, hi] both cover (at least `min_compare_hours`); None without such lifetimes."""
    if lv.age is None or len(lv.age) < 4:
        return None
    aged = [lives[j] for j in refs if lives[j].age is not None and len(lives[j].age) >= 4]
    if not aged:
        return None
    lo = float(lv.age[0])
    hi = min(float(lv.age[-1]), max(float(r.age[-1]) for r in aged))  # type: ignore[index]
    if hi - lo < o["min_compare_hours"]:
        return None
    own, _ = lv.slope_between(lo, hi)
    theirs = [
        s
        for s, cover in (r.slope_between(lo, hi) for r in aged)
        if s is not None and cover >= 0.5 * (hi - lo)
    ]
    if own is None or not theirs:
        return None
    return own, float(np.median(theirs)), lo, hi


# classes rule 6 may turn into `leak`: rising lifetimes the rules before could not convict
_OPEN = ("warmup", "inconclusive", "growing")


def _rising(lv: _Life, o: dict[str, float]) -> bool:
    """A significant, steady rise (Mann-Kendall, late-half slope), not one step."""
    return (
        len(lv.blocks) >= 3
        and lv.trend_p < o["trend_p"]
        and (lv.late or 0.0) >= o["min_slope"]
        and lv.first is not None
        and lv.last is not None
    )


def _rate_ratio(upper: _Life, lower: _Life) -> tuple[float, str] | None:
    """upper's rate over lower's, per request when both serve requests, else per hour."""
    if upper.rate_req is not None and lower.rate_req is not None and lower.rate_req > 0:
        return upper.rate_req / lower.rate_req, "per request served"
    if upper.rate_h is not None and lower.rate_h is not None and lower.rate_h > 0:
        return upper.rate_h / lower.rate_h, "per hour"
    return None


def _above(h: _Life, lv: _Life, o: dict[str, float]) -> str | None:
    """Why `h`, higher up, shows that rising `lv` does not bend (rule 6), or None."""
    if h is lv or h.version > lv.version or lv.first is None or lv.last is None:
        return None
    gap = max(2 * o["min_growth"], (lv.last - lv.first) / 3)
    where = f"{h.dyno} ({h.release or 'release unknown'})"
    if h.rate_h is not None and h.first is not None:
        got = _rate_ratio(h, lv)
        if h.first < lv.last + gap or got is None or got[0] < o["linear_ratio"]:
            return None
        return (
            f"{where} still rose {got[0]:.0%} as fast ({got[1]}) from {h.first:.0f} MB, "
            f"{h.first - lv.last:.0f} MB above where {lv.dyno} ({lv.release}) ended at "
            f"{lv.last:.0f} MB"
        )
    if h.r15 and h.dyno == lv.dyno and h.t_end < lv.t_start and lv.end_total is not None:
        if h.peak is None or h.peak < lv.end_total + gap:
            return None
        return (
            f"the previous lifetime of {where} was killed for memory (R15) at "
            f"{h.peak:.0f} MB, {h.peak - lv.end_total:.0f} MB above where the next ended"
        )
    return None


def _one_curve(
    idx: list[int],
    lives: list[_Life],
    cls: list[str],
    why: list[str | None],
    settle: list[str | None],
    ref_slope: list[float | None],
    o: dict[str, float],
) -> bool:
    """Rule 6: memory that keeps rising as fast far above where other lifetimes stop.

    A cache fills ever slower as it fills (its rate falls with the level it has reached); a
    leak does not slow down. So when a lifetime of the same process type, on the same or an
    earlier release, ran at a level above where a rising lifetime ended (by a third of its
    own growth, at least 2 x `min_growth`) and still rose at least `linear_ratio` x as fast
    (per request served when both serve requests: the traffic differs between them), or when
    the previous lifetime of the same dyno was killed there for memory (R15) before it could
    be measured (a dyno R15'd, restarted, and climbing again without bending), the growth is
    not a warm-up but one curve that does not bend: the rising lifetimes on it, below and
    above, are `leak`. This is how a leak that predates the log (on every release in it,
    lifetimes that started before the log already high and still rising) is told from a slow
    cache, whose older lifetimes rise more slowly.
    """
    changed = False
    first = np.array([lives[j].first if lives[j].first is not None else np.nan for j in idx])
    last = np.array([lives[j].last if lives[j].last is not None else np.nan for j in idx])
    killed = np.array([lives[j].r15 > 0 for j in idx])
    floor = 2 * o["min_growth"]
    for i in idx:
        lv = lives[i]
        if cls[i] not in _OPEN or not _rising(lv, o):
            continue
        assert lv.first is not None and lv.last is not None
        # only lifetimes that can be above or below it by the least gap need a closer look
        near = (first >= lv.last + floor) | killed | (last + floor <= lv.first)
        found: tuple[float, int, str] | None = None
        for k in np.flatnonzero(near).tolist():
            j = idx[k]
            h = lives[j]
            text = _above(h, lv, o)  # lv is the lower one
            if text is not None:
                level = h.first if h.rate_h is not None else h.peak
                if found is None or float(level or 0.0) > found[0]:
                    found = (float(level or 0.0), j, f"does not slow down higher up: {text}")
            elif found is None and _rising(h, o) and (text := _above(lv, h, o)) is not None:
                found = (0.0, j, f"rises as fast as lower down: {text}")
        if found is None:
            continue
        _, j, text = found
        changed = True
        cls[i], settle[i], ref_slope[i] = "leak", None, lives[j].rate_h
        why[i] = (
            f"rises {lv.rate_h or 0.0:.1f} MB/h and {text}: one curve that does not bend "
            f"(a cache filling up slows as it fills)"
        )
    return changed


def _as_a_leak(
    idx: list[int],
    lives: list[_Life],
    cls: list[str],
    why: list[str | None],
    settle: list[str | None],
    ref_slope: list[float | None],
    o: dict[str, float],
) -> bool:
    """Rule 7: a rising lifetime that grows at least `linear_ratio` x as fast, at the same age,
    as lifetimes of the same or earlier releases judged `leak` (by rules 3-6) follows their
    curve: it leaks too (rule 3 had called it a warm-up only for growing as they did)."""
    changed = False
    for i in idx:
        lv = lives[i]
        if cls[i] not in _OPEN or not _rising(lv, o):
            continue
        leaks = [j for j in idx if j != i and cls[j] == "leak" and lives[j].version <= lv.version]
        same_age = _same_age(lv, leaks[-MAX_REFS:], lives, o) if leaks else None
        if same_age is None:
            continue
        own, ref, lo, hi = same_age
        if ref < o["min_slope"] or own < o["linear_ratio"] * ref:
            continue
        changed = True
        cls[i], settle[i], ref_slope[i] = "leak", None, ref
        why[i] = (
            f"{own:.1f} MB/h at ages {lo:.1f}-{hi:.1f} h, as the lifetimes judged to leak "
            f"({ref:.1f} MB/h at the same age)"
        )
    return changed
