//! The `heroku logs` envelope, `TIMESTAMP SOURCE[DYNO]: MESSAGE`, for the lines whose every
//! part is in its plain form. A line it does not take (`handled` false) goes to the Polars
//! reader, which decides it: so this only ever needs to agree with it on the lines it takes.

use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, BooleanArray, StringViewArray, StructArray, TimestampMicrosecondArray,
};
use arrow_buffer::NullBuffer;
use arrow_schema::{DataType, Field, Fields, TimeUnit};

use crate::views::SubViews;

/// Columns `handled, ts, origin, dyno, message` for each line of `raw` (null where not handled).
pub fn cli_envelope(raw: &StringViewArray) -> StructArray {
    envelope_of(raw, &["origin", "dyno", "message"], |_, s| {
        let p = split(s)?;
        Some((
            p.ts_us,
            [Some(p.origin), Some(p.dyno), Some((p.message, s.len()))],
        ))
    })
}

/// A byte range of a line.
pub(crate) type Range = (usize, usize);

/// An envelope function's result: for each non-null line `s` (row `i`) that `parse` takes,
/// its time and the range of each of the `N` named columns in it (a view into `raw`'s
/// buffers, or null); `handled` false and nulls for the others.
pub(crate) fn envelope_of<const N: usize>(
    raw: &StringViewArray,
    names: &[&str; N],
    mut parse: impl FnMut(usize, &[u8]) -> Option<(i64, [Option<Range>; N])>,
) -> StructArray {
    let mut rows = EnvelopeRows::with_capacity(raw.len());
    for i in 0..raw.len() {
        let line = (!raw.is_null(i)).then(|| raw.value(i).as_bytes());
        match line.and_then(|s| Some((s, parse(i, s)?))) {
            Some((s, (ts_us, ranges))) => rows.push(raw.views()[i], s, ts_us, ranges),
            None => rows.push_unhandled(),
        }
    }
    rows.finish(raw, names)
}

/// The rows of `envelope_of`'s result, built line by line: `handled`, `ts` (UTC
/// microseconds, null where not handled), then `N` string columns, each a byte range of the
/// input line (a view into its buffers) or null.
struct EnvelopeRows<const N: usize> {
    handled: Vec<bool>,
    ts: Vec<i64>,
    cols: [SubViews; N],
}

impl<const N: usize> EnvelopeRows<N> {
    pub fn with_capacity(n: usize) -> Self {
        Self {
            handled: Vec::with_capacity(n),
            ts: Vec::with_capacity(n),
            cols: std::array::from_fn(|_| SubViews::with_capacity(n)),
        }
    }

    /// A line taken: its time and the range of each column in `line` (row `view` of the input).
    #[inline]
    pub fn push(
        &mut self,
        view: u128,
        line: &[u8],
        ts_us: i64,
        ranges: [Option<(usize, usize)>; N],
    ) {
        self.handled.push(true);
        self.ts.push(ts_us);
        for (col, range) in self.cols.iter_mut().zip(ranges) {
            match range {
                Some((a, b)) => col.push(view, line, a, b),
                None => col.push_null(),
            }
        }
    }

    /// A line left to the Polars reader: nulls.
    #[inline]
    pub fn push_unhandled(&mut self) {
        self.handled.push(false);
        self.ts.push(0);
        self.cols.iter_mut().for_each(SubViews::push_null);
    }

    /// The struct, its string columns sharing `input`'s buffers.
    pub fn finish(self, input: &StringViewArray, names: &[&str; N]) -> StructArray {
        let nulls = NullBuffer::from(self.handled.clone());
        let ts = TimestampMicrosecondArray::new(self.ts.into(), Some(nulls)).with_timezone("UTC");
        let mut fields = vec![
            Field::new("handled", DataType::Boolean, false),
            Field::new(
                "ts",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
        ];
        let mut columns: Vec<ArrayRef> =
            vec![Arc::new(BooleanArray::from(self.handled)), Arc::new(ts)];
        for (name, col) in names.iter().zip(self.cols) {
            fields.push(Field::new(*name, DataType::Utf8View, true));
            columns.push(Arc::new(col.finish(input)));
        }
        StructArray::new(Fields::from(fields), columns, None)
    }
}

/// Byte ranges of one line's parts, and its time.
struct Parts {
    ts_us: i64,
    origin: (usize, usize),
    dyno: (usize, usize),
    message: usize,
}

fn split(s: &[u8]) -> Option<Parts> {
    let sp1 = memchr::memchr(b' ', s)?;
    let ts_us = parse_timestamp(&s[..sp1])?;
    let src_start = sp1 + 1;
    let (src_end, message) = match memchr::memchr(b' ', &s[src_start..]) {
        Some(k) => (src_start + k, src_start + k + 1),
        None => (s.len(), s.len()),
    };
    let (origin, dyno) = parse_source(s, src_start, src_end)?;
    Some(Parts {
        ts_us,
        origin,
        dyno,
        message,
    })
}

/// `origin[dyno]:` as `^[a-z][a-z0-9_-]*\[[^\]\s]+\]:$`: the ranges of origin and dyno.
fn parse_source(s: &[u8], start: usize, end: usize) -> Option<((usize, usize), (usize, usize))> {
    let src = &s[start..end];
    if src.len() < 5 || !src[0].is_ascii_lowercase() || !src.ends_with(b"]:") {
        return None;
    }
    let bracket = 1 + src[1..]
        .iter()
        .position(|&b| !(b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-'))?;
    if src[bracket] != b'[' {
        return None;
    }
    let inner = &src[bracket + 1..src.len() - 2];
    if inner.is_empty() {
        return None;
    }
    // Byte ranges sit at ASCII boundaries of a valid string, so `inner` is valid UTF-8.
    let text = std::str::from_utf8(inner).ok()?;
    if text.chars().any(|c| c == ']' || c.is_whitespace()) {
        return None;
    }
    Some(((start, start + bracket), (start + bracket + 1, end - 2)))
}

/// RFC 3339 time in its plain forms (`YYYY-MM-DDTHH:MM:SS`, 0-9 fraction digits, `Z` or an
/// offset `+HH:MM`/`+HHMM`) as UTC microseconds; None for anything else.
pub fn parse_timestamp(t: &[u8]) -> Option<i64> {
    if t.len() < 19 {
        return None;
    }
    let d = |i: usize| -> Option<i64> {
        let b = t[i];
        b.is_ascii_digit().then(|| (b - b'0') as i64)
    };
    let two = |i: usize| -> Option<i64> { Some(d(i)? * 10 + d(i + 1)?) };
    if t[4] != b'-' || t[7] != b'-' || t[10] != b'T' || t[13] != b':' || t[16] != b':' {
        return None;
    }
    let year = two(0)? * 100 + two(2)?;
    let (month, day) = (two(5)?, two(8)?);
    let (hour, minute, second) = (two(11)?, two(14)?, two(17)?);
    if !(1900..=2199).contains(&year) || !(1..=12).contains(&month) {
        return None;
    }
    if day < 1 || day > days_in_month(year, month) || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let secs = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
    let (frac_us, offset_min) = parse_tail(&t[19..])?;
    Some(secs * 1_000_000 + frac_us - offset_min * 60_000_000)
}

/// (fraction in microseconds, offset in minutes east of UTC) of what follows the seconds.
fn parse_tail(tail: &[u8]) -> Option<(i64, i64)> {
    let mut frac = 0i64;
    let mut i = 0;
    if tail.first() == Some(&b'.') {
        let digits = tail[1..].iter().take_while(|b| b.is_ascii_digit()).count();
        if !(1..=9).contains(&digits) {
            return None;
        }
        for k in 0..6 {
            let b = tail
                .get(1 + k)
                .filter(|_| k < digits)
                .copied()
                .unwrap_or(b'0');
            frac = frac * 10 + (b - b'0') as i64;
        }
        i = 1 + digits;
    }
    let zone = &tail[i..];
    let offset = match zone {
        b"Z" => 0,
        [sign @ (b'+' | b'-'), h1, h2, rest @ ..] => {
            let mm = match rest {
                [b':', m1, m2] | [m1, m2] => [*m1, *m2],
                _ => return None,
            };
            let all = [*h1, *h2, mm[0], mm[1]];
            if !all.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let v = |a: u8, b: u8| ((a - b'0') * 10 + (b - b'0')) as i64;
            let minutes = v(all[0], all[1]) * 60 + v(all[2], all[3]);
            if *sign == b'-' { -minutes } else { minutes }
        }
        _ => return None,
    };
    Some((frac, offset))
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::TimestampMicrosecondType;

    const T0: i64 = 1_453_047_236_000_000; // 2016-01-17T16:13:56Z

    #[test]
    fn timestamps_in_every_plain_form() {
        assert_eq!(parse_timestamp(b"2016-01-17T16:13:56Z"), Some(T0));
        assert_eq!(
            parse_timestamp(b"2016-01-17T16:13:56.982182+00:00"),
            Some(T0 + 982_182)
        );
        assert_eq!(
            parse_timestamp(b"2016-01-17T16:13:56.9+00:00"),
            Some(T0 + 900_000)
        );
        assert_eq!(
            parse_timestamp(b"2016-01-17T16:13:56.123456789Z"),
            Some(T0 + 123_456)
        );
        assert_eq!(parse_timestamp(b"2016-01-17T18:13:56+0200"), Some(T0));
        assert_eq!(parse_timestamp(b"2016-01-17T14:13:56-02:00"), Some(T0));
        assert_eq!(parse_timestamp(b"1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_timestamp(b"2016-02-29T00:00:00Z"),
            Some(1_456_704_000_000_000)
        );
    }

    #[test]
    fn other_timestamps_are_left_to_the_reference() {
        for t in [
            &b"2015-02-29T00:00:00Z"[..],
            b"2016-01-17T24:00:00Z",
            b"2016-01-17T16:13:60Z",
            b"2016-01-17 16:13:56Z",
            b"2016-01-17T16:13:56",
            b"2016-01-17T16:13:56.Z",
            b"2016-01-17T16:13:56.1234567890Z",
            b"2016-01-17T16:13:56+00:0",
            b"2016-01-17T16:13:56.12a456+00:00",
            b"0012-01-17T16:13:56Z",
        ] {
            assert_eq!(parse_timestamp(t), None, "{}", String::from_utf8_lossy(t));
        }
    }

    #[test]
    fn envelope_columns() {
        let raw = StringViewArray::from(vec![
            "2016-01-17T16:13:56Z heroku[router]: at=info method=GET path=\"/\"",
            "2016-01-17T16:13:56Z app[web.1]:",
            "2016-01-17T16:13:56Z app[web.1]: ",
            "2016-01-17T16:13:56Z App[web.1]: x",
            "2016-01-17T16:13:56Z app[we b]: x",
            "2016-01-17T16:13:56Z app[]: x",
            "not a log line",
        ]);
        let out = cli_envelope(&raw);
        let handled = out.column(0).as_boolean();
        let got: Vec<bool> = (0..raw.len()).map(|i| handled.value(i)).collect();
        assert_eq!(got, [true, true, true, false, false, false, false]);
        let ts = out.column(1).as_primitive::<TimestampMicrosecondType>();
        assert_eq!(ts.value(0), T0);
        let (origin, dyno, msg) = (
            out.column(2).as_string_view(),
            out.column(3).as_string_view(),
            out.column(4).as_string_view(),
        );
        assert_eq!((origin.value(0), dyno.value(0)), ("heroku", "router"));
        assert_eq!(msg.value(0), "at=info method=GET path=\"/\"");
        assert_eq!((msg.value(1), msg.value(2)), ("", ""));
        assert!(msg.is_null(6));
    }
}
