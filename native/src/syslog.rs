//! The RFC 5424 envelope of syslog lines and Logplex drain frames, as `forensics/readers/drain.py`
//! (`rfc5424`) reads it: `[<PRI>1 ]TIMESTAMP HOSTNAME APP-NAME PROCID [MSGID] [SD] MSG`, e.g.
//!
//! `<190>1 2014-07-17T12:59:25.223980+00:00 d.8f7a4b11-c323 app web.2 - - Started GET "/"`
//! -> origin `app`, dyno `web.2`, message `Started GET "/"`.
//!
//! Its layouts (old: `heroku web.3 d.<token>`; bare: `app web.1 - MSG` without HOSTNAME; `host`;
//! a custom HOSTNAME naming the app) are told apart as the Polars code does. Taken only: a line
//! whose timestamp is one token in a plain RFC 3339 form, with HOSTNAME to MSGID present and no
//! `[` in HOSTNAME or APP-NAME. Anything else (`handled` false: a space for `T`, a short header,
//! a reject) goes to the Polars reader, which decides it.

use arrow_array::{Array, Int64Array, StringViewArray, StructArray};

use crate::envelope::{Range, envelope_of, parse_timestamp};

/// Columns `handled, ts, host, origin, dyno, message` for each text of `raw`, read after its
/// first `skip` bytes (a drain frame's count); `host` is HOSTNAME where it names the app.
pub fn rfc5424_envelope(raw: &StringViewArray, skip: Option<&Int64Array>) -> StructArray {
    envelope_of(raw, &["host", "origin", "dyno", "message"], |i, s| {
        let k = match skip {
            None => 0,
            Some(a) if a.is_null(i) => return None,
            Some(a) => usize::try_from(a.value(i)).ok()?,
        };
        if k > s.len() || !s[..k].is_ascii() {
            return None;
        }
        let p = header(s, k)?;
        Some((
            p.ts_us,
            [p.host, Some(p.origin), p.dyno, Some((p.message, s.len()))],
        ))
    })
}

/// Byte ranges (in the whole text) of one header's parts, and its time.
struct Header {
    ts_us: i64,
    host: Option<Range>,
    origin: Range,
    dyno: Option<Range>,
    message: usize,
}

/// The first 7 space-separated tokens of `s[from..]` (as `str.splitn(" ", 9)` gives them).
fn tokens(s: &[u8], from: usize) -> [Option<Range>; 7] {
    let mut out = [None; 7];
    let mut start = from;
    for slot in out.iter_mut() {
        match memchr::memchr(b' ', &s[start..]) {
            Some(j) => {
                *slot = Some((start, start + j));
                start += j + 1;
            }
            None => {
                *slot = Some((start, s.len()));
                break;
            }
        }
    }
    out
}

fn header(s: &[u8], skip: usize) -> Option<Header> {
    let tok = tokens(s, skip);
    let text = |r: Range| &s[r.0..r.1];
    let first = text(tok[0]?);
    let lead = usize::from(first.starts_with(b"<"));
    if lead == 1 && !is_pri_version(first) {
        return None;
    }
    let stamp = text(tok[lead]?);
    if stamp.len() == 10 {
        return None; // a date, then the time as the next token
    }
    let ts_us = parse_timestamp(stamp)?;
    let (r1, r2, r3, r4) = (
        tok[lead + 1]?,
        tok[lead + 2]?,
        tok[lead + 3]?,
        tok[lead + 4]?,
    );
    let r5 = tok[lead + 5];
    let (t1, t2, t3, t4) = (text(r1), text(r2), text(r3), text(r4));
    let t5 = r5.map_or(&b""[..], text);
    if t1.contains(&b'[') || t2.contains(&b'[') {
        return None;
    }
    let source = |t: &[u8]| t == b"app" || t == b"heroku";
    let old = t1 == b"heroku" && t3.starts_with(b"d.");
    let bare = !old && source(t1) && !source(t2);
    let host = !old && !bare && t1 == b"host";
    let custom = !old && !bare && !host && !t1.starts_with(b"d.");
    let no_procid = host && t3 == b"-" && t4 != b"-";
    let fields = if old {
        4
    } else if bare {
        3 + usize::from(is_sd(t4))
    } else if host {
        4 - usize::from(no_procid)
    } else {
        4 + usize::from(is_sd(t5))
    };
    // MSG starts after the token before it (tokens up to it are all present, see above).
    let before = tok[lead + fields]?;
    let message = (before.1 + 1).min(s.len());
    let dyno = if old || bare {
        Some(r2)
    } else if no_procid {
        None
    } else {
        Some(r3)
    };
    Some(Header {
        ts_us,
        host: custom.then_some(r1),
        origin: if bare || old { r1 } else { r2 }, // old: t1 is `heroku`
        dyno: dyno.filter(|r| text(*r) != b"-"),
        message,
    })
}

/// `<PRI>1` with 1-3 ASCII digits.
fn is_pri_version(t: &[u8]) -> bool {
    let digits = t.len().saturating_sub(3);
    (1..=3).contains(&digits)
        && t.ends_with(b">1")
        && t[1..1 + digits].iter().all(u8::is_ascii_digit)
}

/// A STRUCTURED-DATA value: `-` or one `[...]` element without spaces.
fn is_sd(t: &[u8]) -> bool {
    t == b"-" || (t.starts_with(b"[") && t.ends_with(b"]"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;

    fn row(line: &str, skip: i64) -> Option<[Option<String>; 4]> {
        let raw = StringViewArray::from(vec![line]);
        let skip = Int64Array::from(vec![skip]);
        let out = rfc5424_envelope(&raw, Some(&skip));
        if !out.column(0).as_boolean().value(0) {
            return None;
        }
        Some(std::array::from_fn(|c| {
            let col = out.column(2 + c).as_string_view();
            (!col.is_null(0)).then(|| col.value(0).to_string())
        }))
    }

    fn parts(v: [Option<&str>; 4]) -> Option<[Option<String>; 4]> {
        Some(v.map(|x| x.map(String::from)))
    }

    #[test]
    fn every_layout() {
        let t = "2014-07-17T12:59:25.223980+00:00";
        assert_eq!(
            row(&format!("<190>1 {t} d.8f7a app web.2 - - Started GET"), 0),
            parts([None, Some("app"), Some("web.2"), Some("Started GET")])
        );
        assert_eq!(
            row(&format!("83 <40>1 {t} host app web.3 - State up"), 3),
            parts([None, Some("app"), Some("web.3"), Some("State up")])
        );
        assert_eq!(
            row(&format!("<40>1 {t} heroku web.3 d.73ea - Starting"), 0),
            parts([None, Some("heroku"), Some("web.3"), Some("Starting")])
        );
        assert_eq!(
            row(&format!("<45>1 {t} heroku web.1 - - Error R14"), 0),
            parts([None, Some("heroku"), Some("web.1"), Some("Error R14")])
        );
        assert_eq!(
            row(&format!("{t} myapp app web.1 - [x] msg"), 0),
            parts([Some("myapp"), Some("app"), Some("web.1"), Some("msg")])
        );
        assert_eq!(
            row(&format!("{t} host app - msg and more"), 0),
            parts([None, Some("app"), None, Some("msg and more")])
        );
        assert_eq!(
            row(&format!("{t} host app web.1 -"), 0),
            parts([None, Some("app"), Some("web.1"), Some("")])
        );
    }

    #[test]
    fn other_lines_are_left_to_the_reference() {
        let t = "2014-07-17T12:59:25+00:00";
        for line in [
            format!("<1a>1 {t} host app web.1 - msg"),
            format!("<1234>1 {t} host app web.1 - msg"),
            "<40>1 2014-07-17 12:59:25+00:00 host app web.1 - msg".into(),
            format!("<40>1 {t} host app web.1"),
            format!("<40>1 {t} ho[st app web.1 - msg"),
            format!("{t} host app"),
            "not a syslog line".into(),
        ] {
            assert_eq!(row(&line, 0), None, "{line}");
        }
        assert_eq!(row(&format!("é <40>1 {t} host app web.1 - msg"), 3), None);
        assert_eq!(row(&format!("<40>1 {t} host app web.1 - msg"), 99), None);
    }
}
