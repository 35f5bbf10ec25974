//! Route templates, the default rules of `forensics/routes.py` (`default_route`), for paths
//! of plain ASCII: a whole segment that is a UUID, a number (`123`, `123.json` ->
//! `:id.json`), a 16+ character token with a digit, or a 7+ digit hex hash of one case with a
//! digit becomes `:id`, and any run of 16+ hex digits does too. A path with other characters
//! (where the Polars regexes' Unicode classes could differ) is left to the Polars rules.

use std::sync::Arc;

use arrow_array::builder::StringViewBuilder;
use arrow_array::{Array, ArrayRef, BooleanArray, StringViewArray, StructArray};
use arrow_schema::{DataType, Field, Fields};

const ID: &str = ":id";

/// Columns `handled, route` for each path (route null for a null path or one not handled).
pub fn route_templates(paths: &StringViewArray) -> StructArray {
    let mut handled = Vec::with_capacity(paths.len());
    let mut out = StringViewBuilder::with_capacity(paths.len());
    for i in 0..paths.len() {
        if paths.is_null(i) {
            handled.push(true);
            out.append_null();
            continue;
        }
        match default_route(paths.value(i)) {
            Some(route) => {
                handled.push(true);
                out.append_value(route);
            }
            None => {
                handled.push(false);
                out.append_null();
            }
        }
    }
    let fields = Fields::from(vec![
        Field::new("handled", DataType::Boolean, false),
        Field::new("route", DataType::Utf8View, true),
    ]);
    let columns: Vec<ArrayRef> = vec![
        Arc::new(BooleanArray::from(handled)),
        Arc::new(out.finish()),
    ];
    StructArray::new(fields, columns, None)
}

/// The template of one path, or None when it is not plain printable ASCII.
pub fn default_route(path: &str) -> Option<String> {
    if !path.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return None;
    }
    let mut templated = String::with_capacity(path.len());
    for (k, seg) in path.split('/').enumerate() {
        if k > 0 {
            templated.push('/');
        }
        // The first segment has no slash before it, so the segment rules do not see it; nor
        // do they see an empty segment.
        if k == 0 || seg.is_empty() {
            templated.push_str(seg);
        } else {
            segment(seg, &mut templated);
        }
    }
    Some(hex_runs(&templated))
}

fn segment(seg: &str, out: &mut String) {
    let b = seg.as_bytes();
    if is_uuid(b) {
        out.push_str(ID);
    } else if let Some(ext) = number_ext(b) {
        out.push_str(ID);
        out.push_str(ext);
    } else if b.len() >= 16
        && b.iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
    {
        out.push_str(if b.iter().any(u8::is_ascii_digit) {
            ID
        } else {
            seg
        });
    } else if b.len() >= 7 && b.iter().all(u8::is_ascii_hexdigit) {
        let digit = b.iter().any(u8::is_ascii_digit);
        let lower = b.iter().all(|c| !c.is_ascii_uppercase());
        let upper = b.iter().all(|c| !c.is_ascii_lowercase());
        out.push_str(if digit && (lower || upper) { ID } else { seg });
    } else {
        out.push_str(seg);
    }
}

fn is_uuid(b: &[u8]) -> bool {
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// `\d+(\.[A-Za-z0-9]{1,5})?` as the whole segment: Some(the `.ext`, maybe "").
fn number_ext(b: &[u8]) -> Option<&str> {
    let digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    let rest = &b[digits..];
    let ok = rest.is_empty()
        || (rest[0] == b'.'
            && (2..=6).contains(&rest.len())
            && rest[1..].iter().all(u8::is_ascii_alphanumeric));
    // `rest` is ASCII (the path is), so it is valid UTF-8.
    ok.then(|| std::str::from_utf8(rest).unwrap_or(""))
}

/// Every run of 16+ hex digits as `:id`.
fn hex_runs(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        let run = b[i..].iter().take_while(|c| c.is_ascii_hexdigit()).count();
        if run >= 16 {
            out.push_str(ID);
            i += run;
        } else if run > 0 {
            out.push_str(&s[i..i + run]);
            i += run;
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::default_route as r;

    #[test]
    fn segments_that_are_ids() {
        assert_eq!(
            r("/users/123/orders/9f86d081").unwrap(),
            "/users/:id/orders/:id"
        );
        assert_eq!(r("/items/123.json").unwrap(), "/items/:id.json");
        assert_eq!(
            r("/u/123e4567-e89b-12d3-a456-426614174000/x").unwrap(),
            "/u/:id/x"
        );
        assert_eq!(r("/t/AbCdEfGh12345678_-").unwrap(), "/t/:id");
        assert_eq!(
            r("/assets/app-0123456789abcdef0123.css").unwrap(),
            "/assets/app-:id.css"
        );
    }

    #[test]
    fn segments_that_stay() {
        assert_eq!(r("/about/deadbeef").unwrap(), "/about/deadbeef"); // no digit
        assert_eq!(r("/h/9F86d081").unwrap(), "/h/9F86d081"); // mixed case
        assert_eq!(r("/x/123.toolong").unwrap(), "/x/123.toolong");
        assert_eq!(r("123/456").unwrap(), "123/:id"); // no slash before the first
        assert_eq!(r("").unwrap(), "");
        assert_eq!(r("/a//b/").unwrap(), "/a//b/");
        assert_eq!(r("/caf\u{e9}/1"), None);
    }
}
