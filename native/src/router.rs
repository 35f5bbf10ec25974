//! The usual Heroku router line, `at=info method=GET path="/" host=h request_id=r fwd="f"
//! dyno=web.1 connect=1ms service=18ms status=200 bytes=13 protocol=https`: the same check,
//! token by token, as the Polars parser's canonical path, and the typed columns it yields.
//! Lines that are not in that form (`canonical` false) go to the Polars parser; a canonical
//! line with a number the Polars cast might read otherwise (a sign, 19+ digits) sets `odd`,
//! and the caller then hands the whole batch to the Polars parser.
//!
//! Also the other lines in the key order of the Polars parser's `FAST_RE` (`fast`), the error
//! and warning lines: `[sock=.. ][at=.. ][code=.. ][desc=".." ][cause=".." ]method=.. path=".."
//! host=.. request_id=.. fwd=".." dyno=.. connect=[N][ms] service=[N][ms] status=[N] bytes=[N]
//! [protocol=..]`, plain ASCII without control whitespace (so `\S` is "not a space"), quoted
//! values without a quote inside, numbers of up to 18 digits (a status up to Int32), nothing
//! after `protocol`. Where the regex has one way to match, so does this, token by token.

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
/// The optional keys before `method` in the fast form (`at` is token 0 as in the canonical).
const PREFIX: [&str; 4] = ["sock", "code", "desc", "cause"];

type Range = Option<(usize, usize)>;

/// Steps over a message of plain ASCII without control whitespace; each None on a mismatch.
struct Cursor<'a> {
    s: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn lit(&mut self, p: &[u8]) -> Option<()> {
        self.s[self.at..].starts_with(p).then(|| self.at += p.len())
    }

    /// `key=` then a value up to the next space (not included) or the end.
    fn bare(&mut self, key: &[u8]) -> Option<(usize, usize)> {
        self.lit(key)?;
        self.lit(b"=")?;
        let a = self.at;
        let end = memchr::memchr(b' ', &self.s[a..]).map_or(self.s.len(), |k| a + k);
        self.at = end;
        Some((a, end))
    }

    /// `key="value"` with no quote inside.
    fn quoted(&mut self, key: &[u8]) -> Option<(usize, usize)> {
        self.lit(key)?;
        self.lit(b"=\"")?;
        let a = self.at;
        let k = memchr::memchr(b'"', &self.s[a..])?;
        self.at = a + k + 1;
        Some((a, a + k))
    }

    /// `key=(\d*)`, then `ms` if `ms`; the digits' range.
    fn digits(&mut self, key: &[u8], ms: bool) -> Option<(usize, usize)> {
        let (a, b) = self.bare(key)?;
        let v = &self.s[a..b];
        let v = if ms {
            v.strip_suffix(b"ms").unwrap_or(v)
        } else {
            v
        };
        v.iter().all(u8::is_ascii_digit).then_some((a, a + v.len()))
    }

    fn space(&mut self) -> Option<()> {
        self.lit(b" ")
    }
}

/// The tokens (as `tokens` gives them, `at` None when absent) and the `sock, code, desc,
/// cause` ranges of a line in the fast form, or None.
fn fast_form(s: &[u8]) -> Option<([Range; 12], [Range; 4])> {
    if !s.is_ascii() || s.iter().any(|c| matches!(c, b'\t'..=b'\r')) {
        return None;
    }
    let mut tok = [None; 12];
    let mut pre = [None; 4];
    let mut c = Cursor { s, at: 0 };
    // `(?:key=(\S*) )?` each: taken when the line starts so (it then needs its space)
    for (slot, key, quoted) in [
        (0, "sock", false),
        (1, "at", false),
        (2, "code", false),
        (3, "desc", true),
        (4, "cause", true),
    ] {
        if !s[c.at..].starts_with(key.as_bytes()) || s.get(c.at + key.len()) != Some(&b'=') {
            continue;
        }
        let r = if quoted {
            c.quoted(key.as_bytes())?
        } else {
            c.bare(key.as_bytes())?
        };
        c.space()?;
        match slot {
            0 => pre[0] = Some(r),
            1 => tok[0] = Some(r),
            k => pre[k - 1] = Some(r),
        }
    }
    tok[1] = Some(c.bare(b"method")?);
    c.space()?;
    tok[2] = Some(c.quoted(b"path")?);
    c.space()?;
    tok[3] = Some(c.bare(b"host")?);
    c.space()?;
    tok[4] = Some(c.bare(b"request_id")?);
    c.space()?;
    tok[5] = Some(c.quoted(b"fwd")?);
    c.space()?;
    tok[6] = Some(c.bare(b"dyno")?);
    c.space()?;
    tok[7] = Some(c.digits(b"connect", true)?);
    c.space()?;
    tok[8] = Some(c.digits(b"service", true)?);
    c.space()?;
    tok[9] = Some(c.digits(b"status", false)?);
    c.space()?;
    tok[10] = Some(c.digits(b"bytes", false)?);
    if c.at == s.len() {
        return Some((tok, pre));
    }
    c.space()?;
    tok[11] = Some(c.bare(b"protocol")?);
    (c.at == s.len()).then_some((tok, pre))
}

/// Columns `canonical, fast, odd, at, method, host, request_id, fwd, dyno, protocol, query,
/// sock, code, desc, cause, path, connect_ms, service_ms, status, bytes` for each message
/// (nulls where neither canonical nor fast).
pub fn router_canonical(msg: &StringViewArray) -> StructArray {
    let n = msg.len();
    let mut canonical = Vec::with_capacity(n);
    let mut fast = Vec::with_capacity(n);
    let mut odd = Vec::with_capacity(n);
    let mut text: Vec<SubViews> = (0..TEXT.len())
        .map(|_| SubViews::with_capacity(n))
        .collect();
    let mut prefix: Vec<SubViews> = (0..PREFIX.len())
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
        let parsed = if msg.is_null(i) {
            None
        } else if let Some(tok) = tokens(s) {
            Some((tok, [None; 4], true))
        } else {
            fast_form(s).map(|(tok, pre)| (tok, pre, false))
        };
        let Some((tok, pre, is_canonical)) = parsed else {
            canonical.push(false);
            fast.push(false);
            odd.push(false);
            text.iter_mut().for_each(SubViews::push_null);
            prefix.iter_mut().for_each(SubViews::push_null);
            path.push_null();
            ints.iter_mut().for_each(|c| c.push(None));
            continue;
        };
        canonical.push(is_canonical);
        fast.push(!is_canonical);
        let v = views[i];
        for (col, r) in prefix.iter_mut().zip(pre) {
            match r {
                Some((a, b)) if b > a => col.push(v, s, a, b),
                _ => col.push_null(),
            }
        }
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
        // a fast line's numbers are digits already: only 19+ digits or an Int32 overflow are
        // odd there (the caller hands such a batch to the Polars parser, as for a canonical one)
        odd.push(row_odd);
    }
    let mut fields = vec![
        Field::new("canonical", DataType::Boolean, false),
        Field::new("fast", DataType::Boolean, false),
        Field::new("odd", DataType::Boolean, false),
    ];
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(BooleanArray::from(canonical)),
        Arc::new(BooleanArray::from(fast)),
        Arc::new(BooleanArray::from(odd)),
    ];
    for (name, col) in TEXT.iter().zip(text).chain(PREFIX.iter().zip(prefix)) {
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
    fn error_lines_in_the_fast_form() {
        let err = "sock=client at=warning code=H27 desc=\"Client Request Interrupted\" \
            method=GET path=\"/u\" host=h request_id=r fwd=\"f\" dyno=web.1 connect= \
            service=32ms status=499 bytes= protocol=https";
        let out = router_canonical(&StringViewArray::from(vec![err]));
        assert!(!col(&out, "canonical").as_boolean().value(0));
        assert!(col(&out, "fast").as_boolean().value(0));
        let s = |name| col(&out, name).as_string_view().value(0).to_string();
        assert_eq!(
            (s("sock"), s("at"), s("code")),
            ("client".into(), "warning".into(), "H27".into())
        );
        assert_eq!(s("desc"), "Client Request Interrupted");
        assert!(col(&out, "cause").is_null(0) && col(&out, "connect_ms").is_null(0));
        assert_eq!(
            col(&out, "status").as_primitive::<Int32Type>().value(0),
            499
        );
        let others = vec![
            err.replace("desc=\"Client", "desc=\"Cl\"ient"),
            err.replace("code=H27", "code=H27\t"),
            err.replace("service=32ms", "service=32s"),
            err.replace("request_id=r ", ""),
            err.replace("at=warning code=H27", "code=H27 at=warning"),
            format!("{err} tls_version=1.3"),
            format!("{err} "),
            err.replace("path=\"/u\"", "path=/u"),
        ];
        let out = router_canonical(&StringViewArray::from(others));
        let fast = col(&out, "fast").as_boolean();
        assert!((0..8).all(|i| !fast.value(i)));
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
