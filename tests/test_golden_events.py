"""Golden platform and API lines (`heroku[<dyno>]`, `app[api]`, `heroku[api]`) -> `events`.

Every column is checked; `message` is the text after `]: `. Lines come from the real
`heroku logs` files unless given as `text` (catalogue examples, or a drain frame's message).
"""

from __future__ import annotations

import pytest
from ingest_helpers import Golden, check_golden, golden_dataset, golden_params, utc

T = "events"
OBF = "[email protected]"  # Cloudflare's e-mail obfuscation, as pasted in src-040


CASES = [
    # R15 sequence (src-049): memory, error, SIGKILL, exit 137, up -> crashed.
    Golden(T, ref="src-049:1", expected=dict(
        ts=utc(2022, 1, 10, 10, 58, 37, 183286), dyno="worker.1", kind="memory",
        mem_mb=1214.0, mem_pct=237.2,
    )),
    Golden(T, ref="src-049:2", expected=dict(
        ts=utc(2022, 1, 10, 10, 58, 37, 192749), dyno="worker.1", kind="error", code="R15",
        description="Memory quota vastly exceeded",
    )),
    Golden(T, ref="src-049:3", expected=dict(
        ts=utc(2022, 1, 10, 10, 58, 37, 202439), dyno="worker.1", kind="stop",
        signal="SIGKILL",
    )),
    Golden(T, ref="src-049:4", expected=dict(
        ts=utc(2022, 1, 10, 10, 58, 37, 425535), dyno="worker.1", kind="exit",
        exit_status=137,
    )),
    Golden(T, ref="src-049:5", expected=dict(
        ts=utc(2022, 1, 10, 10, 58, 37, 488054), dyno="worker.1", kind="state_change",
        from_state="up", to_state="crashed",
    )),
    # R14, and the memory line before it (src-041, src-027).
    Golden(T, ref="src-041:2", expected=dict(
        ts=utc(2018, 12, 24, 23, 52, 10, 744839), dyno="web.1", kind="error", code="R14",
        description="Memory quota exceeded",
    )),
    Golden(T, ref="src-041:3", expected=dict(
        ts=utc(2018, 12, 24, 23, 52, 33, 225198), dyno="web.1", kind="memory", mem_mb=524.0,
        mem_pct=102.5,
    )),
    Golden(T, ref="src-027:3", expected=dict(
        ts=utc(2018, 12, 6, 22, 59, 35, 123168), dyno="worker.3", kind="memory",
        mem_mb=1063.0, mem_pct=103.9,
    )),
    # R10 with the detail after `->`.
    Golden(T, ref="src-041:5", expected=dict(
        ts=utc(2018, 12, 24, 23, 52, 35, 20294), dyno="web.1", kind="error", code="R10",
        description="Boot timeout: Web process failed to bind to $PORT within 60 seconds of "
        "launch",
    )),
    Golden(T, ref="src-041:8", expected=dict(
        ts=utc(2018, 12, 24, 23, 52, 35, 195841), dyno="web.1", kind="exit", exit_status=137,
    )),
    Golden(T, ref="src-041:9", expected=dict(
        ts=utc(2018, 12, 25, 1, 15, 54, 252188), dyno="web.1", kind="start",
        command="npm start",
    )),
    # R12, 2024 wording.
    Golden(T, ref="src-012:640", expected=dict(
        ts=utc(2024, 5, 20, 22, 42, 3, 793368), dyno="web.1", kind="error", code="R12",
        description="Exit timeout: At least one process failed to exit within 30 seconds of "
        "SIGTERM",
    )),
    Golden(T, ref="src-019:11", expected=dict(
        ts=utc(2013, 9, 28, 3, 51, 50, 597642), dyno="web.1", kind="error", code="R99",
        description="Platform error: Failed to launch the dyno within 10 seconds",
    )),
    # Idling cycle (src-038).
    Golden(T, ref="src-038:3", expected=dict(
        ts=utc(2018, 1, 23, 10, 59, 16, 605986), dyno="web.1", kind="idling",
    )),
    Golden(T, ref="src-038:4", expected=dict(
        ts=utc(2018, 1, 23, 10, 59, 16, 606566), dyno="web.1", kind="state_change",
        from_state="up", to_state="down",
    )),
    Golden(T, ref="src-038:5", expected=dict(
        ts=utc(2018, 1, 23, 10, 59, 17, 492497), dyno="web.1", kind="stop", signal="SIGTERM",
    )),
    Golden(T, ref="src-038:6", expected=dict(
        ts=utc(2018, 1, 23, 10, 59, 17, 595592), dyno="web.1", kind="exit", exit_status=143,
    )),
    Golden(T, ref="src-038:7", expected=dict(
        ts=utc(2018, 1, 24, 23, 40, 28), dyno="api", kind="build_started",
        user="***@gmail.com",
    )),
    Golden(T, ref="src-038:8", expected=dict(
        ts=utc(2018, 1, 24, 23, 40, 40, 915811), dyno="web.1", kind="unidling",
    )),
    Golden(T, ref="src-038:9", expected=dict(
        ts=utc(2018, 1, 24, 23, 40, 40, 916107), dyno="web.1", kind="state_change",
        from_state="down", to_state="starting",
    )),
    Golden(T, ref="src-038:10", expected=dict(
        ts=utc(2018, 1, 24, 23, 40, 47, 610238), dyno="web.1", kind="start",
        command=".meteor/heroku_build/bin/node $NODEJS_PARAMS .meteor/heroku_build/app/main.js",
    )),
    # app[api] events, 2024 (src-012).
    Golden(T, ref="src-012:1", expected=dict(
        ts=utc(2024, 5, 20, 22, 12, 8, 826506), dyno="api", kind="deploy", commit="94c7c929",
        user="obediencekoza@gmail.com",
    )),
    Golden(T, ref="src-012:2", expected=dict(
        ts=utc(2024, 5, 20, 22, 12, 8, 826506), dyno="api", kind="release", release="v57",
        user="obediencekoza@gmail.com",
    )),
    Golden(T, ref="src-012:3", expected=dict(
        ts=utc(2024, 5, 20, 22, 12, 22), dyno="api", kind="build_succeeded",
    )),
    Golden(T, ref="src-012:6", expected=dict(
        ts=utc(2024, 5, 20, 22, 15, 7), dyno="api", kind="build_started",
        user="obediencekoza@gmail.com",
    )),
    Golden(T, ref="src-012:15", expected=dict(
        ts=utc(2024, 5, 20, 22, 17, 43, 438117), dyno="api", kind="scale",
        formation="web=1:Basic", user="obediencekoza@gmail.com",
    )),
    # src-040: the same events with the obfuscated e-mail.
    Golden(
        T, ref="src-040:14",
        expected=dict(ts=utc(2019, 4, 30, 21, 11, 41, 295109), dyno="api", kind="release",
                      release="v3", user=OBF),
    ),
    Golden(
        T, ref="src-040:12",
        expected=dict(ts=utc(2019, 4, 30, 21, 11, 41, 295109), dyno="api", kind="deploy",
                      commit="193d1419", user=OBF),
    ),
    Golden(
        T, ref="src-040:13",
        expected=dict(ts=utc(2019, 4, 30, 21, 11, 41, 308061), dyno="api", kind="scale",
                      formation="web=1:Free", user=OBF),
    ),
    Golden(
        T, ref="src-040:5",
        expected=dict(ts=utc(2019, 4, 30, 21, 11, 32), dyno="api", kind="build_started",
                      user=OBF),
    ),
    Golden(T, ref="src-040:11", expected=dict(
        ts=utc(2019, 4, 30, 21, 11, 41), dyno="api", kind="build_succeeded",
    )),
    Golden(T, ref="src-040:9", expected=dict(
        ts=utc(2019, 4, 30, 21, 11, 43, 863704), dyno="web.1", kind="exit", exit_status=0,
    )),
    Golden(T, ref="src-040:7", expected=dict(
        ts=utc(2019, 4, 30, 21, 11, 43, 878646), dyno="web.1", kind="state_change",
        from_state="starting", to_state="crashed",
    )),
    # Old heroku[api] events: user without the word `user`, 7-char sha.
    Golden(T, ref="src-016:1", expected=dict(
        ts=utc(2012, 1, 11, 5, 5, 34), dyno="api", kind="release", release="v8",
        user="jskirst@gmail.com",
    )),
    Golden(T, ref="src-010:145", expected=dict(
        ts=utc(2015, 2, 17, 11, 36, 49, 984119), dyno="api", kind="deploy", commit="a193afa",
        user="vipul.sharma20@gmail.com",
    )),
    # One-off dynos through the API (2014 heroku[api] and 2025 app[api] wording).
    Golden(T, ref="src-007:432", expected=dict(
        ts=utc(2014, 1, 14, 20, 41, 48, 73309), dyno="api", kind="run_command",
        command="bundle exec rake assets:clean", user="mike.feustel@it2011.ba-leipzig.de",
    )),
    Golden(
        T, ref="src-014:91",
        expected=dict(
            ts=utc(2025, 2, 7, 16, 0, 33, 628843), dyno="api", kind="run_command",
            command='heroku logs --tail --app luckycat | grep "Error\\|Traceback\\|Exception"',
            user="cborza83@gmail.com",
        ),
    ),
    Golden(T, ref="src-014:33", expected=dict(
        ts=utc(2025, 2, 7, 15, 33, 39, 961775), dyno="api", kind="release_phase",
        release="v93", user="cborza83@gmail.com",
    )),
    Golden(T, ref="src-007:433", expected=dict(
        ts=utc(2014, 1, 14, 20, 41, 53, 982881), dyno="run.5374", kind="awaiting_client",
    )),
    Golden(T, ref="src-007:437", expected=dict(
        ts=utc(2014, 1, 14, 20, 42, 1, 989859), dyno="run.5374", kind="state_change",
        from_state="up", to_state="complete",
    )),
    Golden(T, ref="src-007:438", expected=dict(
        ts=utc(2014, 1, 14, 20, 42, 7), dyno="slug-compiler", kind="slug_compilation",
    )),
    # A -07:00 offset (2010-era doc examples) is normalized to UTC.
    Golden(
        T,
        text="2010-10-06T21:51:07.123456-07:00 heroku[web.1]: State changed from created to "
        "starting",
        expected=dict(ts=utc(2010, 10, 7, 4, 51, 7, 123456), dyno="web.1",
                      kind="state_change", from_state="created", to_state="starting"),
    ),
    # src-004 drain frame: logplex L10.
    Golden(
        T,
        text="2015-06-08T21:50:22+00:00 heroku[logplex]: Error L10 (output buffer overflow): "
        "3 messages dropped since 2015-06-08T21:47:22+00:00.",
        expected=dict(
            ts=utc(2015, 6, 8, 21, 50, 22), dyno="logplex", kind="error", code="L10",
            description="output buffer overflow: 3 messages dropped since "
            "2015-06-08T21:47:22+00:00.",
            dropped=3,
        ),
    ),
    # Catalogue 4: L11 in a tail session ("dropped 1101 messages", word order reversed).
    Golden(
        T,
        text="2015-06-08T21:50:23+00:00 heroku[logplex]: L11 (Tail buffer overflow) -> This "
        "tail session dropped 1101 messages since 2015-06-08T21:47:22+00:00",
        expected=dict(
            ts=utc(2015, 6, 8, 21, 50, 23), dyno="logplex", kind="error", code="L11",
            description="Tail buffer overflow: This tail session dropped 1101 messages since "
            "2015-06-08T21:47:22+00:00",
            dropped=1101,
        ),
    ),
    # Catalogue 4: L12 from log-shuttle (an app[...] source).
    Golden(
        T,
        text="2015-06-08T21:50:24+00:00 app[log-shuttle]: Error L12: 222 messages dropped "
        "since 2015-06-08T21:47:22+00:00.",
        expected=dict(
            ts=utc(2015, 6, 8, 21, 50, 24), dyno="log-shuttle", kind="error", code="L12",
            description="222 messages dropped since 2015-06-08T21:47:22+00:00.", dropped=222,
        ),
    ),
]  # fmt: skip


@pytest.fixture(scope="module")
def ds(tmp_path_factory):
    return golden_dataset(tmp_path_factory, CASES)


@pytest.mark.parametrize(("line_no", "case"), golden_params(CASES))
def test_event_line(ds, line_no, case):
    check_golden(ds, line_no, case)


def test_every_event_line_is_one_record(ds):
    assert ds.file.records == {T: len(CASES)}
    assert ds.file.rejected_lines == 0
