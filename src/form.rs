//! Forms as browsers post them: ordered `(name, value)` pairs, duplicates kept, so that the
//! signature rule can see (and refuse) a field sent twice.

/// The first value of `name`, or `""` when the field is absent.
pub fn value<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    #[error("a percent escape is incomplete or not hexadecimal")]
    BadEscape,
    #[error("the form is not valid UTF-8")]
    NotUtf8,
    #[error("too many fields")]
    TooManyFields,
}

/// Parses `application/x-www-form-urlencoded` strictly: bad escapes and invalid UTF-8 are
/// errors, never silently replaced (a replaced character could still verify wrongly).
pub fn parse(body: &[u8], max_fields: usize) -> Result<Vec<(String, String)>, FormError> {
    let mut fields = Vec::new();
    for pair in body.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
        if fields.len() == max_fields {
            return Err(FormError::TooManyFields);
        }
        let mut parts = pair.splitn(2, |b| *b == b'=');
        let name = parts.next().unwrap_or_default();
        let value = parts.next().unwrap_or_default();
        fields.push((decode(name)?, decode(value)?));
    }
    Ok(fields)
}

fn decode(raw: &[u8]) -> Result<String, FormError> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = raw.get(i + 1..i + 3).ok_or(FormError::BadEscape)?;
                let s = std::str::from_utf8(hex).map_err(|_| FormError::BadEscape)?;
                out.push(u8::from_str_radix(s, 16).map_err(|_| FormError::BadEscape)?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| FormError::NotUtf8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_a_browser_sends() {
        let f = parse(b"a=1&b=x+y&c=%C3%A7%C4%B1&a=2&empty=&flag", 10).unwrap();
        assert_eq!(
            f,
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "x y".into()),
                ("c".into(), "çı".into()),
                ("a".into(), "2".into()),
                ("empty".into(), "".into()),
                ("flag".into(), "".into()),
            ]
        );
    }

    #[test]
    fn refuses_what_it_cannot_read_exactly() {
        assert_eq!(parse(b"a=%zz", 10), Err(FormError::BadEscape));
        assert_eq!(parse(b"a=%4", 10), Err(FormError::BadEscape));
        assert_eq!(parse(b"a=%ff%fe", 10), Err(FormError::NotUtf8));
        assert_eq!(parse(b"a=\\xff", 10).map(|_| ()), Ok(()));
        assert_eq!(parse(&[b'a', b'=', 0xff], 10), Err(FormError::NotUtf8));
        assert_eq!(parse(b"a&b&c", 2), Err(FormError::TooManyFields));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(body in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = parse(&body, 64);
        }

        #[test]
        fn reads_back_what_a_browser_encodes(
            fields in proptest::collection::vec(("\\\\PC{0,12}", "\\\\PC{0,24}"), 0..8)
        ) {
            let encoded = serde_urlencoded::to_string(&fields).unwrap();
            let parsed = parse(encoded.as_bytes(), 64).unwrap();
            proptest::prop_assert_eq!(parsed, fields);
        }
    }
}
