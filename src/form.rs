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
