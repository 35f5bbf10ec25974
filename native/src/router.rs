//! The usual Heroku router line, `at=info method=GET path="/" host=h request_id=r fwd="f"
//! dyno=web.1 connect=1ms service=18ms status=200 bytes=13 protocol=https`: the same check,
//! token by token, as the Polars parser's canonical path, and the typed columns it yields.
//! Lines that are not in that form (`canonical` false) go to the Polars parser; a canonical
//! line with a number the Polars cast might read otherwise (a sign, 19+ digits) sets `odd`,
//! and the caller then hands the whole batch to the Polars parser.

use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, BooleanArray, Int32Array, Int64Array, StringViewArray, StructArray,
};
use arrow_schema::{DataType, Field, Fields};

use crate::views::SubViews;

/// Key of each token of the canonical line, in order (`protocol` is optional).
const CANON: [&str; 12] = [
    "at",
    "method",
    "path",
    "host",
    "request_id",
    "fwd",
    "dyno",
    "connect",
    "service",
    "status",
    "bytes",
    "protocol",
];
const QUOTED: [bool; 12] = [
    false, false, true, false, false, true, false, false, false, false, false, false,
];
/// The text columns: path and query come from the `path` token, the rest one token each.
const TEXT: [&str; 8] = [
    "at",
    "method",
    "host",
    "request_id",
    "fwd",
    "dyno",
    "protocol",
    "query",
];
/// The token of each text column but `query` (which `zip` leaves out: one index fewer).
const TEXT_TOKEN: [usize; 7] = [0, 1, 3, 4, 5, 6, 11];
const INTS: [&str; 4] = ["connect_ms", "service_ms", "status", "bytes"];

/// Columns `canonical, odd, at, method, host, request_id, fwd, dyno, protocol, query, path,
/// connect_ms, service_ms, status, bytes` for each message (nulls where not canonical).
pub fn router_canonical(msg: &StringViewArray) -> StructArray {
    let n = msg.len();
    let mut canonical = Vec::with_capacity(n);
    let mut odd = Vec::with_capacity(n);
    let mut text: Vec<SubViews> = (0..TEXT.len())
        .map(|_| SubViews::with_capacity(n))
        .collect();
    let mut path = SubViews::with_capacity(n);
    let mut ints: Vec<Vec<Option<i64>>> = (0..INTS.len()).map(|_| Vec::with_capacity(n)).collect();
    let views = msg.views();
    for i in 0..n {
        let s = if msg.is_null(i) {
            &b""[..]
        } else {
            msg.value(i).as_bytes()
        };
        let Some(tok) = (!msg.is_null(i)).then(|| tokens(s)).flatten() else {
            canonical.push(false);
            odd.push(false);
            text.iter_mut().for_each(SubViews::push_null);
            path.push_null();
            ints.iter_mut().for_each(|c| c.push(None));
            continue;
        };
        canonical.push(true);
        let v = views[i];
        // Text tokens: "" becomes null.
        for (col, k) in text.iter_mut().zip(TEXT_TOKEN) {
            match tok[k] {
                Some((a, b)) if b > a => col.push(v, s, a, b),
                _ => col.push_null(),
            }
        }
        // path="..." splits at its first `?`: path before it, query after it ("" stays "").
        let (a, b) = tok[2].unwrap();
        let query = &mut text[7];
        if a == b {
            path.push_null();
            query.push_null();
        } else if let Some(q) = memchr::memchr(b'?', &s[a..b]) {
            path.push(v, s, a, a + q);
            query.push(v, s, a + q + 1, b);
        } else {
            path.push(v, s, a, b);
            query.push_null();
        }
        let mut row_odd = false;
        for (col, k) in ints.iter_mut().zip([7usize, 8, 9, 10]) {
            let (a, b) = tok[k].unwrap();
            let (value, weird) = int_ms(&s[a..b], k == 9);
            row_odd |= weird;
            col.push(value);
        }
        odd.push(row_odd);
    }
    let mut fields = vec![
        Field::new("canonical", DataType::Boolean, false),
        Field::new("odd", DataType::Boolean, false),
    ];
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(BooleanArray::from(canonical)),
        Arc::new(BooleanArray::from(odd)),
    ];
    for (name, col) in TEXT.iter().zip(text) {
        fields.push(Field::new(*name, DataType::Utf8View, true));
        columns.push(Arc::new(col.finish(msg)));
    }
    fields.push(Field::new("path", DataType::Utf8View, true));
    columns.push(Arc::new(path.finish(msg)));
    for (name, col) in INTS.iter().zip(ints) {
        if *name == "status" {
            let col: Int32Array = col.into_iter().map(|v| v.map(|x| x as i32)).collect();
            fields.push(Field::new(*name, DataType::Int32, true));
            columns.push(Arc::new(col));
        } else {
            fields.push(Field::new(*name, DataType::Int64, true));
            columns.push(Arc::new(Int64Array::from(col)));
        }
    }
    StructArray::new(Fields::from(fields), columns, None)
}

/// Value ranges of the 12 tokens (protocol None when absent), or None when not canonical.
fn tokens(s: &[u8]) -> Option<[Option<(usize, usize)>; 12]> {
    let mut out = [None; 12];
    let mut start = 0usize;
    let mut k = 0usize;
    loop {
        let end = s[start..]
            .iter()
            .position(|&c| c == b' ')
            .map_or(s.len(), |p| start + p);
        if k >= CANON.len() {
            return None; // a 13th token: not canonical
        }
        let tok = &s[start..end];
        let key = CANON[k].as_bytes();
        if k == 0 {
            if tok != b"at=info" {
                return None;
            }
        } else if !(tok.len() > key.len() && tok.starts_with(key) && tok[key.len()] == b'=') {
            return None;
        }
        let mut a = start + key.len() + 1;
        let mut b = end;
        if QUOTED[k] {
            // `key="...`: the value is after the quote, one closing quote dropped.
            if !(tok.len() > key.len() + 1 && tok[key.len() + 1] == b'"' && tok.ends_with(b"\"")) {
                return None;
            }
            a += 1;
            b = if b > a { b - 1 } else { b };
        }
        out[k] = Some((a, b));
        k += 1;
        if end == s.len() {
            break;
        }
        start = end + 1;
    }
    // `bytes` must be there; `protocol` may not.
    (k >= 11).then_some(out)
}

/// `30000ms`, `30000` or `` as an integer (None for ``), and whether the text is one the
/// Polars cast might read differently (signs, non-digits, 19+ digits, an Int32 overflow).
fn int_ms(v: &[u8], int32: bool) -> (Option<i64>, bool) {
    let v = v.strip_suffix(b"ms").unwrap_or(v);
    if v.is_empty() {
        return (None, false);
    }
    if v.len() > 18 || !v.iter().all(u8::is_ascii_digit) {
        return (None, true);
    }
    let x = v.iter().fold(0i64, |acc, b| acc * 10 + (b - b'0') as i64);
    if int32 && x > i32::MAX as i64 {
        return (None, true);
    }
    (Some(x), false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Int32Type, Int64Type};

    const LINE: &str = "at=info method=GET path=\"/a/b?x=1\" host=h.example request_id=r-1 \
        fwd=\"1.2.3.4\" dyno=web.1 connect=1ms service=18ms status=200 bytes=13 protocol=https";

    fn col<'a>(out: &'a StructArray, name: &str) -> &'a ArrayRef {
        out.column_by_name(name).unwrap()
    }

    #[test]
    fn canonical_line_columns() {
        let msg = StringViewArray::from(vec![LINE]);
        let out = router_canonical(&msg);
        assert!(col(&out, "canonical").as_boolean().value(0));
        assert!(!col(&out, "odd").as_boolean().value(0));
        let s = |name| col(&out, name).as_string_view().value(0).to_string();
        assert_eq!(
            (s("method"), s("path"), s("query")),
            ("GET".into(), "/a/b".into(), "x=1".into())
        );
        assert_eq!(
            (s("host"), s("fwd"), s("protocol")),
            ("h.example".into(), "1.2.3.4".into(), "https".into())
        );
        assert_eq!(
            col(&out, "service_ms").as_primitive::<Int64Type>().value(0),
            18
        );
        assert_eq!(
            col(&out, "status").as_primitive::<Int32Type>().value(0),
            200
        );
    }

    #[test]
    fn empty_values_are_null_and_protocol_optional() {
        let line = "at=info method=GET path=\"\" host=h request_id= fwd=\"\" dyno= connect= \
            service=5 status= bytes=";
        let out = router_canonical(&StringViewArray::from(vec![line]));
        assert!(col(&out, "canonical").as_boolean().value(0));
        for name in ["path", "query", "request_id", "fwd", "dyno", "protocol"] {
            assert!(col(&out, name).is_null(0), "{name}");
        }
        assert!(col(&out, "status").is_null(0));
        assert_eq!(
            col(&out, "service_ms").as_primitive::<Int64Type>().value(0),
            5
        );
    }

    #[test]
    fn other_forms_are_not_canonical() {
        let lines = vec![
            LINE.replace("at=info", "at=error code=H12"),
            LINE.replace("method=GET ", ""),
            LINE.replace("  ", " ") + " extra=1",
            LINE.replace("path=\"/a/b?x=1\"", "path=/a"),
            LINE.replace("at=info ", "at=info  "),
        ];
        let out = router_canonical(&StringViewArray::from(lines));
        let c = col(&out, "canonical").as_boolean();
        assert!((0..5).all(|i| !c.value(i)));
    }

    #[test]
    fn odd_numbers_are_flagged() {
        let out = router_canonical(&StringViewArray::from(vec![
            LINE.replace("status=200", "status=+200"),
            LINE.replace("bytes=13", "bytes=99999999999999999999"),
            LINE.replace("status=200", "status=3000000000"),
        ]));
        let odd = col(&out, "odd").as_boolean();
        assert!((0..3).all(|i| odd.value(i)));
    }
}
