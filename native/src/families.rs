//! Family routing, the `matches()` of each parser in `forensics/parsers/` in the order of
//! `FAMILIES`: the index of the first family that takes an envelope row. Every condition
//! there is a conjunction or disjunction of string tests without a negation, so a null
//! column reading as "no match" gives the same first match as Polars' three-valued logic.

use arrow_array::{Array, Int8Array, StringViewArray};
use memchr::memmem;

/// Indices into `FAMILIES` (`forensics.parsers`).
pub const ROUTER: i8 = 0;
pub const RUNTIME_METRICS: i8 = 1;
pub const ADDON_METRICS: i8 = 2;
pub const EVENTS: i8 = 3;
pub const APP_LOGS: i8 = 4;

const ADDON_DYNOS: [&[u8]; 3] = [b"heroku-postgres", b"heroku-redis", b"heroku-kafka"];

fn get(a: &StringViewArray, i: usize) -> Option<&[u8]> {
    (!a.is_null(i)).then(|| a.value(i).as_bytes())
}

/// The family of each row of `origin, dyno, message`.
pub fn families(
    origin: &StringViewArray,
    dyno: &StringViewArray,
    msg: &StringViewArray,
) -> Int8Array {
    let dyno_heroku = memmem::Finder::new(b" dyno=heroku.");
    let sample_sp = memmem::Finder::new(b" sample#");
    let measure = memmem::Finder::new(b" measure=");
    let sample = memmem::Finder::new(b"sample#");
    (0..msg.len())
        .map(|i| {
            let (o, d, m) = (get(origin, i), get(dyno, i), get(msg, i));
            let heroku = o == Some(b"heroku".as_slice());
            if heroku && d == Some(b"router".as_slice()) {
                return ROUTER;
            }
            let m_starts = |p: &[u8]| m.is_some_and(|m| m.starts_with(p));
            if heroku {
                let new = m_starts(b"source=")
                    && m.is_some_and(|m| dyno_heroku.find(m).is_some())
                    && m.is_some_and(|m| sample_sp.find(m).is_some());
                let old =
                    m_starts(b"source=heroku.") && m.is_some_and(|m| measure.find(m).is_some());
                if new || old {
                    return RUNTIME_METRICS;
                }
            }
            if m.is_some_and(|m| sample.find(m).is_some())
                && (m_starts(b"source=")
                    || m_starts(b"addon=")
                    || m_starts(b"sample#")
                    || d.is_some_and(|d| ADDON_DYNOS.contains(&d)))
            {
                return ADDON_METRICS;
            }
            if heroku
                || d == Some(b"api".as_slice())
                || (d == Some(b"log-shuttle".as_slice()) && m_starts(b"Error L"))
            {
                return EVENTS;
            }
            APP_LOGS
        })
        .collect::<Vec<i8>>()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fam(rows: &[(Option<&str>, Option<&str>, Option<&str>)]) -> Vec<i8> {
        let col = |k: usize| {
            StringViewArray::from(
                rows.iter()
                    .map(|r| [r.0, r.1, r.2][k])
                    .collect::<Vec<Option<&str>>>(),
            )
        };
        families(&col(0), &col(1), &col(2)).values().to_vec()
    }

    #[test]
    fn first_family_that_matches() {
        let mem = "source=web.1 dyno=heroku.1.abc sample#memory_total=1MB";
        let rows = [
            (Some("heroku"), Some("router"), Some("at=info")),
            (Some("heroku"), Some("web.1"), Some(mem)),
            (
                Some("heroku"),
                Some("web.1"),
                Some("source=heroku.1.web.1.x measure=a val=1"),
            ),
            (Some("app"), Some("web.1"), Some(mem)), // not heroku: a custom sample
            (Some("app"), Some("heroku-redis"), Some("x sample#a=1")),
            (Some("app"), Some("web.1"), Some("x sample#a=1")), // not a logfmt head
            (
                Some("heroku"),
                Some("web.1"),
                Some("State changed from up to down"),
            ),
            (
                Some("app"),
                Some("api"),
                Some("Release v1 created by user a"),
            ),
            (Some("app"), Some("log-shuttle"), Some("Error L10 (x)")),
            (Some("app"), Some("log-shuttle"), Some("hello")),
            (Some("app"), Some("web.1"), Some("hello")),
        ];
        assert_eq!(fam(&rows), [0, 1, 1, 2, 2, 4, 3, 3, 3, 4, 4]);
    }

    #[test]
    fn nulls_never_match() {
        let rows = [
            (None, Some("router"), Some("at=info")),
            (Some("heroku"), None, None),
            (None, Some("api"), None),
            (None, None, Some("source=x sample#a=1")),
            (None, None, None),
        ];
        assert_eq!(fam(&rows), [4, 3, 3, 2, 4]);
    }
}
