"""Error blocks in an app's own output: stack traces, exception lines, `Error:` / `FATAL` lines.

Heroku prefixes every line an app prints (`app[web.1]: `), so one Python traceback or Java stack
trace arrives as many rows of `app_logs`; `error_blocks` puts them back together and reads the
exception, its message, its frames and its `Caused by:` chain, for Python, Ruby (and Rails),
Node, Java, Go and Elixir, plus plain `Error:` / `FATAL` / `fatal:` lines. A line that only
*sounds* like a failure ("could not connect", "requires Node v0.8 or later") is a `message`
block, kept apart so a caller can prefer real errors. Wrapper noise (`npm ERR!`, gunicorn's
arbiter lines) and lines tagged with a request id (errors a framework handled for one request)
never make a block. Pure functions over lists of lines: the callers pick which lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from forensics import heroku

# An exception class name: dotted (Python, Java), `::` (Ruby) or plain, ending like one.
_EXC_NAME = (
    r"(?:[A-Za-z_$][\w$]*(?:\.|::))*[A-Za-z_$]*"
    r"(?:Error|Exception|Exit|Interrupt|Iteration|Failure|Fault|Rejection|Timeout|Panic"
    r"|NotFound|Invalid|Refused)"
)
_EXC_HEAD = re.compile(
    r"^(?:Uncaught |Exception in thread \"[^\"]*\" |Unhandled exception:? )?"
    rf"({_EXC_NAME})(?: \[[\w-]+\])?(?::\s*(.*))?$"
)
_PY_TRACE = re.compile(r"^\s*Traceback \(most recent call last\):")
_PY_FRAME = re.compile(r'^\s*File "([^"]+)", line (\d+)(?:, in (.+))?')
_PY_CHAIN = re.compile(
    r"^\s*(During handling of the above exception|The above exception was the direct cause)"
)
# Any bare `name` or `name: message` ends a Python traceback (gunicorn.errors.HaltServer: ...).
_PY_EXC_ANY = re.compile(r"^([A-Za-z_][\w.]*)(?::\s?(.*))?$")
_RUBY_HEAD = re.compile(r"^(\S+?):(\d+):in [`'](.+?)'?: (.*) \(([A-Z][\w:]*)\)$")
_RUBY_FRAME = re.compile(r"^\s*(?:from )?(\S+?\.rb):(\d+):in [`'](.*?)'?$")
_RAILS_HEAD = re.compile(rf"^({_EXC_NAME}) \((.*)\):?$")
_AT_FRAME = re.compile(r"^\s*at\s+(?:async\s+)?(?:(.+?)\s+\()?([^()\s]+?):(\d+)(?::(\d+))?\)?\s*$")
_JAVA_FRAME = re.compile(r"^\s*at\s+([\w$.<>/]+)\(([^):]*)(?::(\d+))?\)\s*$")
_JAVA_MORE = re.compile(r"^\s*\.\.\. \d+ (?:more|common frames omitted)")
_CAUSED_BY = re.compile(r"^\s*Caused by: (.*)$")
_GO_PANIC = re.compile(r"^(panic|fatal error): (.*)$")
_GO_ROUTINE = re.compile(r"^goroutine \d+ \[[^\]]+\]:")
_GO_FILE = re.compile(r"^\s*(\S+\.go):(\d+)(?: \+0x[0-9a-f]+)?$")
_EX_HEAD = re.compile(r"\*\* \(([\w.]+)\) (.*)$")
_EX_FRAME = re.compile(r"^\s*(?:\([\w_]+(?: [\w.-]+)?\) )?(\S+\.exs?):(\d+): (.*)$")
_NODE_CONTEXT = re.compile(r"^(?:/\S+|node:\S+):\d+$")
_UNHANDLED = re.compile(r"UnhandledPromiseRejection(?:Warning)?\]?:?\s*(.*)")
_PLAIN = re.compile(
    r"(?:^|[\s\[(])(?:FATAL|ERROR|CRITICAL|PANIC)(?:[\s:\]),]|$)|^(?:Error|error|fatal|Fatal|FATAL)"
    r"\b:?|\b(?:Error|error):\s|\blevel=(?:error|fatal|crit|critical|panic)\b|command not found"
    r"|: not found$|^\s*!\s+\w"
)
_WEAK = re.compile(
    r"(?i)\b(?:cannot|can't|could not|couldn't|unable to|failed|failure|refused|denied|missing"
    r"|not found|not set|no such|invalid|requires?|unsupported|not supported|timed out"
    r"|abort(?:ed|ing)?|out of memory)\b"
)
_NOISE = re.compile(
    r"^(?:npm (?:ERR!|error|WARN)|error Command failed with exit code|info Visit https?://"
    r"|Node\.js v\d|exit status \d+$)"
    r"|Worker \(pid:\d+\) (?:exited|was sent)|Shutting down: Master|Reason: Worker failed to boot"
    r"|Worker exiting \(pid|Handling signal: |Booting worker with pid"
)
_CONT = re.compile(r"^(?:\s*[\^~]+\s*|\s*\.\.\.|\s*[{}]|Require stack:|- /\S+|\s+\w+: .*)$")
# Logger prefixes: Ruby Logger, gunicorn/Python logging, tagged logging, ISO timestamps.
_PREFIX = re.compile(
    r"^(?:[DIWEFA], \[[^\]]*\]\s+\w+ -- [^:]*: )?"
    r"(?:\[?\d{4}-\d\d-\d\d[ T][\d:.,]+(?: ?[+-]\d{2}:?\d{2}|Z| UTC)?\]?\s*)?"
    r"(?:\[[^\]]{1,40}\]\s*)*"
)
# Errors that are the consequence of stopping, not its cause.
_SHUTDOWN = re.compile(
    r"interpreter shutdown|SIGTERM|^(?:KeyboardInterrupt|SystemExit|SignalException|Interrupt)\b"
)
# Frames in libraries, not in the app's own code.
_LIBRARY = re.compile(
    r"^<|site-packages|dist-packages|/\.heroku/|/lib/python\d|/vendor/bundle/|/gems/|/ruby/\d|"
    r"node_modules|^node:|^internal/|\(node:|/usr/local/go/|/go/pkg/mod/|^runtime/|^deps/|"
    r"^(?:java|javax|jdk|sun|com/sun|org/springframework|org/apache|org/hibernate|org/postgresql"
    r"|io/netty|kotlin|scala)/"
)

# Elixir frames name their OTP application: `(elixir 1.15.7) lib/code.ex:1435: ...`.
_LIBRARY_TEXT = re.compile(
    r"\((?:elixir|stdlib|kernel|mix|phoenix|plug|plug_cowboy|ecto|ecto_sql|db_connection|postgrex)"
    r" "
)


@dataclass
class Frame:
    """One stack frame: the line as printed, and the file and line it names."""

    text: str
    file: str | None
    line: int | None

    @property
    def is_app(self) -> bool:
        """In the app's own code (not a library, runtime or framework)."""
        lib = _LIBRARY.search(self.file or "") or _LIBRARY_TEXT.match(self.text)
        return bool(self.file) and not lib

    @property
    def location(self) -> str | None:
        """`app/config.py:12`: the file (without Heroku's `/app/` root) and line."""
        if not self.file:
            return None
        f = self.file[5:] if self.file.startswith("/app/") else self.file
        return f"{f}:{self.line}" if self.line is not None else f


@dataclass
class Block:
    """A run of error lines: its exception (type, message), frames, causes and line numbers."""

    kind: str  # exception, error_line, message
    style: str  # python, ruby, rails, node, java, go, elixir, plain
    rows: list[int] = field(default_factory=list)  # indexes into the caller's lines
    heads: list[tuple[str, str | None]] = field(default_factory=list)  # (type, message)
    plain: str | None = None
    frames: list[Frame] = field(default_factory=list)
    causes: list[str] = field(default_factory=list)
    deepest_index: int | None = None  # frame index after the last cause (Java, Node)
    traces: int = 0  # Python `Traceback` headers seen (a chain has several)
    open: bool = True

    @property
    def head(self) -> tuple[str, str | None] | None:
        """The exception that ended the process: a Python traceback's last, else the first."""
        if not self.heads:
            return None
        return self.heads[-1] if self.style == "python" else self.heads[0]

    @property
    def reason(self) -> str:
        """One line: `KeyError: 'DATABASE_URL'`, or the error line itself."""
        h = self.head
        if h is None:
            return _clip(self.plain or "")
        return _clip(f"{h[0]}: {h[1]}" if h[1] else h[0])

    @property
    def chain(self) -> list[str]:
        """The other exceptions of the block: `Caused by:` lines, Python's chained ones."""
        others = [f"{t}: {m}" if m else t for t, m in self.heads if (t, m) != self.head]
        return [_clip(c) for c in [*self.causes, *others]]

    @property
    def deepest_frame(self) -> Frame | None:
        """The innermost call: last printed in Python, first printed (after the last
        `Caused by:`) elsewhere."""
        if not self.frames:
            return None
        if self.style == "python":
            return self.frames[-1]
        i = self.deepest_index if self.deepest_index is not None else 0
        return self.frames[min(i, len(self.frames) - 1)]

    @property
    def app_frame(self) -> Frame | None:
        """The innermost frame in the app's own code (or the deepest, when none is)."""
        app = [f for f in self.frames if f.is_app]
        if not app:
            return None
        if self.style == "python":
            return app[-1]
        deep = self.deepest_frame
        after = [
            f for f in app if deep is not None and self.frames.index(f) >= self.frames.index(deep)
        ]
        return (after or app)[0]

    @property
    def shutdown_noise(self) -> bool:
        """An error caused by the stop itself (SIGTERM, interpreter shutdown)."""
        return bool(_SHUTDOWN.search(self.reason))

    def detail(self) -> list[str]:
        """The key lines: first frame, deepest frame, the app's own frame, causes."""
        out: list[str] = []
        for f in (self.frames[0] if self.frames else None, self.deepest_frame, self.app_frame):
            if f is not None and f.text not in out:
                out.append(f.text)
        out += [c for c in self.chain if c not in out]
        return out[:8]

    def to_dict(self) -> dict[str, Any]:
        app = self.app_frame
        return {
            "reason": self.reason,
            "reason_kind": self.kind,
            "stack": self.style,
            "first_frame": self.frames[0].text if self.frames else None,
            "deepest_frame": f.text if (f := self.deepest_frame) else None,
            "location": app.location if app else None,
            "caused_by": self.chain,
            "detail": self.detail(),
        }


def _clip(text: str, limit: int = 300) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def strip_prefix(message: str) -> str:
    """The message without a logger prefix (`F, [...] FATAL -- : [req] `, `[ts] [pid] [ERROR] `)."""
    return _PREFIX.sub("", message, count=1)


def error_blocks(messages: list[str], tagged: list[bool] | None = None) -> list[Block]:
    """The error blocks in consecutive lines of one dyno, in order. `tagged[i]` marks a line
    that carries a request id (left out: handled for one request, not the process's end)."""
    blocks: list[Block] = []
    cur: Block | None = None
    expect_code = False  # the line after a Python frame is its source line
    go = False  # inside a goroutine dump
    for i, raw in enumerate(messages):
        if tagged and tagged[i]:
            if cur is not None:
                cur.open = False
            cur, expect_code, go = None, False, False
            continue
        msg = raw.rstrip()
        body = strip_prefix(msg) if not msg[:1].isspace() else msg
        if _NOISE.search(msg):
            continue
        py = cur is not None and cur.style == "python" and cur.open
        if py and expect_code and not _PY_FRAME.match(msg) and not _EXC_HEAD.match(body.strip()):
            expect_code = False
            cur.rows.append(i)
            continue
        expect_code = False
        if _PY_TRACE.match(msg):
            if py and (_after_chain(messages, cur.rows) or not cur.heads):
                cur.rows.append(i)
            elif cur is not None and cur.open and cur.style == "plain" and cur.rows[-1] == i - 1:
                # `logger.exception("Error submitting job")`: the message, then its traceback
                cur.kind, cur.style = "exception", "python"
                cur.rows.append(i)
            else:
                cur = _new(blocks, "exception", "python", i)
            cur.traces += 1
            continue
        if py and (m := _PY_FRAME.match(msg)):
            cur.frames.append(Frame(msg.strip(), m.group(1), int(m.group(2))))
            cur.rows.append(i)
            expect_code = True
            continue
        if py and (_PY_CHAIN.match(msg) or msg.strip() == "" or (_CONT.match(msg) and "^" in msg)):
            cur.rows.append(i)
            continue
        waiting = py and cur.frames and len(cur.heads) < cur.traces
        if waiting and (m := _PY_EXC_ANY.match(msg.strip())):
            cur.heads.append((m.group(1), m.group(2)))
            cur.rows.append(i)
            continue
        if py and cur.heads and cur.rows and not _PY_TRACE.match(msg):
            # an exception ends a traceback unless a chain separator follows
            cur.open = False
            cur = None
        if m := _RUBY_HEAD.match(body):
            cur = _new(blocks, "exception", "ruby", i)
            cur.heads.append((m.group(5), m.group(4)))
            cur.frames.append(Frame(body, m.group(1), int(m.group(2))))
            continue
        ruby = cur is not None and cur.open and cur.style in ("ruby", "rails")
        if ruby and (m := _RUBY_FRAME.match(msg)):
            cur.frames.append(Frame(msg.strip(), m.group(1), int(m.group(2))))
            cur.rows.append(i)
            continue
        if m := _EX_HEAD.search(body):
            cur = _new(blocks, "exception", "elixir", i)
            cur.heads.append((m.group(1), m.group(2)))
            continue
        if cur is not None and cur.open and cur.style == "elixir" and (m := _EX_FRAME.match(msg)):
            cur.frames.append(Frame(msg.strip(), m.group(1), int(m.group(2))))
            cur.rows.append(i)
            continue
        if m := _GO_PANIC.match(body):
            cur = _new(blocks, "exception", "go", i)
            cur.heads.append((m.group(1), m.group(2)))
            go = False
            continue
        if cur is not None and cur.open and cur.style == "go":
            if _GO_ROUTINE.match(msg):
                go = True
                cur.rows.append(i)
                continue
            if m := _GO_FILE.match(msg):
                cur.frames.append(Frame(msg.strip(), m.group(1), int(m.group(2))))
                cur.rows.append(i)
                continue
            if go or msg.startswith("[signal ") or not msg.strip():
                cur.rows.append(i)
                continue
        if (m := _CAUSED_BY.match(msg)) and cur is not None and cur.open:
            cur.causes.append(m.group(1).strip())
            cur.rows.append(i)
            cur.deepest_index = len(cur.frames)
            continue
        if cur is not None and cur.open and (m := _JAVA_FRAME.match(msg)):
            line = int(m.group(3)) if m.group(3) else None
            cur.frames.append(Frame(msg.strip(), _java_file(m), line))
            cur.rows.append(i)
            continue
        if cur is not None and cur.open and (m := _AT_FRAME.match(msg)):
            cur.frames.append(Frame(msg.strip(), m.group(2), int(m.group(3))))
            cur.rows.append(i)
            continue
        if cur is not None and cur.open and _JAVA_MORE.match(msg):
            cur.rows.append(i)
            continue
        if m := _UNHANDLED.search(body):
            rest = m.group(1).strip()
            inner = _EXC_HEAD.match(rest)
            cur = _new(blocks, "exception", "node", i)
            cur.heads.append(
                (inner.group(1), inner.group(2)) if inner else ("UnhandledPromiseRejection", rest)
            )
            continue
        if m := _EXC_HEAD.match(body.strip()) or _RAILS_HEAD.match(body.strip()):
            style = "java" if "." in m.group(1) and "::" not in m.group(1) else "node"
            if _RAILS_HEAD.match(body.strip()) and not _EXC_HEAD.match(body.strip()):
                style = "rails"
            if cur is not None and cur.open and not cur.heads and cur.style == "context":
                cur.kind, cur.style = "exception", style
                cur.heads.append((m.group(1), m.group(2)))
                cur.rows.append(i)
            else:
                cur = _new(blocks, "exception", style, i)
                cur.heads.append((m.group(1), m.group(2)))
            continue
        if _NODE_CONTEXT.match(body):
            # `/app/index.js:3` + source line + `^`: Node's preamble to an uncaught error
            cur = Block("context", "context", [i], frames=[_context_frame(body)])
            blocks.append(cur)
            expect_code = False
            continue
        if cur is not None and cur.open and cur.style == "context" and len(cur.rows) < 5:
            cur.rows.append(i)
            continue
        if cur is not None and cur.open and cur.heads and _CONT.match(msg):
            cur.rows.append(i)
            continue
        if _PLAIN.search(msg):
            cur = _new(blocks, "error_line", "plain", i)
            cur.plain = body.strip() or msg.strip()
            continue
        if cur is not None:
            cur.open = False
            cur = None
        if _WEAK.search(body):
            b = _new(blocks, "message", "plain", i)
            b.plain = body.strip()
            b.open = False
    return [b for b in blocks if b.kind != "context"]


def _after_chain(messages: list[str], rows: list[int]) -> bool:
    """Whether the block's last non-blank line is Python's `During handling of ...`."""
    for r in reversed(rows):
        if messages[r].strip():
            return bool(_PY_CHAIN.match(messages[r]))
    return False


def _new(blocks: list[Block], kind: str, style: str, i: int) -> Block:
    for b in blocks:
        b.open = False
    b = Block(kind, style, [i])
    blocks.append(b)
    return b


def _java_file(m: re.Match[str]) -> str:
    """`com.x.Y.z(Y.java:42)` names `Y.java`; the class path is more telling: com/x/Y.java."""
    method = m.group(1).rsplit("/", 1)[-1]  # `java.base/sun.nio...`: the module dropped
    package = method.rsplit(".", 2)[0] if method.count(".") >= 2 else ""
    name = m.group(2) if m.group(3) else ""  # `(Native Method)`, `(Unknown Source)`: no file
    return f"{package.replace('.', '/')}/{name}".lstrip("/")


def _context_frame(body: str) -> Frame:
    path, _, line = body.rpartition(":")
    return Frame(body, path, int(line))


_NORMALIZE = (
    (
        re.compile(heroku.UUID),
        "<uuid>",
    ),
    (re.compile(r"\b0x[0-9a-fA-F]+\b"), "<addr>"),
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b"), "<ip>"),
    (
        re.compile(r"\b[0-9a-fA-F]*\d[0-9a-fA-F]*[a-fA-F][0-9a-fA-F]{6,}\b|\b[0-9a-f]{12,}\b"),
        "<hex>",
    ),
    (re.compile(r"\d+"), "N"),
    (re.compile(r"\s+"), " "),
)


def reason_key(text: str | None) -> str | None:
    """The grouping key of a reason: numbers, ids, hashes, addresses and IPs replaced, so the
    same failure on another dyno, pid or port groups with it."""
    if not text:
        return None
    out = text
    for rx, rep in _NORMALIZE:
        out = rx.sub(rep, out)
    return out.strip()
