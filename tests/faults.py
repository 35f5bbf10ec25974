"""Helpers of the writer and fault-injection tests: tiny inputs, an ingest in a real process
(optionally with a fault point armed, `forensics.store.fs`), and the dataset's state as the
readers see it (per input file and table), to compare with a clean dataset's."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from forensics.schema import TABLE_NAMES
from forensics.store.views import open_dataset

ROOT = Path(__file__).resolve().parent.parent
CLI = "import sys; from forensics.cli import main; sys.exit(main())"
# The library alone (no CLI, no DuckDB imported): a faster start where only the kill matters.
LIBRARY = (
    "import sys; from pathlib import Path; from forensics.ingest import ingest; "
    "ingest(sys.argv[1:-2], Path(sys.argv[-1]))"
)

ROUTER = (
    "2024-05-20T10:{m:02d}:{s:02d}.{us:06d}+00:00 heroku[router]: at=info method=GET "
    'path="/users/{n}" host=a.herokuapp.com request_id=r-{n} fwd="1.2.3.4" dyno=web.1 '
    "connect=1ms service={n}ms status=200 bytes=10 protocol=https"
)
APP = "2024-05-20T10:{m:02d}:{s:02d}.{us:06d}+00:00 app[web.1]: Completed 200 OK in {n}ms"
EVENT = "2024-05-20T10:{m:02d}:{s:02d}.{us:06d}+00:00 heroku[web.1]: State changed from up to {n}"


def tiny_inputs(folder: Path, count: int, *, start: int = 0) -> list[Path]:
    """`count` small distinct logs (a router line, an app line, an event, a non-log line each)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(start, start + count):
        f = dict(m=i // 60, s=i % 60, us=i, n=i)
        text = "\n".join(
            [ROUTER.format(**f), APP.format(**f), EVENT.format(**f), f"$ not a log {i}", ""]
        )
        path = folder / f"in-{i:03d}.log"
        path.write_text(text)
        out.append(path)
    return out


def start_ingest(
    paths: Sequence[Path],
    out: Path,
    *,
    fault: str | None = None,
    trace: Path | None = None,
    cli: bool = True,
) -> subprocess.Popen[bytes]:
    """`forensics ingest PATHS -o OUT -q` in a new process, with a fault point armed (with
    `cli=False`, the library's `ingest` instead)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("FORENSICS_FAULT", None)
    if fault:
        env["FORENSICS_FAULT"] = fault
    if trace:
        env["FORENSICS_FAULT_TRACE"] = str(trace)
    names = [*map(str, paths), "-o", str(out)]
    code, argv = (CLI, ["ingest", *names, "-q"]) if cli else (LIBRARY, names)
    args = [sys.executable, "-c", code, *argv]
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_stopped(proc: subprocess.Popen[bytes]) -> None:
    """Wait until `proc` has stopped itself (SIGSTOP at its fault point), or ended."""
    while proc.poll() is None:
        state = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        if state == "T":
            return
        time.sleep(0.02)


def resume(proc: subprocess.Popen[bytes]) -> tuple[int, str]:
    proc.send_signal(signal.SIGCONT)
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err.decode()


def state(root: Path) -> dict[str, dict[str, int]]:
    """What readers see: per input file, its row count in each table (non-zero only)."""
    con = open_dataset(root)
    out: dict[str, dict[str, int]] = {}
    for table in TABLE_NAMES:
        for file, n in con.execute(
            f"SELECT source_file, count(*) FROM {table} GROUP BY ALL"
        ).fetchall():
            out.setdefault(file, {})[table] = n
    con.close()
    return out


def glob_state(root: Path) -> dict[str, dict[str, int]]:
    """What a reader of `DIR/<table>/*.parquet` sees (Polars), per file and table."""
    import polars as pl

    out: dict[str, dict[str, int]] = {}
    for table in TABLE_NAMES:
        if not list((root / table).glob("*.parquet")):
            continue
        counts = pl.read_parquet(root / table / "*.parquet").group_by("source_file").len()
        for file, n in counts.iter_rows():
            out.setdefault(file, {})[table] = n
    return out


def is_before_or_after(
    seen: dict[str, dict[str, int]], clean: dict[str, dict[str, int]], job: Sequence[Path]
) -> bool:
    """Whether `seen` is the clean dataset with the job's first k inputs, for some k: each
    input in whole or not at all, and in order (inputs are committed one by one)."""
    names = [str(p) for p in job]
    base = {f: c for f, c in clean.items() if f not in names}
    for k in range(len(names) + 1):
        if seen == base | {f: clean[f] for f in names[:k] if f in clean}:
            return True
    return False


def leftovers(root: Path) -> list[str]:
    """Files a completed command must not leave: staged or temp files anywhere."""
    return sorted(
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and (".staging" in p.parts or p.name.startswith(".tmp-"))
    )
