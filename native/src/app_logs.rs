//! The request id of an app line, as `forensics/parsers/app_logs.py` takes it with
//! `REQUEST_ID_RE`: the leftmost of `request_id="..."` / `request_id=bare`, JSON
//! `"request_id": "..."` (`request_?[iI]d`), or a bracketed UUID `[8-4-4-4-12]`. The three
//! begin with different bytes, so the leftmost match is the first start at which one of them
//! matches; `\s` is Unicode White_Space, as `char::is_whitespace`, so every line is taken.

use arrow_array::{Array, StringViewArray};
use memchr::memchr;

use crate::views::SubViews;

/// The request id of each message (null when it has none).
pub fn request_ids(msg: &StringViewArray) -> StringViewArray {
    let mut out = SubViews::with_capacity(msg.len());
    let views = msg.views();
    for i in 0..msg.len() {
        if msg.is_null(i) {
            out.push_null();
            continue;
        }
        let s = msg.value(i);
        match request_id(s) {
            Some((a, b)) => out.push(views[i], s.as_bytes(), a, b),
            None => out.push_null(),
        }
    }
    out.finish(msg)
}

/// The byte range of the request id in `s`, if any. One pass over the bytes that can start
/// a form: `"`, `[`, and the `q` of `request_id=` (two bytes in: no `"` or `[` can sit
/// between, so the starts are still tried leftmost first).
pub fn request_id(s: &str) -> Option<(usize, usize)> {
    let b = s.as_bytes();
    for i in memchr::memchr3_iter(b'q', b'"', b'[', b) {
        let found = match b[i] {
            b'q' if i >= 2 => logfmt_id(s, i - 2),
            b'q' => None,
            b'"' => json_id(s, i),
            _ => uuid_id(b, i),
        };
        if found.is_some() {
            return found;
        }
    }
    None
}

/// `request_id=(?:"([^"]*)"|([^\s"]+))` at `i`.
fn logfmt_id(s: &str, i: usize) -> Option<(usize, usize)> {
    let b = s.as_bytes();
    let j = i + b"request_id=".len();
    if !b[i..].starts_with(b"request_id=") {
        return None;
    }
    if b.get(j) == Some(&b'"') {
        // the quoted form, or nothing: a bare value cannot start with a quote
        return memchr(b'"', &b[j + 1..]).map(|k| (j + 1, j + 1 + k));
    }
    let end = s[j..]
        .char_indices()
        .find(|&(_, c)| c.is_whitespace() || c == '"')
        .map_or(s.len(), |(k, _)| j + k);
    (end > j).then_some((j, end))
}

/// `"request_?[iI]d"\s*:\s*"([^"]+)"` at `i`.
fn json_id(s: &str, i: usize) -> Option<(usize, usize)> {
    let b = s.as_bytes();
    let mut j = i + b"\"request".len();
    if !b[i..].starts_with(b"\"request") {
        return None;
    }
    if b.get(j) == Some(&b'_') {
        j += 1;
    }
    if !matches!(b.get(j), Some(b'i' | b'I')) || b.get(j + 1..j + 3) != Some(b"d\"") {
        return None;
    }
    j = skip_space(s, j + 3);
    if b.get(j) != Some(&b':') {
        return None;
    }
    j = skip_space(s, j + 1);
    if b.get(j) != Some(&b'"') {
        return None;
    }
    let k = memchr(b'"', &b[j + 1..])?;
    (k > 0).then_some((j + 1, j + 1 + k))
}

fn skip_space(s: &str, j: usize) -> usize {
    s[j..]
        .char_indices()
        .find(|&(_, c)| !c.is_whitespace())
        .map_or(s.len(), |(k, _)| j + k)
}

/// `\[(UUID)\]` at `i`, the UUID `8-4-4-4-12` hex digits of either case.
fn uuid_id(b: &[u8], i: usize) -> Option<(usize, usize)> {
    let u = b.get(i + 1..i + 37)?;
    let ok = u.iter().enumerate().all(|(k, c)| match k {
        8 | 13 | 18 | 23 => *c == b'-',
        _ => c.is_ascii_hexdigit(),
    });
    (ok && b.get(i + 37) == Some(&b']')).then_some((i + 1, i + 37))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> Option<&str> {
        request_id(s).map(|(a, b)| &s[a..b])
    }

    #[test]
    fn every_form() {
        let u = "32853e1c-a9c1-4d9b-910c-5e49389f928E";
        assert_eq!(id(&format!("I, [x #1] INFO -- : [{u}] Rendered")), Some(u));
        assert_eq!(id("at=x request_id=abc-1 y=2"), Some("abc-1"));
        assert_eq!(id("request_id=\"a b\" request_id=c"), Some("a b"));
        assert_eq!(id("request_id=\"\""), Some(""));
        assert_eq!(id("{\"requestId\" :\t\"r1\"}"), Some("r1"));
        assert_eq!(id("{\"request_Id\":\"r2\"}"), Some("r2"));
        assert_eq!(id("{\"request_id\":\"\"} request_id=z"), Some("z"));
        assert_eq!(id("request_id=\u{a0}x"), None); // U+00A0 is White_Space
        assert_eq!(id("request_id=é\u{2003}x"), Some("é"));
        assert_eq!(id("request_id=\"open request_id=q"), Some("q"));
        assert_eq!(id("[32853e1c-a9c1-4d9b-910c-5e49389f928] x"), None);
        assert_eq!(id("request_id= x"), None);
        assert_eq!(id("no id here"), None);
    }
}
