//! Any bytes through the whole core: split into lines, envelope, router columns (of the
//! envelope's messages and of the raw lines), families, request ids, runtime metrics, the
//! RFC 5424 envelope (of whole lines and after a frame count) and Papertrail archive rows, with
//! the invariants the Python side relies on.
#![no_main]

use arrow_array::Array;
use arrow_array::Int64Array;
use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMicrosecondType;
use forensics_native::{
    app_logs, envelope, families, lines, metrics, papertrail, router, routes, syslog,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let raw = lines::split_lines(data)
        .expect("small inputs always split")
        .to_string_view()
        .expect("the lines are valid UTF-8");
    assert_eq!(raw.len(), data.iter().filter(|&&b| b == b'\n').count() + 1);
    let env = envelope::cli_envelope(&raw);
    let handled = env.column(0).as_boolean();
    let ts = env.column(1).as_primitive::<TimestampMicrosecondType>();
    let (origin, dyno, message) = (
        env.column(2).as_string_view(),
        env.column(3).as_string_view(),
        env.column(4).as_string_view(),
    );
    for i in 0..raw.len() {
        if !handled.value(i) {
            assert!(ts.is_null(i) && message.is_null(i));
            continue;
        }
        // The parts put back together are the line again.
        let line = raw.value(i);
        let head = format!(
            "{} {}[{}]:",
            &line[..line.find(' ').unwrap()],
            origin.value(i),
            dyno.value(i)
        );
        assert!(line.starts_with(&head));
        assert!(line.ends_with(message.value(i)));
        assert!((-2_300_000_000_000_000..7_300_000_000_000_000).contains(&ts.value(i)));
    }
    let templates = routes::route_templates(&raw);
    let route = templates.column(1).as_string_view();
    for i in 0..raw.len() {
        if !route.is_null(i) && !raw.value(i).contains(":id") {
            // A template is at most 2 bytes longer per segment (`1` -> `:id`).
            assert!(
                route.value(i).len()
                    <= raw.value(i).len() + 2 * raw.value(i).matches('/').count() + 3
            );
        }
    }
    for msgs in [message, &raw] {
        let out = router::router_canonical(msgs);
        let canonical = out.column(0).as_boolean();
        for i in 0..msgs.len() {
            if canonical.value(i) {
                assert!(msgs.value(i).starts_with("at=info method="));
            }
        }
    }
    let fam = families::families(origin, dyno, message);
    assert!(fam.values().iter().all(|f| (0..=4).contains(f)));
    for msgs in [message, &raw] {
        let ids = app_logs::request_ids(msgs);
        for i in 0..msgs.len() {
            if !ids.is_null(i) {
                assert!(msgs.value(i).contains(ids.value(i)));
            }
        }
        let m = metrics::runtime_metrics(msgs);
        let taken = m.column(0).as_boolean();
        for i in 0..msgs.len() {
            if taken.value(i) {
                assert!(msgs.value(i).starts_with("source=") && msgs.value(i).is_ascii());
            }
        }
    }
    // RFC 5424: whole lines, and after a count-like skip (the first token's length + 1).
    let skips: Int64Array = (0..raw.len())
        .map(|i| Some(raw.value(i).find(' ').map_or(0, |k| k as i64 + 1)))
        .collect();
    for skip in [None, Some(&skips)] {
        let env = syslog::rfc5424_envelope(&raw, skip);
        let handled = env.column(0).as_boolean();
        let ts = env.column(1).as_primitive::<TimestampMicrosecondType>();
        for i in 0..raw.len() {
            if !handled.value(i) {
                assert!(ts.is_null(i) && env.column(5).is_null(i));
                continue;
            }
            let line = raw.value(i);
            let from = skip.map_or(0, |k| k.value(i) as usize);
            for c in 2..5 {
                let part = env.column(c).as_string_view();
                if !part.is_null(i) {
                    assert!(line[from..].contains(part.value(i)) && !part.value(i).contains(' '));
                }
            }
            assert!(line.ends_with(env.column(5).as_string_view().value(i)));
            assert!(env.column(3).as_string_view().value(i).len() <= line.len());
            assert!((-2_300_000_000_000_000..7_300_000_000_000_000).contains(&ts.value(i)));
        }
    }
    let rows = papertrail::tsv_envelope(&raw);
    let handled = rows.column(0).as_boolean();
    for i in 0..raw.len() {
        if handled.value(i) {
            let line = raw.value(i);
            assert!(line.matches('\t').count() >= 9);
            let (origin, message) = (
                rows.column(3).as_string_view(),
                rows.column(5).as_string_view(),
            );
            assert!(line.ends_with(message.value(i)) && !origin.value(i).contains('/'));
        }
    }
});
