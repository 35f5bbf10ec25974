"""The `forensics` command line: parse options, call one library function, print the result.

Library errors (ForensicsError) become one-line messages on stderr with exit code 2; a job that
worked for some inputs but not others exits 1. No traceback for a user's mistake.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from forensics import __version__
from forensics.errors import ForensicsError

EXIT_PARTIAL = 1
EXIT_USAGE = 2


def _fail(message: str) -> None:
    click.echo(f"forensics: error: {message}", err=True)
    sys.exit(EXIT_USAGE)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "-V", "--version", prog_name="forensics")
def main() -> None:
    """Post-incident forensics for exported Heroku logs, offline.

    \b
    Typical session:
      forensics ingest logs/*.log.gz -o incident/   # build the dataset
      forensics ingest - -o incident/ < more.log    # add stdin to it
    """


@contextmanager
def _progress(total: int | None, enabled: bool) -> Iterator[Callable[[int], None] | None]:
    """A rich progress bar on stderr when it is a terminal; nothing otherwise."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn())
    with Progress(*columns, transient=True, console=_stderr_console()) as bar:
        task = bar.add_task("ingest", total=total)
        yield lambda n: bar.advance(task, n)


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


def _total_bytes(paths: list[str]) -> int | None:
    from forensics.readers.source import expand_paths

    total = 0
    for arg in paths:
        try:
            sources = expand_paths([arg])
        except ForensicsError:
            continue
        for s in sources:
            if s.path is None:
                return None
            total += s.path.stat().st_size
    return total


@main.command()
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.option(
    "-o", "--output", "out", required=True, type=click.Path(path_type=Path),
    help="Dataset directory (created if missing; more inputs add to it).",
)  # fmt: skip
@click.option("--app", default=None, help="App name for formats that do not carry it.")
@click.option(
    "--format", "fmt", default="auto", show_default=True,
    help="Input format; auto-detected per file from its first bytes.",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def ingest(
    paths: tuple[str, ...], out: Path, app: str | None, fmt: str, as_json: bool, quiet: bool
) -> None:
    """Turn Heroku log exports into a Parquet dataset.

    PATH may be a file (plain or .gz), a directory (all files below it), a glob, or - for
    stdin. Every line ends up in a typed table or in `rejects` with its reason; a file
    ingested before (same content) adds nothing.

    \b
    Examples:
      forensics ingest heroku.log -o incident/
      forensics ingest 'exports/*.log.gz' -o incident/ --app my-app
      heroku logs -n 1500 | forensics ingest - -o incident/ --json
    """
    from forensics.ingest import ingest as run_ingest
    from forensics.report_text import ingest_summary_text

    try:
        with _progress(_total_bytes(list(paths)), not quiet) as progress:
            summary = run_ingest(list(paths), out, app=app, fmt=fmt, progress=progress)
    except ForensicsError as e:
        _fail(str(e))
    except KeyboardInterrupt:
        click.echo(
            "forensics: interrupted; files finished so far are kept, run the same command "
            "again to complete the rest",
            err=True,
        )
        sys.exit(130)
    if as_json:
        click.echo(json.dumps(summary.to_json(), indent=1, default=str))
    else:
        click.echo(ingest_summary_text(summary))
    for f in summary.failed:
        click.echo(f"forensics: skipped: {f.error}", err=True)
    if summary.failed:
        sys.exit(EXIT_PARTIAL)


if __name__ == "__main__":  # pragma: no cover
    main()
