"""Ordered output: lines buffered by sort key, flushed below a watermark, counted, artefacts."""

from __future__ import annotations

import gzip
import io
import sys
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

if TYPE_CHECKING:
    from .loss import LogLoss

# Line kinds, counted per kind and per dyno slot (kind * SLOTS + slot).
KINDS = (
    "router",
    "H10",
    "H12",
    "H13",
    "H27",
    "H14",
    "metrics_load",
    "metrics_memory",
    "process_running",
    "r14",
    "r15",
    "r12",
    "api",
    "state_change",
    "lifecycle",
    "app",
    "heroku-postgres",
    "heroku-redis",
    "logplex",
)
K = {name: i for i, name in enumerate(KINDS)}
SLOTS = 256
CHUNK_BYTES = 8 << 20


class Sink:
    """Byte sink for a path (`.gz` compresses, deterministically) or `-` for stdout."""

    def __init__(self, out: str | Path) -> None:
        self.bytes = 0
        self._raw: BinaryIO | None = None
        if str(out) == "-":
            self._fh: BinaryIO = sys.stdout.buffer
        else:
            Path(out).parent.mkdir(parents=True, exist_ok=True)  # `-o new/dir/app.log` works
            self._raw = open(out, "wb")  # noqa: SIM115 - closed in close()
            if str(out).endswith(".gz"):
                self._fh = gzip.GzipFile(filename="", mode="wb", fileobj=self._raw, mtime=0)
            else:
                self._fh = self._raw
        self._buf = io.StringIO()
        self._pending = 0

    def write(self, text: str) -> None:
        """Append text; written through in large chunks."""
        self._buf.write(text)
        self._pending += len(text)
        self.bytes += len(text)  # the text is ASCII, so characters are bytes
        if self._pending >= CHUNK_BYTES:
            self._drain()

    def _drain(self) -> None:
        self._fh.write(self._buf.getvalue().encode("ascii", "replace"))
        self._buf = io.StringIO()
        self._pending = 0

    def close(self) -> None:
        """Flush everything and close files we opened."""
        self._drain()
        self._fh.flush()
        if self._raw is not None:
            if self._fh is not self._raw:
                self._fh.close()
            self._raw.close()


class Emitter:
    """Holds lines until the simulation passes their sort key, then writes them in key order."""

    def __init__(
        self, sink: Sink, artifacts: list[tuple[int, str]], rng: np.random.Generator, prompt: str
    ) -> None:
        self.sink = sink
        self.keys: list[np.ndarray] = []
        self.lines: list[str] = []
        self.codes: list[np.ndarray] = []
        self.counts = np.zeros(len(KINDS) * SLOTS, np.int64)
        self.logical = 0  # log lines written
        self.physical = 0  # text lines written (artefacts included)
        self.targets = sorted(artifacts)
        self.artifacts: list[dict[str, object]] = []
        self._rng = rng
        self._prompt = prompt
        self.loss: LogLoss | None = None  # the log_loss knob: lines dropped at write time

    def add(self, keys: np.ndarray, lines: list[str], kind: str, slots: np.ndarray | int) -> None:
        """Queue lines of one kind; `slots` is the dyno slot per line (or one for all)."""
        if not lines:
            return
        code = K[kind] * SLOTS + np.asarray(slots, dtype=np.int64)
        self.keys.append(np.asarray(keys, dtype=np.int64))
        self.codes.append(np.broadcast_to(code, (len(lines),)))
        self.lines.extend(lines)

    def flush(self, upto: int) -> None:
        """Write every queued line whose key is below `upto`, in key order."""
        if not self.lines:
            return
        keys = np.concatenate(self.keys)
        codes = np.concatenate(self.codes)
        below = keys < upto
        idx = np.flatnonzero(below)
        order = idx[np.argsort(keys[idx], kind="stable")]
        rest = np.flatnonzero(~below)
        out = [self.lines[i] for i in order.tolist()]
        self.lines = [self.lines[i] for i in rest.tolist()]
        self.keys, self.codes = [keys[rest]], [codes[rest]]
        okeys, ocodes = keys[order], codes[order]
        if self.loss is not None:
            out, okeys, ocodes = self._lose(out, okeys, ocodes, upto)
        if not out:
            return
        self.counts += np.bincount(ocodes, minlength=len(self.counts))
        self.logical += len(out)
        out = self._insert_artifacts(out, okeys, ocodes, upto)
        self.physical += len(out)
        self.sink.write("\n".join(out) + "\n")

    def _lose(
        self, out: list[str], keys: np.ndarray, codes: np.ndarray, upto: int
    ) -> tuple[list[str], np.ndarray, np.ndarray]:
        """Drop the lines the log loss takes and insert its due L10/L11 reports, in key order."""
        assert self.loss is not None
        kinds = np.array(KINDS)[codes // SLOTS]
        keep = self.loss.drop(keys, out, kinds)
        if not keep.all():
            out = [x for x, k in zip(out, keep.tolist(), strict=True) if k]
            keys, codes = keys[keep], codes[keep]
        for key, line in self.loss.due(upto):
            at = int(np.searchsorted(keys, key, "right"))
            out.insert(at, line)
            keys = np.insert(keys, at, key)
            codes = np.insert(codes, at, K["logplex"] * SLOTS)
        return out, keys, codes

    def drop_pending(self) -> None:
        """Forget lines past the end of the log."""
        self.keys, self.codes, self.lines = [], [], []

    def _insert_artifacts(
        self, out: list[str], keys: np.ndarray, codes: np.ndarray, upto: int
    ) -> list[str]:
        """Insert due copy/paste artefacts (prompt, blank, hard-wrapped router line)."""
        due = [t for t in self.targets if t[0] < upto]
        if not due:
            return out
        self.targets = self.targets[len(due) :]
        final: list[str] = []
        prev = 0
        routers = np.flatnonzero(codes // SLOTS == K["router"])
        for when, what in due:
            pos = max(prev, int(np.searchsorted(keys, when)))
            final.extend(out[prev:pos])
            prev = pos
            line_no = self.physical + len(final) + 1
            if what == "prompt":
                final.append(self._prompt)
                self.artifacts.append({"kind": "prompt", "line": line_no})
            elif what == "blank":
                final.append("")
                self.artifacts.append({"kind": "blank", "line": line_no})
            else:
                later = routers[routers >= pos]
                if not len(later):
                    continue
                j = int(later[0])
                final.extend(out[pos:j])
                text = out[j]
                cut = int(self._rng.integers(40, len(text) - 5))
                line_no = self.physical + len(final) + 1
                final.extend([text[:cut], text[cut:]])
                prev = j + 1
                self.artifacts.append(
                    {
                        "kind": "wrap",
                        "line": line_no,
                        "continuation_line": line_no + 1,
                        "split_at": cut,
                    }
                )
        final.extend(out[prev:])
        return final

    def count(self, kind: str) -> int:
        """Lines of one kind written so far."""
        k = K[kind]
        return int(self.counts[k * SLOTS : (k + 1) * SLOTS].sum())

    def by_slot(self, kind: str) -> np.ndarray:
        """Lines of one kind written so far, per dyno slot."""
        k = K[kind]
        return self.counts[k * SLOTS : (k + 1) * SLOTS]
