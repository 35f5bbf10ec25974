"""The `forensics` command line: parse options, call one library function, print the result.

Library errors (ForensicsError) become one-line messages on stderr with exit code 2; a job that
worked for some inputs but not others exits 1. No traceback for a user's mistake.
"""

from __future__ import annotations

import errno
import functools
import importlib.util
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from forensics import __version__
from forensics.errors import (
    CutError,
    DatasetChangedError,
    ForensicsError,
    NotADatasetError,
    OutputError,
)

EXIT_PARTIAL = 1
EXIT_USAGE = 2

# Whether the compiled core was built (found without importing it: `--help` stays quick).
_NATIVE_BUILT = importlib.util.find_spec("forensics._native") is not None
_CUT_FLAGS = {"app": "--app", "dyno": "--dyno", "since": "--since", "until": "--until"}
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
READ_ATTEMPTS = 3


def _drop_stdout() -> None:
    """Point standard output at /dev/null, so what is still buffered for the full file is not
    flushed again (a second error, with a traceback) when the interpreter exits."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (tests' capture)
        return
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, fd)
    os.close(null)


def _worded(error: ForensicsError, ctx: click.Context) -> str:
    """The library's message, with the flag to change where one helps."""
    if isinstance(error, CutError):
        return error.worded(_CUT_FLAGS)
    if isinstance(error, NotADatasetError):
        return f"{error}; build one with `forensics ingest FILE... -o {error.path}`"
    sub = ctx.invoked_subcommand
    if isinstance(error, OutputError) and sub in ("ingest", "sql", "report"):
        return f"{error} (-o)"
    return str(error)


class _Commands(click.Group):
    """The commands; `generate` (the scenario generator, numpy and all) is imported only when
    used or listed, so the other commands start faster. The one place where a ForensicsError
    becomes `forensics: error: ...` and exit 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return self._read_again_if_changed(ctx)
        except ForensicsError as e:
            from forensics.cli.text import terminal_safe

            click.echo(f"forensics: error: {terminal_safe(_worded(e, ctx))}", err=True)
            sys.exit(EXIT_USAGE)

    def _read_again_if_changed(self, ctx: click.Context) -> Any:
        """The command; run again (up to READ_ATTEMPTS times) when an ingest beside it merged
        away parts it had opened, so a reader never fails or shows half a page for that."""
        argv = (list(ctx._protected_args), list(ctx.args))
        for attempt in range(1, READ_ATTEMPTS + 1):
            ctx._protected_args, ctx.args = list(argv[0]), list(argv[1])
            try:
                return super().invoke(ctx)
            except DatasetChangedError:
                if attempt == READ_ATTEMPTS:
                    raise

    def main(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().main(*args, **kwargs)
        except OSError as e:  # standard output redirected to a full disk (`> out.txt`)
            if e.errno not in _DISK_FULL:
                raise
            from forensics.cli.text import terminal_safe

            _drop_stdout()
            reason = e.strerror or "disk full"
            what = (  # a file's error names it; a write to standard output has no name
                f"{e.filename}: cannot write ({reason}); free space"
                if e.filename
                else f"cannot write to standard output ({reason}); free space, or send it elsewhere"
            )
            click.echo(f"forensics: error: {terminal_safe(what)}", err=True)
            sys.exit(EXIT_USAGE)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), "generate"])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name == "generate":
            from forensics.scenario.cli import main as generate

            return generate
        return super().get_command(ctx, cmd_name)


@click.group(
    cls=_Commands,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, "-V", "--version", prog_name="forensics")
def main() -> None:
    """Post-incident forensics for exported Heroku logs, offline.

    \b
    Typical session:
      forensics ingest logs/*.log.gz -o incident/   # build the dataset
      forensics ingest - -o incident/ < more.log    # add stdin to it
      forensics findings incident/                  # what went wrong, worst first
      forensics report incident/ -o incident.html   # one offline page to share
      forensics sql incident/ "SELECT code, count(*) FROM requests GROUP BY code"
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
@click.option(
    "--app", "apps", multiple=True, metavar="NAME|GLOB=NAME",
    help="App name for formats that do not carry it (a drain whose host is `host`, CLI text); "
    "GLOB=NAME names it per file (first glob matching the path or file name wins; repeatable).",
)  # fmt: skip
@click.option(
    "--format", "fmt", default="auto", show_default=True,
    help="Input format: auto (detected per file from its first bytes), heroku-cli, drain "
    "(Logplex frames), syslog (RFC 5424 or BSD lines) or papertrail (archive .tsv.gz or text).",
)  # fmt: skip
@click.option(
    "--year", type=click.IntRange(1970, 2200), default=None,
    help="Year of timestamps that carry none (BSD syslog, Papertrail text view). "
    "Default: this year, or last year for dates ahead of today.",
)  # fmt: skip
@click.option(
    "--tz", default="UTC", show_default=True,
    help="Time zone (IANA name) of timestamps that carry none.",
)  # fmt: skip
@click.option(
    "--engine", type=click.Choice(["native", "polars"]), default=None,
    help="Parsing engine: native (the compiled core) or polars (the reference). Default: "
    + ("native (built here)." if _NATIVE_BUILT else "polars: the native core is not built here "
       "(cargo was missing at install time; install Rust and `pip install -e .` again)."),
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def ingest(
    paths: tuple[str, ...],
    out: Path,
    apps: tuple[str, ...],
    fmt: str,
    year: int | None,
    tz: str,
    engine: str | None,
    as_json: bool,
    quiet: bool,
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
      forensics ingest drain/ papertrail/*.tsv.gz -o incident/ --app my-app
      forensics ingest drains/ -o incident/ --app 'shop-*=acme-shop' --app 'api-*=acme-api'
      forensics ingest syslog.log -o incident/ --year 2025 --tz Europe/Paris
    """
    from forensics.ingest.allocator import release_free_memory, tune_allocators

    tune_allocators()  # before Polars and pyarrow load: memory stays flat over a long job
    from forensics.analyses.cache import warm
    from forensics.cli.text import ingest_summary_text, terminal_safe
    from forensics.ingest import ingest as run_ingest

    app, app_by_file = _app_options(apps)
    try:
        with _progress(_total_bytes(list(paths)), not quiet) as progress:
            summary = run_ingest(
                list(paths),
                out,
                app=app,
                app_by_file=app_by_file,
                fmt=fmt,
                year=year,
                tz=tz,
                engine=engine,
                progress=progress,
            )
        # The ingest's freed memory goes back before the shared tables are computed, or the
        # warm's peak sits on top of it (300 MB of CLI text: 523 -> ~450 MiB).
        release_free_memory(above_mib=0)
        warm(out)  # the shared tables, so the first findings/incidents/report need not
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
        click.echo(terminal_safe(ingest_summary_text(summary)))
    for f in summary.failed:
        click.echo(f"forensics: skipped: {terminal_safe(str(f.error))}", err=True)
    if summary.failed or summary.not_logs:
        sys.exit(EXIT_PARTIAL)


def _app_options(values: tuple[str, ...]) -> tuple[str | None, list[tuple[str, str]]]:
    """`--app` values -> (the app for every input, [(glob, app)]); app names have no `=`."""
    plain = [v for v in values if "=" not in v]
    if len(plain) > 1:
        raise ForensicsError(
            f"--app given {len(plain)} names ({', '.join(plain)}); give one, or name the app "
            "per file with GLOB=NAME"
        )
    mapping = [tuple(v.rsplit("=", 1)) for v in values if "=" in v]
    for glob, name in mapping:
        if not glob or not name:
            raise ForensicsError(
                f"--app {glob}={name}: expected GLOB=NAME, e.g. 'shop-*=acme-shop'"
            )
    return (plain[0] if plain else None), mapping  # type: ignore[return-value]


def cut_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The options that cut a dataset to the incident: --app, --since, --until, --dyno,
    --routes; the command receives them as one `cut: CutArgs`."""

    @functools.wraps(fn)
    def with_cut(
        *args: Any,
        app: str | None,
        since: str | None,
        until: str | None,
        dyno: str | None,
        routes_file: Path | None,
        **kwargs: Any,
    ) -> Any:
        return fn(*args, cut=CutArgs(app, since, until, dyno, routes_file), **kwargs)

    opts = click.option(
        "--routes",
        "routes_file",
        type=click.Path(path_type=Path),
        default=None,
        help="Route rules TOML (default: DIR/routes.toml if present).",
    )(with_cut)
    opts = click.option(
        "--dyno", default=None, help="Only this dyno (web.1) or process type (web)."
    )(opts)
    opts = click.option("--until", default=None, help="Only before this UTC time (ISO-8601).")(opts)
    opts = click.option("--since", default=None, help="Only from this UTC time (ISO-8601).")(opts)
    return click.option("--app", default=None, help="Only this app.")(opts)


def output_option(
    *, help: str, default: Path | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """`-o/--output FILE` (a Path, shown default when there is one) with the command's help."""
    return click.option(
        "-o",
        "--output",
        type=click.Path(path_type=Path),
        default=default,
        show_default=default is not None,
        help=help,
    )


# what forensics.report.redact masks (its module doc says the same)
_REDACT_HELP = (
    "Mask personal data and secrets everywhere: IPv4 addresses (also zero-padded, and in "
    "ip-10-0-0-7 / ec2-54-1-2-3... host names) and IPv6 addresses; e-mails (any script, with "
    "or without a TLD) and the user of 'by user ...' (releases, deploys); credentials in URLs "
    "of any scheme; query strings; request ids and UUIDs; Bearer/Basic/Authorization values, "
    "JWTs, AWS/Stripe/GitHub/Slack/Google key shapes, ;jsessionid= and long random path "
    "segments; values of password, secret, token, api_key, session, cookie... keys (k=v, "
    'k: v, JSON, Rails "k"=>"v") and cookie headers. A file name becomes its masked form and '
    "a short hash of its content ([email]-[ip].log#1a2b3c4d). Not masked: phone numbers, "
    "personal names and postal addresses in free text, secrets that look like ordinary words."
)


def redact_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`--redact`: the flag the commands that write shareable text have in common."""
    return click.option("--redact", is_flag=True, help=_REDACT_HELP)(fn)


@dataclass(frozen=True)
class CutArgs:
    """The cut options as given on the command line (see `cut_options`)."""

    app: str | None
    since: str | None
    until: str | None
    dyno: str | None
    routes_file: Path | None

    def cut(self) -> Any:
        """The `Cut` these options name, times parsed."""
        from forensics.store.views import Cut, parse_time

        return Cut(
            app=self.app,
            since=parse_time(self.since, field="since"),
            until=parse_time(self.until, field="until"),
            dyno=self.dyno,
        )

    def open(self, dataset: Path) -> Any:
        """The dataset opened with this cut and route rules; a whole dataset (no cut) with its
        cache of shared tables (see `forensics.analyses.cache`)."""
        from forensics.analyses.cache import open_cached
        from forensics.store.views import Cut, open_dataset

        cut = self.cut()
        if cut == Cut():
            return open_cached(dataset, routes_file=self.routes_file)
        return open_dataset(dataset, cut=cut, routes_file=self.routes_file)


_SQL_FORMATS = ("csv", "json", "parquet")


@main.command()
@click.argument("dataset", type=click.Path(path_type=Path))
@click.argument("query_text", metavar="SQL")
@output_option(help="Write the result to a file (.csv, .json or .parquet) instead of printing.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(_SQL_FORMATS),
    default=None,
    help="Output file format (default: from the -o extension).",
)
@click.option(
    "--limit",
    type=int,
    default=50,
    show_default=True,
    help="Rows to print on the terminal (0 for all); files get every row.",
)
@click.option(
    "--writable",
    is_flag=True,
    help="Run any statement (COPY ... TO, ATTACH, CREATE) and reach files outside the dataset; "
    "writing into the dataset folder stays refused.",
)
@cut_options
def sql(
    dataset: Path,
    query_text: str,
    output: Path | None,
    fmt: str | None,
    limit: int,
    writable: bool,
    cut: CutArgs,
) -> None:
    """Run SQL (DuckDB) over the dataset's tables and print the result (or write it with -o).

    Tables: requests, dyno_metrics, addon_metrics, events, app_logs, rejects (see the README
    for their columns). The cut options filter every table before your query sees it.

    The dataset is opened read-only: only queries run (SELECT, WITH, FROM, DESCRIBE, SUMMARIZE,
    EXPLAIN, PRAGMA, CALL; several separated by `;`, the last one printed) and only the
    dataset's own files can be read. --writable allows other statements and other files
    (COPY ... TO 'out.csv', read_csv('other.csv')), never a write into the dataset folder. It
    never uses the network: extensions are not installed or loaded (no httpfs, no s3:// or
    https:// paths), and SET cannot change that. Log text is printed with control characters
    escaped (\\x1b) so it cannot drive the terminal.

    \b
    Examples:
      forensics sql incident/ "SELECT route, count(*) n FROM requests GROUP BY 1 ORDER BY 2 DESC"
      forensics sql incident/ "SELECT * FROM events WHERE code = 'R14'" --dyno web -o r14.csv
      forensics sql incident/ "COPY requests TO 'requests.csv'" --writable
    """
    from forensics.cli.text import terminal_safe
    from forensics.store.user_sql import inside_dataset, run_user_sql

    if output is not None and inside_dataset(output, dataset):
        raise ForensicsError(f"{output} is inside the dataset {dataset}; choose another -o")
    con = cut.open(dataset)
    result = run_user_sql(con, query_text, root=dataset, writable=writable)
    if output is not None:
        kind = fmt or output.suffix.lstrip(".").lower()
        if kind not in _SQL_FORMATS:
            raise ForensicsError(
                f"{output}: unknown output format; use .csv, .json or .parquet, or --format"
            )
        import io

        from forensics.output import write_atomic

        # Rendered in memory, then written by Python: Polars' own file writes can drop a
        # failed last flush silently (a small JSON on a full disk "succeeds", 0 bytes).
        buf = io.BytesIO()
        {"csv": result.write_csv, "json": result.write_json, "parquet": result.write_parquet}[kind](
            buf
        )
        data = buf.getvalue()
        write_atomic(output, lambda fh: fh.write(data))  # all or nothing: no partial file
        click.echo(f"{result.height:,} rows written to {output}", err=True)
        return
    import polars as pl

    shown = result if limit <= 0 else result.head(limit)
    with pl.Config(
        tbl_rows=-1,
        tbl_cols=-1,
        fmt_str_lengths=80,
        tbl_width_chars=200,
        tbl_hide_dataframe_shape=True,
    ):
        click.echo(terminal_safe(str(shown)))
    if limit > 0 and result.height > limit:
        click.echo(f"({result.height:,} rows, first {limit} shown; --limit 0 for all)", err=True)


@main.command()
@click.argument("dataset", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of findings.")
@click.option(
    "--min-severity",
    type=click.Choice(["info", "warning", "critical"]),
    default="info",
    show_default=True,
    help="Hide findings below this severity.",
)
@cut_options
def findings(
    dataset: Path,
    as_json: bool,
    min_severity: str,
    cut: CutArgs,
) -> None:
    """Rank what the logs say went wrong, most severe first, each with its evidence.

    Memory leaks (the dyno, the release, the routes to blame), quota overruns, release
    regressions, H12 hotspots, crashes and crash loops, boot timeouts, workers that stayed
    down, unclean shutdowns, requests to move off the web path, concurrency settings, log loss.

    \b
    Examples:
      forensics findings incident/
      forensics findings incident/ --since 2024-05-20T08:00Z --until 2024-05-20T12:00Z
      forensics findings incident/ --json | jq '.[] | select(.kind == "memory_leak")'
    """
    from forensics.cli.text import findings_text, terminal_safe
    from forensics.findings import SEVERITY_RANK, collect_findings
    from forensics.incidents import build_incidents, finding_id

    con = cut.open(dataset)
    found = collect_findings(con)
    incident_of = {m.id: i.id for i in build_incidents(con, found) for m in i.members}
    found = [f for f in found if SEVERITY_RANK[f.severity] <= SEVERITY_RANK[min_severity]]
    if as_json:
        rows = []
        for f in found:
            fid = finding_id(f)
            rows.append({"id": fid, "incident": incident_of.get(fid), **f.to_json()})
        click.echo(json.dumps(rows, indent=1, default=str))
    else:
        click.echo(terminal_safe(findings_text(found)))


@main.command()
@click.argument("dataset", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of incidents.")
@click.option(
    "--markdown", is_flag=True, help="Print a postmortem draft in Markdown (with log excerpts)."
)
@output_option(help="Write to this file instead of standard output.")
@redact_option
@cut_options
def incidents(
    dataset: Path,
    as_json: bool,
    markdown: bool,
    output: Path | None,
    redact: bool,
    cut: CutArgs,
) -> None:
    """Tell what happened as incidents: findings grouped into stories, most costly first.

    Each incident says what broke, when, what users saw and for how long (its impact), what
    caused it (with the log lines), what changed just before it, what ended it, and what to
    do; then its timeline, with every step's source as file:line.

    \b
    Examples:
      forensics incidents incident/
      forensics incidents incident/ --json | jq '.[0].impact'
      forensics incidents incident/ --markdown -o postmortem.md --redact
    """
    from forensics.cli.text import terminal_safe
    from forensics.findings import collect_findings
    from forensics.incidents import build_incidents, incidents_markdown, incidents_text
    from forensics.report.redact import Redactor
    from forensics.store.excerpts import excerpter

    if as_json and markdown:
        raise click.UsageError("--json and --markdown exclude each other; pick one")
    con = cut.open(dataset)
    found = build_incidents(con, collect_findings(con))
    redactor = Redactor.for_dataset(dataset) if redact else None
    if as_json:
        rows = [json.loads(json.dumps(i.to_json(), default=str)) for i in found]
        text = json.dumps(redactor.value(rows) if redactor else rows, indent=1)
    elif markdown:
        clean = redactor.text if redactor else None
        text = incidents_markdown(found, excerpt=excerpter(con, clean=clean))
    else:
        text = incidents_text(found)
    if redactor is not None and not as_json:  # the whole text: findings and file names too
        text = redactor.text(text)
    if not as_json:  # JSON escapes controls itself; in text and Markdown they are shown escaped
        text = terminal_safe(text)
    if output is None:
        click.echo(text)
        return
    from forensics.output import write_text_atomic

    write_text_atomic(output, text + "\n")
    click.echo(f"wrote {output} ({len(found)} incidents)", err=True)


@main.command()
@click.argument("dataset", type=click.Path(path_type=Path))
@output_option(default=Path("report.html"), help="The HTML file to write.")
@redact_option
@click.option("--title", default=None, help="Title of the page.")
@cut_options
def report(
    dataset: Path,
    output: Path,
    redact: bool,
    title: str | None,
    cut: CutArgs,
) -> None:
    """Write one self-contained HTML report: findings, charts, key tables, provenance.

    It opens in any browser with no network (the chart libraries are inlined), so it can be
    attached to the incident review; --redact it before sharing outside the team.

    \b
    Examples:
      forensics report incident/ -o report.html
      forensics report incident/ -o shareable.html --redact --since 2024-05-20T08:00Z
    """
    from forensics.report import write_report

    stats = write_report(
        dataset,
        output,
        cut=cut.cut(),
        redact=redact,
        title=title,
        routes_file=cut.routes_file,
    )
    size = stats.get("bytes", 0) / 1e6
    click.echo(
        f"wrote {output} ({size:.1f} MB, {stats.get('charts', 0)} charts, "
        f"{stats.get('findings') or 0} findings) in {stats.get('seconds', 0):.1f} s"
    )


if __name__ == "__main__":  # pragma: no cover
    main()
