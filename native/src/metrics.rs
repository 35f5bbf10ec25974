//! The usual log-runtime-metrics lines, as `forensics/parsers/runtime_metrics.py` reads them
//! with `MEM_RE` and `LOAD_RE`:
//!
//! `source=web.1 dyno=heroku.1.u sample#memory_total=324.41MB sample#memory_rss=317.93MB
//! sample#memory_cache=6.48MB sample#memory_swap=0.00MB sample#memory_pgpgin=145418pages
//! sample#memory_pgpgout=62370pages[ sample#memory_quota=512.00MB]` and
//! `source=web.1 dyno=heroku.1.u sample#load_avg_1m=0.01 sample#load_avg_5m=0 sample#load_avg_15m=0`.
//!
//! A line it does not take (`handled` false: another order, unit or key set, the 2013 form,
//! a non-ASCII byte, a number not of the form `123` or `1.5`, 19+ digits) goes to the Polars
//! parser, which decides it.

use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, BooleanArray, Float64Array, Int64Array, StringViewArray, StructArray,
};
use arrow_schema::{DataType, Field, Fields};

use crate::views::SubViews;

const MEM: [&str; 4] = ["memory_total", "memory_rss", "memory_cache", "memory_swap"];
const FLOATS: [&str; 8] = [
    "memory_total_mb",
    "memory_rss_mb",
    "memory_cache_mb",
    "memory_swap_mb",
    "memory_quota_mb",
    "load_avg_1m",
    "load_avg_5m",
    "load_avg_15m",
];
const INTS: [&str; 2] = ["memory_pgpgin_pages", "memory_pgpgout_pages"];

#[derive(Default)]
struct Sample {
    source: (usize, usize),
    dyno_id: (usize, usize),
    floats: [Option<f64>; 8],
    ints: [Option<i64>; 2],
}

/// Columns `handled, dyno, dyno_id`, then the float and integer value columns, per message.
pub fn runtime_metrics(msg: &StringViewArray) -> StructArray {
    let n = msg.len();
    let mut handled = Vec::with_capacity(n);
    let (mut dyno, mut dyno_id) = (SubViews::with_capacity(n), SubViews::with_capacity(n));
    let mut floats: Vec<Vec<Option<f64>>> = (0..8).map(|_| Vec::with_capacity(n)).collect();
    let mut ints: Vec<Vec<Option<i64>>> = (0..2).map(|_| Vec::with_capacity(n)).collect();
    let views = msg.views();
    for i in 0..n {
        let s = if msg.is_null(i) {
            None
        } else {
            Some(msg.value(i).as_bytes())
        };
        match s.and_then(sample) {
            Some(x) => {
                let s = s.unwrap_or_default();
                handled.push(true);
                dyno.push(views[i], s, x.source.0, x.source.1);
                dyno_id.push(views[i], s, x.dyno_id.0, x.dyno_id.1);
                floats.iter_mut().zip(x.floats).for_each(|(c, v)| c.push(v));
                ints.iter_mut().zip(x.ints).for_each(|(c, v)| c.push(v));
            }
            None => {
                handled.push(false);
                dyno.push_null();
                dyno_id.push_null();
                floats.iter_mut().for_each(|c| c.push(None));
                ints.iter_mut().for_each(|c| c.push(None));
            }
        }
    }
    let mut fields = vec![
        Field::new("handled", DataType::Boolean, false),
        Field::new("dyno", DataType::Utf8View, true),
        Field::new("dyno_id", DataType::Utf8View, true),
    ];
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(BooleanArray::from(handled)),
        Arc::new(dyno.finish(msg)),
        Arc::new(dyno_id.finish(msg)),
    ];
    for (name, col) in FLOATS.iter().zip(floats) {
        fields.push(Field::new(*name, DataType::Float64, true));
        columns.push(Arc::new(Float64Array::from(col)));
    }
    for (name, col) in INTS.iter().zip(ints) {
        fields.push(Field::new(*name, DataType::Int64, true));
        columns.push(Arc::new(Int64Array::from(col)));
    }
    StructArray::new(Fields::from(fields), columns, None)
}

/// A cursor over one message: literal, `\S+` and number steps, each None on a mismatch.
struct Cursor<'a> {
    s: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn lit(&mut self, p: &[u8]) -> Option<()> {
        self.s[self.at..].starts_with(p).then(|| self.at += p.len())
    }

    /// `(\S+)`: the run up to the next whitespace or the end (ASCII only, checked before).
    fn word(&mut self) -> Option<(usize, usize)> {
        let a = self.at;
        let len = self.s[a..]
            .iter()
            .position(|c| matches!(c, b'\t'..=b'\r' | b' '))
            .unwrap_or(self.s.len() - a);
        self.at += len;
        (len > 0).then_some((a, a + len))
    }

    /// `([0-9.]+)`, taken only as `123` or `1.5`: what any float parser reads alike.
    fn float(&mut self) -> Option<f64> {
        let a = self.at;
        let len = self.s[a..]
            .iter()
            .position(|c| !(c.is_ascii_digit() || *c == b'.'))
            .unwrap_or(self.s.len() - a);
        self.at += len;
        let t = &self.s[a..a + len];
        let dot = t.iter().position(|&c| c == b'.');
        let plain = match dot {
            None => !t.is_empty(),
            Some(d) => d > 0 && d + 1 < t.len() && !t[d + 1..].contains(&b'.'),
        };
        // ASCII digits and one dot: valid UTF-8, and a float both parsers round the same way
        plain
            .then(|| std::str::from_utf8(t).ok()?.parse().ok())
            .flatten()
    }

    /// `(\d+)` as an Int64 (up to 18 digits: never an overflow).
    fn int(&mut self) -> Option<i64> {
        let a = self.at;
        let len = self.s[a..]
            .iter()
            .position(|c| !c.is_ascii_digit())
            .unwrap_or(self.s.len() - a);
        self.at += len;
        (1..=18).contains(&len).then(|| {
            self.s[a..a + len]
                .iter()
                .fold(0i64, |x, c| x * 10 + (c - b'0') as i64)
        })
    }

    fn end(&self) -> bool {
        self.at == self.s.len()
    }
}

/// The usual memory or load line, or None.
fn sample(s: &[u8]) -> Option<Sample> {
    if !s.is_ascii() {
        return None;
    }
    let mut c = Cursor { s, at: 0 };
    let mut x = Sample::default();
    c.lit(b"source=")?;
    x.source = c.word()?;
    c.lit(b" dyno=")?;
    x.dyno_id = c.word()?;
    if c.lit(b" sample#load_avg_1m=").is_some() {
        x.floats[5] = Some(c.float()?);
        c.lit(b" sample#load_avg_5m=")?;
        x.floats[6] = Some(c.float()?);
        c.lit(b" sample#load_avg_15m=")?;
        x.floats[7] = Some(c.float()?);
        return c.end().then_some(x);
    }
    for (k, key) in MEM.iter().enumerate() {
        c.lit(b" sample#")?;
        c.lit(key.as_bytes())?;
        c.lit(b"=")?;
        x.floats[k] = Some(c.float()?);
        c.lit(b"MB")?;
    }
    c.lit(b" sample#memory_pgpgin=")?;
    x.ints[0] = Some(c.int()?);
    c.lit(b"pages sample#memory_pgpgout=")?;
    x.ints[1] = Some(c.int()?);
    c.lit(b"pages")?;
    if c.end() {
        return Some(x);
    }
    c.lit(b" sample#memory_quota=")?;
    x.floats[4] = Some(c.float()?);
    c.lit(b"MB")?;
    c.end().then_some(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float64Type, Int64Type};

    const MEM_LINE: &str = "source=worker.1 dyno=heroku.9.cfb2 sample#memory_total=324.41MB \
        sample#memory_rss=317.93MB sample#memory_cache=6.48MB sample#memory_swap=0.00MB \
        sample#memory_pgpgin=145418pages sample#memory_pgpgout=62370pages";

    #[test]
    fn memory_and_load_lines() {
        let load = "source=web.1 dyno=heroku.9.u sample#load_avg_1m=0.5 sample#load_avg_5m=1 \
            sample#load_avg_15m=0.25";
        let quota = format!("{MEM_LINE} sample#memory_quota=512.00MB");
        let out = runtime_metrics(&StringViewArray::from(vec![MEM_LINE, load, quota.as_str()]));
        let f = |name| {
            out.column_by_name(name)
                .unwrap()
                .as_primitive::<Float64Type>()
        };
        assert!(out.column(0).as_boolean().iter().all(|h| h == Some(true)));
        assert_eq!(out.column(1).as_string_view().value(0), "worker.1");
        assert_eq!(out.column(2).as_string_view().value(1), "heroku.9.u");
        assert_eq!(f("memory_total_mb").value(0), 324.41);
        assert!(f("memory_quota_mb").is_null(0));
        assert_eq!(f("memory_quota_mb").value(2), 512.0);
        assert_eq!(f("load_avg_5m").value(1), 1.0);
        assert!(f("memory_rss_mb").is_null(1));
        let pages = out.column_by_name("memory_pgpgout_pages").unwrap();
        assert_eq!(pages.as_primitive::<Int64Type>().value(0), 62370);
    }

    #[test]
    fn other_lines_are_left_to_the_reference() {
        let lines = vec![
            MEM_LINE.replace("324.41MB", "324.41kB"),
            MEM_LINE.replace("324.41", "3.2.4"),
            MEM_LINE.replace("324.41", ".5"),
            MEM_LINE.replace("145418", "1234567890123456789"),
            MEM_LINE.replace("worker.1", "wörker.1"),
            MEM_LINE.replace(" dyno=", "\tdyno="),
            format!("{MEM_LINE} sample#extra=1"),
            format!("{MEM_LINE} "),
            "source=heroku.1.web.1.u measure=load_avg_1m val=2".into(),
        ];
        let out = runtime_metrics(&StringViewArray::from(lines));
        assert!(out.column(0).as_boolean().iter().all(|h| h == Some(false)));
    }
}
