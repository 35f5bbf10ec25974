"""Synthetic `heroku logs` exports with knobs (leaks, H12 bursts, crashes...) and a ground truth.

`generate(ScenarioConfig(...), "out.log.gz")` writes the log and `out.truth.json`, and returns
the truth dict. `python -m forensics.scenario --help` is the command-line front end.
"""

from __future__ import annotations

import json
from pathlib import Path

from .config import DYNO_SIZES, ScenarioConfig
from .engine import Simulation
from .truth import build, default_truth_path
from .writer import Sink

__all__ = ["DYNO_SIZES", "ScenarioConfig", "default_truth_path", "generate"]


def generate(
    config: ScenarioConfig, out: str | Path, truth_path: str | Path | None = None
) -> dict[str, object]:
    """Write the export to `out` (`.gz` compresses, `-` is stdout) and its truth JSON; return it.

    The truth goes to `truth_path`, by default `<out without .log/.log.gz>.truth.json`
    (nothing is written for stdout unless a path is given).
    """
    cfg = config.resolved()
    sink = Sink(out)
    sim = Simulation(cfg, sink)
    try:
        sim.run()
    finally:
        sink.close()
    truth = build(sim, out)
    if truth_path is None and str(out) != "-":
        truth_path = default_truth_path(out)
    if truth_path is not None:
        truth["output"]["truth"] = str(truth_path)  # type: ignore[index]
        Path(truth_path).write_text(json.dumps(truth, indent=1) + "\n")
    return truth
