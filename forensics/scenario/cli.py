"""Command line: `forensics generate -o FILE [knobs]` writes a log and its truth JSON."""

from __future__ import annotations

import sys
from typing import Any

import click

from . import generate
from .config import DYNO_SIZES, ScenarioConfig

EPILOG = """\b
Examples:
  forensics generate -o /tmp/app.log.gz --hours 36 --rps 0.5 \\
      --leak-release 3 --release-at 3 --release-at 6 --release-at 33 \\
      --crash-worker worker.1 --crash-at 14 --r12 3 --scale-at 20 --scale-web 3 --artifacts 1
  forensics generate -o /tmp/big.log --size-mb 1024      # benchmark input
  forensics generate -o - --hours 1 --healthy | head     # to stdout

\b
Routes (for --leak-route, --transient-route, --h12-route), variable segments as :id:
  /users/:id  /users/:id/orders  /users/:id/orders/:id  /api/v1/items/:id  /products/:id
  /search  /reports/:id/export  /checkout  /  (see forensics/scenario/catalog.py)
"""

_SIZES = click.Choice(sorted(DYNO_SIZES), case_sensitive=False)


@click.command(
    epilog=EPILOG,
    context_settings={
        "help_option_names": ["-h", "--help"],
        "max_content_width": 100,
        "terminal_width": 100,
    },
)
@click.option("-o", "--output", required=True, help="Log path (.gz compresses) or - for stdout.")
@click.option("--truth", "truth_path", help="Truth JSON path [default: beside the log].")
@click.option("--seed", type=int, default=42, show_default=True)
@click.option("--start", default="2024-05-20T06:00:00+00:00", show_default=True, help="UTC start.")
@click.option("--hours", type=float, default=24.0, show_default=True)
@click.option("--size-mb", type=float, help="Instead of --hours: run until ~N MB (uncompressed).")
@click.option("--rps", type=float, default=2.0, show_default=True, help="Mean requests/s.")
@click.option("--app-name", default="acme-shop", show_default=True)
@click.option("--web", "web_dynos", type=int, default=2, show_default=True)
@click.option("--web-size", type=_SIZES, default="standard-1x", show_default=True)
@click.option("--worker", "worker_dynos", type=int, default=1, show_default=True)
@click.option("--worker-size", type=_SIZES, default="standard-2x", show_default=True)
@click.option(
    "--initial-release",
    type=int,
    default=1,
    show_default=True,
    help="Release running when the log starts.",
)
@click.option(
    "--releases", type=int, help="Number of releases, spread evenly [default: every 8 h]."
)
@click.option("--release-at", "release_at", type=float, multiple=True, help="Release at hour H.")
@click.option("--leak-route", default="/users/:id/orders/:id", show_default=True)
@click.option("--leak-mb", type=float, default=0.2, show_default=True, help="MB kept per request.")
@click.option("--leak-release", type=int, default=3, show_default=True, help="Leaks from vN on.")
@click.option("--fixed-release", type=int, help="Leak fixed in vM.")
@click.option("--no-leak", is_flag=True)
@click.option("--transient-route", default="/reports/:id/export", show_default=True)
@click.option("--transient-mb", type=float, default=25.0, show_default=True)
@click.option("--no-transient", is_flag=True)
@click.option("--worker-cache-mb", type=float, default=200.0, show_default=True)
@click.option("--h12-route", default="/search", show_default=True)
@click.option(
    "--h12-start", type=float, help="Window start, minutes after the start [0.45 of run]."
)
@click.option("--h12-minutes", type=float, default=20.0, show_default=True)
@click.option("--h12-fraction", type=float, default=0.6, show_default=True)
@click.option("--no-h12", is_flag=True)
@click.option("--crash-worker", help="Worker that crashes and stays down, e.g. worker.1.")
@click.option("--crash-at", type=float, help="Crash at hour H [0.6 of run].")
@click.option("--crash-loops", type=int, default=2, show_default=True, help="Failed reboots.")
@click.option(
    "--crash-recovery",
    type=click.Choice(["cooloff", "deploy"]),
    help="The crashed worker boots after a cool-off, or on the next release.",
)
@click.option(
    "--crash-stack",
    type=click.Choice(["ruby", "python", "node", "java"]),
    default="ruby",
    show_default=True,
    help="Stack of the error printed before exit 1.",
)
@click.option("--warmup-hours", type=float, help="Worker cache warm-up time constant (h).")
@click.option("--error-route", help="Route whose requests answer 500 in a burst.")
@click.option("--error-start", type=float, help="Burst start, minutes after the start [0.3].")
@click.option("--error-minutes", type=float, default=10.0, show_default=True)
@click.option("--error-fraction", type=float, default=0.9, show_default=True)
@click.option("--web-outage-release", type=int, help="Every web boot on vN crashes (H10s).")
@click.option(
    "--web-outage-releases",
    type=int,
    default=1,
    show_default=True,
    help="How many releases from vN on fail to boot.",
)
@click.option("--idle-at", type=float, help="Eco idling: no traffic from hour H.")
@click.option("--idle-minutes", type=float, default=60.0, show_default=True)
@click.option("--hung-dyno", help="Web dyno whose requests all H12, e.g. web.1.")
@click.option("--hung-at", type=float, help="Hang at hour H [0.7 of run].")
@click.option("--hung-minutes", type=float, default=15.0, show_default=True)
@click.option(
    "--ephemeral-files",
    is_flag=True,
    help="Exports written to the dyno's disk, read back later: lost on restart/other dynos.",
)
@click.option(
    "--ephemeral-stack",
    type=click.Choice(["ruby", "python", "node", "java"]),
    default="ruby",
    show_default=True,
    help="Stack whose missing-file error the failed downloads print.",
)
@click.option("--ephemeral-reads", type=float, default=12.0, show_default=True,
              help="Downloads of exported files per hour.")  # fmt: skip
@click.option("--log-loss-at", type=float, help="Log loss: Logplex drops lines from hour H.")
@click.option("--log-loss-minutes", type=float, default=10.0, show_default=True)
@click.option(
    "--log-loss-fraction",
    type=float,
    default=1.0,
    show_default=True,
    help="Share of every source's lines dropped (1: a gap, less: a thinning).",
)
@click.option(
    "--log-loss-code",
    type=click.Choice(["L10", "L11"]),
    default="L10",
    show_default=True,
    help="L10: a drain's buffer overflow; L11: a tail session's.",
)
@click.option("--r12", type=int, help="The N-th graceful restart hits R12 (exit timeout).")
@click.option("--scale-at", type=float, help="Scale the formation at hour H.")
@click.option("--scale-web", type=int, help="Web dynos after scaling.")
@click.option("--scale-worker", type=int, help="Worker dynos after scaling.")
@click.option("--restart-at", type=float, multiple=True, help="`heroku ps:restart` at hour H.")
@click.option("--no-cycling", is_flag=True, help="No daily dyno cycling.")
@click.option("--healthy", is_flag=True, help="No leak and no crash.")
@click.option(
    "--app-line-ratio",
    type=float,
    default=0.5,
    show_default=True,
    help="Share of requests with Rails Started/Completed lines.",
)
@click.option(
    "--artifacts",
    type=int,
    default=0,
    is_flag=False,
    flag_value=1,
    help="Insert N of each copy/paste artefact (wrap, prompt, blank) [flag: 1].",
)
def main(**o: Any) -> None:
    """Write a synthetic `heroku logs` export and a ground-truth JSON describing it."""
    cfg = ScenarioConfig(
        seed=o["seed"],
        start=o["start"],
        hours=o["hours"],
        size_mb=o["size_mb"],
        rps=o["rps"],
        app_name=o["app_name"],
        web_dynos=o["web_dynos"],
        web_size=o["web_size"],
        worker_dynos=o["worker_dynos"],
        worker_size=o["worker_size"],
        initial_release=o["initial_release"],
        releases=o["releases"],
        release_hours=tuple(o["release_at"]) or None,
        leak_route=None if o["no_leak"] else o["leak_route"],
        leak_mb=o["leak_mb"],
        leak_release=o["leak_release"],
        fixed_release=o["fixed_release"],
        transient_route=None if o["no_transient"] else o["transient_route"],
        transient_mb=o["transient_mb"],
        worker_cache_mb=o["worker_cache_mb"],
        h12_route=None if o["no_h12"] else o["h12_route"],
        h12_start_min=o["h12_start"],
        h12_minutes=o["h12_minutes"],
        h12_fraction=o["h12_fraction"],
        crash_worker=o["crash_worker"],
        crash_at_hours=o["crash_at"],
        crash_loops=o["crash_loops"],
        crash_recovery=o["crash_recovery"],
        crash_stack=o["crash_stack"],
        worker_warmup_hours=o["warmup_hours"],
        error_route=o["error_route"],
        error_start_min=o["error_start"],
        error_minutes=o["error_minutes"],
        error_fraction=o["error_fraction"],
        web_outage_release=o["web_outage_release"],
        web_outage_releases=o["web_outage_releases"],
        idle_at_hours=o["idle_at"],
        idle_minutes=o["idle_minutes"],
        hung_dyno=o["hung_dyno"],
        hung_at_hours=o["hung_at"],
        hung_minutes=o["hung_minutes"],
        ephemeral_files=o["ephemeral_files"],
        ephemeral_stack=o["ephemeral_stack"],
        ephemeral_reads_per_hour=o["ephemeral_reads"],
        log_loss_at_hours=o["log_loss_at"],
        log_loss_minutes=o["log_loss_minutes"],
        log_loss_fraction=o["log_loss_fraction"],
        log_loss_code=o["log_loss_code"],
        r12_restart=o["r12"],
        scale_at_hours=o["scale_at"],
        scale_web=o["scale_web"],
        scale_worker=o["scale_worker"],
        restart_at_hours=tuple(o["restart_at"]),
        cycling=not o["no_cycling"],
        healthy=o["healthy"],
        app_line_ratio=o["app_line_ratio"],
        artifacts=o["artifacts"],
    )
    try:
        truth: dict[str, Any] = generate(cfg, o["output"], o["truth_path"])
    except ValueError as e:
        raise click.UsageError(str(e)) from e
    except BrokenPipeError:  # `-o - | head`
        sys.stderr.close()
        return
    if o["output"] != "-":
        out = truth["output"]
        click.echo(
            f"wrote {out['bytes'] / 1e6:.1f} MB, {truth['counts']['lines']} lines, "
            f"{truth['hours']} h to {out['path']}; truth: {out.get('truth')}",
            err=True,
        )


if __name__ == "__main__":
    sys.exit(main())
