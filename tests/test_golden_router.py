"""Golden router lines (`heroku[router]`) -> `requests` rows, every column checked.

Lines come from the real `heroku logs` files in tests/data/real unless given as `text`
(catalogue examples from /work/shared/heroku-log-formats.md section 3, or the message of a
drain frame put in a `heroku logs` envelope).
"""

from __future__ import annotations

import pytest
from ingest_helpers import Golden, check_golden, golden_dataset, golden_params, utc

T = "requests"

CASES = [
    # Current logfmt shape, quoted values, no protocol (2016).
    Golden(T, ref="src-022:1", expected=dict(
        ts=utc(2016, 1, 15, 16, 13, 56, 982182), dyno="web.1", method="POST", path="/",
        route="/", host="sendgridwebhooks.herokuapp.com",
        request_id="7c9ad137-4e08-4089-8d50-f09d8b7654ab", fwd="167.89.121.247",
        connect_ms=2, service_ms=30000, status=503, bytes=0, at="error", code="H12",
        desc="Request timeout", legacy=False,
    )),
    # Legacy `Error H12 (...) -> POST host/path dyno= queue= wait= ...`, no fraction.
    Golden(T, ref="src-024:1", expected=dict(
        ts=utc(2012, 1, 20, 2, 10, 47), dyno="web.1", method="POST",
        path="/autoprovision/58", route="/autoprovision/:id",
        host="morning-dawn-8986.herokuapp.com", service_ms=30000, status=503, bytes=0,
        at="error", code="H12", desc="Request timeout", legacy=True,
    )),
    # Legacy H13 with empty service= and bytes=.
    Golden(T, ref="src-016:16", expected=dict(
        ts=utc(2012, 1, 11, 5, 9, 42), dyno="web.1", method="POST", path="/_heroku/console",
        route="/_heroku/console", host="moonlite.heroku.com", status=503, at="error",
        code="H13", desc="Connection closed without response", legacy=True,
    )),
    # Unquoted path, no request_id, no protocol (2014).
    Golden(T, ref="src-007:10", expected=dict(
        ts=utc(2014, 1, 14, 8, 31, 53, 431830), dyno="web.1", method="GET",
        path="/users/6/people", route="/users/:id/people", host="quiet-crag-9089.herokuapp.com",
        fwd="195.37.187.27", connect_ms=2, service_ms=44, status=304, bytes=0, at="info",
        legacy=False,
    )),
    # Unquoted asset path with a 32-hex fingerprint, request_id present.
    Golden(T, ref="src-007:546", expected=dict(
        ts=utc(2014, 1, 28, 8, 21, 57, 654477), dyno="web.1", method="GET",
        path="/assets/application-d76072a7ed371cf986fd5fbaa05a8ef6.css",
        route="/assets/application-:id.css", host="quiet-crag-9089.herokuapp.com",
        request_id="4d70e1bd-c9e3-4636-83b9-f46a70a050d9", fwd="195.37.187.115",
        connect_ms=4, service_ms=24, status=200, bytes=337618, at="info", legacy=False,
    )),
    # sock=client before at=, H27, empty bytes=.
    Golden(T, ref="src-033:2", expected=dict(
        ts=utc(2021, 10, 28, 11, 37, 24, 766727), dyno="web.1", method="POST",
        path="/receiver", route="/receiver", host="vagaspramim.herokuapp.com",
        request_id="1895f0e1-5da3-4556-9fbb-f046d1a73561", fwd="45.6.28.107", connect_ms=0,
        service_ms=25436, status=499, protocol="https", at="warning", code="H27",
        desc="Client Request Interrupted", sock="client", legacy=False,
    )),
    # H27 with a query string, protocol=http.
    Golden(T, ref="src-038:1", expected=dict(
        ts=utc(2018, 1, 23, 10, 25, 39, 413657), dyno="web.1", method="GET",
        path="/sockjs/info", route="/sockjs/info", query="cb=5wdn0pqji8",
        host="mapgl.herokuapp.com", request_id="077be8a3-b5b7-493b-91cc-1fff2cb19548",
        fwd="194.54.160.9", connect_ms=0, service_ms=15, status=499, protocol="http",
        at="warning", code="H27", desc="Client Request Interrupted", sock="client",
        legacy=False,
    )),
    # Websocket: status=101 and a 30-minute service time.
    Golden(T, ref="src-038:2", expected=dict(
        ts=utc(2018, 1, 23, 10, 55, 45, 912227), dyno="web.1", method="GET",
        path="/sockjs/554/uqtr28pi/websocket", route="/sockjs/:id/uqtr28pi/websocket",
        host="mapgl.herokuapp.com", request_id="a4c8d2d9-c135-4473-bc85-7382087fd219",
        fwd="194.54.160.9", connect_ms=0, service_ms=1806661, status=101, bytes=175,
        protocol="http", at="info", legacy=False,
    )),
    # H14: `dyno= connect= service= bytes=` all empty.
    Golden(T, ref="src-012:4", expected=dict(
        ts=utc(2024, 5, 20, 22, 12, 40, 900134), method="GET", path="/orders",
        route="/orders", host="tu-trader-3996d65ded90.herokuapp.com",
        request_id="df4352ea-ba08-49cb-b95c-3aa4c5d309d1", fwd="105.245.105.185", status=503,
        protocol="https", at="error", code="H14", desc="No web processes running", legacy=False,
    )),
    # H10 (2024, protocol=https).
    Golden(T, ref="src-012:494", expected=dict(
        ts=utc(2024, 5, 20, 22, 18, 57, 297403), method="GET", path="/orders",
        route="/orders", host="tu-trader-3996d65ded90.herokuapp.com",
        request_id="02887bcf-9c51-48bb-95f6-7b90947955e6", fwd="105.245.105.185", status=503,
        protocol="https", at="error", code="H10", desc="App crashed", legacy=False,
    )),
    # H10 (2013): unquoted path, no request_id, empty values up to the end of the line.
    Golden(T, ref="src-019:97", expected=dict(
        ts=utc(2013, 9, 29, 21, 52, 35, 178305), method="GET", path="/favicon.ico",
        route="/favicon.ico", host="procrastigain-s.herokuapp.com", fwd="207.38.135.155",
        status=503, at="error", code="H10", desc="App crashed", legacy=False,
    )),
    # Older H18 wording: sock=client at=error desc="Request Interrupted".
    Golden(T, ref="src-010:246", expected=dict(
        ts=utc(2015, 2, 17, 12, 4, 8, 387508), dyno="web.1", method="GET", path="/me/",
        route="/me/", host="www.loremipsum.co.in",
        request_id="94be870f-e0e0-46d3-b7c2-51a94cc2e83a", fwd="122.168.79.204", connect_ms=0,
        service_ms=1109, status=503, bytes=4132, at="error", code="H18",
        desc="Request Interrupted", sock="client", legacy=False,
    )),
    # H12 with protocol=https and a 30001 ms service time.
    Golden(T, ref="src-046:3", expected=dict(
        ts=utc(2018, 4, 10, 3, 30, 56, 545455), dyno="web.1", method="POST", path="/poll",
        route="/poll", host="fast-depths-22674.herokuapp.com",
        request_id="b948fc97-d9de-44d1-8e11-797d5be1e49e", fwd="36.71.232.235", connect_ms=3,
        service_ms=30001, status=503, bytes=0, protocol="https", at="error", code="H12",
        desc="Request timeout", legacy=False,
    )),
    # Quoted path with a multi-key query string.
    Golden(T, ref="src-012:555", expected=dict(
        ts=utc(2024, 5, 20, 22, 30, 18, 747121), dyno="web.1", method="GET",
        path="/socket.io/", route="/socket.io/", query="EIO=4&transport=polling&t=O-O88CB&b64=1",
        host="tu-trader-3996d65ded90.herokuapp.com",
        request_id="b5439586-29e2-4dba-b297-cf7cdbfdb1ff", fwd="3.238.200.79", connect_ms=0,
        service_ms=1, status=200, bytes=310, protocol="https", at="info", legacy=False,
    )),
    # Router 2.0 (2025): protocol=http1.1, then tls=true before tls_version=.
    Golden(
        T, ref="src-014:2",
        expected=dict(
            ts=utc(2025, 2, 7, 15, 19, 57, 3379), dyno="web.1", method="GET",
            path="/static/rest_framework/css/prettify.css",
            route="/static/rest_framework/css/prettify.css",
            host="luckycat-b653875cceaf.herokuapp.com",
            request_id="7097b078-dcde-39f1-94a6-8bc9bffe596b", fwd="79.196.23.96",
            connect_ms=0, service_ms=1, status=304, bytes=0, protocol="http1.1", at="info",
            tls_version="unknown", extra="tls=true", legacy=False,
        ),
    ),
    # Catalogue 3.2 legacy error line, with the 2010-era -07:00 offset (-> next day in UTC).
    Golden(
        T,
        text="2010-10-06T21:51:07-07:00 heroku[router]: Error H12 (Request timeout) -> GET "
        "growing-dusk-20.heroku.com/timeout dyno=web.1 queue=0 wait=0ms service=0ms bytes=0",
        expected=dict(
            ts=utc(2010, 10, 7, 4, 51, 7), dyno="web.1", method="GET", path="/timeout",
            route="/timeout", host="growing-dusk-20.heroku.com", service_ms=0, bytes=0,
            at="error", code="H12", desc="Request timeout", queue=0, wait_ms=0, legacy=True,
        ),
    ),
    # src-005 drain frame (5 fractional digits, 2-address fwd) in a `heroku logs` envelope.
    Golden(
        T,
        text='2022-01-26T20:25:08.61556+00:00 heroku[router]: at=info method=GET path="/tags" '
        "host=mine.herokuapp.com request_id=b4dffe63-d7c8-4b65-9938-55b54d7b7efa "
        'fwd="1.1.1.1,1.1.1.2" dyno=web.1 connect=0ms service=51ms status=200 bytes=27662 '
        "protocol=https",
        expected=dict(
            ts=utc(2022, 1, 26, 20, 25, 8, 615560), dyno="web.1", method="GET", path="/tags",
            route="/tags", host="mine.herokuapp.com",
            request_id="b4dffe63-d7c8-4b65-9938-55b54d7b7efa", fwd="1.1.1.1,1.1.1.2",
            connect_ms=0, service_ms=51, status=200, bytes=27662, protocol="https", at="info",
            legacy=False,
        ),
    ),
    # src-003 drain frame: a UUID segment becomes :id.
    Golden(
        T,
        text="2017-08-31T14:43:56.612173+00:00 heroku[router]: at=info method=GET "
        'path="/api/profiles/f61aa57d-1913-4a10-bc1d-0759e9566de0/" '
        "host=api-staging.myotest.cloud request_id=b9337f92-c562-4a76-8d85-b530cda7d7c2 "
        'fwd="188.60.67.169" dyno=web.1 connect=0ms service=10ms status=401 bytes=315 '
        "protocol=https",
        expected=dict(
            ts=utc(2017, 8, 31, 14, 43, 56, 612173), dyno="web.1", method="GET",
            path="/api/profiles/f61aa57d-1913-4a10-bc1d-0759e9566de0/",
            route="/api/profiles/:id/", host="api-staging.myotest.cloud",
            request_id="b9337f92-c562-4a76-8d85-b530cda7d7c2", fwd="188.60.67.169",
            connect_ms=0, service_ms=10, status=401, bytes=315, protocol="https", at="info",
            legacy=False,
        ),
    ),
    # Catalogue 3.1: H26 with cause= after desc=.
    Golden(
        T,
        text='2024-03-01T10:00:00.000001+00:00 heroku[router]: at=error code=H26 desc="Request '
        'Error" cause="bad header" method=GET path="/" host=myapp.herokuapp.com '
        'request_id=r-1 fwd="204.204.204.204" dyno= connect= service= status=400 bytes= '
        "protocol=https",
        expected=dict(
            ts=utc(2024, 3, 1, 10, 0, 0, 1), method="GET", path="/", route="/",
            host="myapp.herokuapp.com", request_id="r-1", fwd="204.204.204.204", status=400,
            protocol="https", at="error", code="H26", desc="Request Error", cause="bad header",
            legacy=False,
        ),
    ),
    # Catalogue 4 (H25): connect/service without `ms`.
    Golden(
        T,
        text="2024-03-01T10:00:00.000002+00:00 heroku[router]: at=error code=H25 desc=\"HTTP "
        'restriction: oversized cookie" method=GET path="/" host=myapp.herokuapp.com '
        'request_id=r-2 fwd="204.204.204.204" dyno=web.1 connect=0 service=1 status=502 '
        "bytes= protocol=https",
        expected=dict(
            ts=utc(2024, 3, 1, 10, 0, 0, 2), dyno="web.1", method="GET", path="/", route="/",
            host="myapp.herokuapp.com", request_id="r-2", fwd="204.204.204.204", connect_ms=0,
            service_ms=1, status=502, protocol="https", at="error", code="H25",
            desc="HTTP restriction: oversized cookie", legacy=False,
        ),
    ),
]  # fmt: skip


@pytest.fixture(scope="module")
def ds(tmp_path_factory):
    return golden_dataset(tmp_path_factory, CASES)


@pytest.mark.parametrize(("line_no", "case"), golden_params(CASES))
def test_router_line(ds, line_no, case):
    check_golden(ds, line_no, case)


def test_requests_ts_is_utc_microseconds(ds):
    assert str(ds.table(T).schema["ts"]) == "Datetime(time_unit='us', time_zone='UTC')"


def test_every_router_line_is_one_record(ds):
    assert ds.file.records == {T: len(CASES)}
    assert ds.file.rejected_lines == 0


def test_router_line_without_method_or_path_is_rejected_with_its_raw_line(ingest_lines):
    line = "2018-12-06T22:59:20.123456+00:00 heroku[router]: at=info "
    ds = ingest_lines([line])
    rejects = ds.table("rejects").select("line_no", "line_count", "reason", "raw").rows()
    assert rejects == [(1, 1, "router_unparsed", line)]


def test_router_line_without_method_or_path_is_rejected(ingest_lines):
    ds = ingest_lines(["2018-12-06T22:59:20.123456+00:00 heroku[router]: at=info "])
    assert ds.table("rejects").select("line_no", "reason").rows() == [(1, "router_unparsed")]
    assert ds.table(T).height == 0
    assert ds.file.rejects_by_reason == {"router_unparsed": 1}
    assert ds.file.records.get(T, 0) == 0
