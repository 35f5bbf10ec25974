//! The envelope of Papertrail archive rows, as `forensics/readers/papertrail.py` (`_tsv`) reads
//! them: ten tab-separated columns, `id generated_at received_at source_id source_name source_ip
//! facility_name severity_name program message`, the message being the rest of the line, e.g.
//!
//! `50342052\t2011-02-10 00:19:36 -0800\t...\twarm-cliffs-8392\t...\theroku/router\tat=info ...`
//! -> ts 2011-02-10 08:19:36 UTC, source `warm-cliffs-8392`, origin `heroku`, dyno `router`.
//!
//! Taken only: a row with all ten columns whose `generated_at` reads as a plain RFC 3339 time
//! once its first space is a `T` and its next one is gone. Anything else (`handled` false) goes
//! to the Polars reader, which decides it.

use arrow_array::{StringViewArray, StructArray};

use crate::envelope::{Range, envelope_of, parse_timestamp};

const COLUMNS: usize = 10;

/// Columns `handled, ts, source_name, origin, dyno, message` for each archive row of `raw`.
pub fn tsv_envelope(raw: &StringViewArray) -> StructArray {
    envelope_of(
        raw,
        &["source_name", "origin", "dyno", "message"],
        |_, s| {
            let r = parse_row(s)?;
            Some((
                r.ts_us,
                [Some(r.source), Some(r.origin), r.dyno, Some(r.message)],
            ))
        },
    )
}

struct Row {
    ts_us: i64,
    source: Range,
    origin: Range,
    dyno: Option<Range>,
    message: Range,
}

fn parse_row(s: &[u8]) -> Option<Row> {
    let mut col = [(0, 0); COLUMNS];
    let mut start = 0;
    for (k, slot) in col.iter_mut().enumerate() {
        if k == COLUMNS - 1 {
            *slot = (start, s.len()); // the message: the rest, tabs and all
            break;
        }
        let j = memchr::memchr(b'\t', &s[start..])?;
        *slot = (start, start + j);
        start += j + 1;
    }
    let ts_us = generated_at(&s[col[1].0..col[1].1])?;
    let (p0, p1) = col[8];
    let (origin, dyno) = match memchr::memchr(b'/', &s[p0..p1]) {
        Some(j) => ((p0, p0 + j), Some((p0 + j + 1, p1))),
        None => ((p0, p1), None),
    };
    Some(Row {
        ts_us,
        source: col[4],
        origin,
        dyno,
        message: col[9],
    })
}

/// `2011-02-10 00:19:36 -0800` read as `2011-02-10T00:19:36-0800`: the first space made a
/// `T`, the next one dropped.
fn generated_at(t: &[u8]) -> Option<i64> {
    let mut buf = [0u8; 40];
    if t.len() > buf.len() {
        return None; // longer than any time parse_timestamp takes
    }
    let mut len = 0;
    let mut spaces = 0;
    for &b in t {
        match (b, spaces) {
            (b' ', 0) => {
                buf[len] = b'T';
                len += 1;
                spaces = 1;
            }
            (b' ', 1) => spaces = 2,
            _ => {
                buf[len] = b;
                len += 1;
            }
        }
    }
    parse_timestamp(&buf[..len])
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use arrow_array::types::TimestampMicrosecondType;

    #[test]
    fn archive_rows() {
        let raw = StringViewArray::from(vec![
            "1\t2011-02-10 00:19:36 -0800\t2011-02-10 00:19:36 -0800\t4\twarm-cliffs\t1.2.3.4\t\
             Local3\tInfo\theroku/router\tat=info\tmethod=GET",
            "2\t2011-02-10T08:19:36Z\tx\t4\tapp\tip\tf\ts\tcron\t",
            "3\t2011-02-10 00:19:36 -0800\tx\t4\tapp\tip\tf\ts\tcron",
            "4\t2011-02-10  00:19:36\tx\t4\tapp\tip\tf\ts\tcron\tmsg",
        ]);
        let out = tsv_envelope(&raw);
        let handled = out.column(0).as_boolean();
        assert_eq!(
            (0..4).map(|i| handled.value(i)).collect::<Vec<_>>(),
            [true, true, false, false]
        );
        let ts = out.column(1).as_primitive::<TimestampMicrosecondType>();
        assert_eq!(ts.value(0), ts.value(1));
        assert_eq!(ts.value(0), 1_297_325_976_000_000);
        let text = |c: usize, i: usize| {
            let a = out.column(c).as_string_view();
            (!a.is_null(i)).then(|| a.value(i).to_string())
        };
        assert_eq!(text(2, 0).as_deref(), Some("warm-cliffs"));
        assert_eq!(
            (text(3, 0).as_deref(), text(4, 0).as_deref()),
            (Some("heroku"), Some("router"))
        );
        assert_eq!(text(5, 0).as_deref(), Some("at=info\tmethod=GET"));
        assert_eq!((text(3, 1).as_deref(), text(4, 1)), (Some("cron"), None));
        assert_eq!(text(5, 1).as_deref(), Some(""));
    }
}
