//! The form signature rule shared by every signed form Kapı takes or sends.
//!
//! Every field except `signature`, including empty ones, sorted by name in byte order, as
//! `name=value` lines joined with `\n`; `signature = hex(HMAC-SHA256(secret, that string))`.
//! Values with CR or LF are refused so that no field can forge another line.

use secrecy::{ExposeSecret, SecretString};

pub const SIGNATURE_FIELD: &str = "signature";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CanonicalError {
    #[error("field `{0}` appears more than once")]
    Duplicate(String),
    #[error("field `{0}` contains a line break")]
    LineBreak(String),
    #[error("field name `{0}` is not allowed")]
    BadName(String),
}

/// Builds the string to sign. `fields` may include `signature`; it is left out.
pub fn canonical_string(fields: &[(String, String)]) -> Result<String, CanonicalError> {
    let mut sorted: Vec<(&str, &str)> = Vec::with_capacity(fields.len());
    for (name, value) in fields {
        if name == SIGNATURE_FIELD {
            continue;
        }
        if name.is_empty() || name.contains(['=', '\r', '\n']) {
            return Err(CanonicalError::BadName(name.clone()));
        }
        if value.contains(['\r', '\n']) {
            return Err(CanonicalError::LineBreak(name.clone()));
        }
        sorted.push((name, value));
    }
    sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    if let Some((first, _)) = sorted
        .iter()
        .zip(sorted.iter().skip(1))
        .find(|(a, b)| a.0 == b.0)
    {
        return Err(CanonicalError::Duplicate(first.0.to_owned()));
    }
    Ok(sorted
        .iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join("\n"))
}

pub fn sign(fields: &[(String, String)], secret: &SecretString) -> Result<String, CanonicalError> {
    let canonical = canonical_string(fields)?;
    Ok(super::hmac_hex(
        secret.expose_secret().as_bytes(),
        canonical.as_bytes(),
    ))
}

/// Constant-time verification of `provided` against the fields' signature.
pub fn verify(
    fields: &[(String, String)],
    secret: &SecretString,
    provided: &str,
) -> Result<bool, CanonicalError> {
    let canonical = canonical_string(fields)?;
    Ok(super::verify_hmac_hex(
        secret.expose_secret().as_bytes(),
        canonical.as_bytes(),
        provided,
    ))
}

/// Signs `fields` and appends the `signature` field.
pub fn signed(
    mut fields: Vec<(String, String)>,
    secret: &SecretString,
) -> Result<Vec<(String, String)>, CanonicalError> {
    let signature = sign(&fields, secret)?;
    fields.push((SIGNATURE_FIELD.to_owned(), signature));
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[derive(serde::Deserialize)]
    struct Vector {
        name: String,
        secret_key: String,
        fields: Vec<(String, String)>,
        canonical: String,
        signature: String,
    }

    /// The vectors published in docs/PROTOCOL.md must hold for this implementation.
    #[test]
    fn documented_vectors() {
        let json = include_str!("../../docs/signature-vectors.json");
        let vectors: Vec<Vector> = serde_json::from_str(json).unwrap();
        let protocol = include_str!("../../docs/PROTOCOL.md");
        assert!(vectors.len() >= 3);
        for v in vectors {
            let key = SecretString::from(v.secret_key.clone());
            assert_eq!(
                canonical_string(&v.fields).unwrap(),
                v.canonical,
                "{}",
                v.name
            );
            assert_eq!(sign(&v.fields, &key).unwrap(), v.signature, "{}", v.name);
            assert!(verify(&v.fields, &key, &v.signature).unwrap());
            assert!(
                protocol.contains(&v.signature),
                "PROTOCOL.md lacks vector {}",
                v.name
            );
        }
    }

    #[test]
    fn sorts_by_bytes_keeps_empty_values_and_skips_signature() {
        let f = pairs(&[
            ("b", "2"),
            ("B", "1"),
            ("a_b", ""),
            ("ab", "x"),
            ("signature", "zz"),
        ]);
        assert_eq!(canonical_string(&f).unwrap(), "B=1\na_b=\nab=x\nb=2");
    }

    #[test]
    fn refuses_line_breaks_and_duplicates() {
        assert_eq!(
            canonical_string(&pairs(&[("a", "x\ny")])),
            Err(CanonicalError::LineBreak("a".into()))
        );
        assert_eq!(
            canonical_string(&pairs(&[("a", "x\r")])),
            Err(CanonicalError::LineBreak("a".into()))
        );
        assert_eq!(
            canonical_string(&pairs(&[("a", "1"), ("a", "2")])),
            Err(CanonicalError::Duplicate("a".into()))
        );
    }

    #[test]
    fn tampering_breaks_the_signature() {
        let key = SecretString::from("k".to_owned());
        let f = pairs(&[("amount", "150.00"), ("order_id", "A1")]);
        let sig = sign(&f, &key).unwrap();
        assert!(verify(&f, &key, &sig).unwrap());
        let tampered = pairs(&[("amount", "1.50"), ("order_id", "A1")]);
        assert!(!verify(&tampered, &key, &sig).unwrap());
        assert!(!verify(&f, &key, "not-hex").unwrap());
        assert!(!verify(&f, &SecretString::from("other".to_owned()), &sig).unwrap());
    }

    proptest::proptest! {
        #[test]
        fn sign_verify_round_trip(
            fields in proptest::collection::btree_map("[a-z_]{1,8}", "[^\r\n]{0,20}", 0..8),
            key in "[ -~]{1,32}",
        ) {
            let fields: Vec<(String, String)> = fields.into_iter().collect();
            let key = SecretString::from(key);
            let sig = sign(&fields, &key).unwrap();
            proptest::prop_assert!(verify(&fields, &key, &sig).unwrap());
        }

        #[test]
        fn canonical_never_panics(fields in proptest::collection::vec(("\\PC{0,8}", "\\PC{0,8}"), 0..6)) {
            let _ = canonical_string(&fields);
        }
    }
}
