//! JSON bodies and query strings with the project's own problems: malformed JSON, unknown
//! fields and wrong types are 4xx with a code and the field, never axum's plain text.

use axum::{
    extract::{FromRequest, Request},
    http::header,
};
use serde::de::DeserializeOwned;

use crate::{api::problem::Problem, error::ErrorCode};

const MAX_BODY: usize = 64 * 1024;

/// Parses `bytes` as `T`, naming the offending field on failure.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if !matches!(inner.classify(), serde_json::error::Category::Data) {
            return Problem::from_code(ErrorCode::MalformedJson, inner.to_string());
        }
        let msg = inner.to_string();
        let quoted = msg.split('`').nth(1).map(str::to_owned);
        let join = |name: &str| {
            if path == "." || path.is_empty() {
                name.to_owned()
            } else {
                format!("{path}.{name}")
            }
        };
        if msg.starts_with("unknown field") {
            let name = quoted.unwrap_or_default();
            // For an unknown field the path already ends with its name.
            let field = if path.ends_with(name.as_str()) {
                path.clone()
            } else {
                join(&name)
            };
            Problem::from_code(
                ErrorCode::UnknownJsonField,
                format!("unknown field `{name}`"),
            )
            .with_field(field)
        } else if msg.starts_with("missing field") {
            let name = quoted.unwrap_or_default();
            Problem::from_code(
                ErrorCode::InvalidJsonValue,
                format!("missing field `{name}`"),
            )
            .with_field(join(&name))
        } else {
            let detail = msg.split(" at line").next().unwrap_or(&msg).to_owned();
            Problem::from_code(ErrorCode::InvalidJsonValue, detail).with_field(path)
        }
    })?;
    de.end()
        .map_err(|e| Problem::from_code(ErrorCode::MalformedJson, e.to_string()))?;
    Ok(value)
}

/// A JSON request body (`application/json`, at most 64 KiB).
pub struct ApiJson<T>(pub T);

/// The raw JSON body, for handlers that also fingerprint it (idempotency).
pub struct JsonBody(pub axum::body::Bytes);

async fn read_json(req: Request) -> Result<axum::body::Bytes, Problem> {
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            let v = v.trim().to_ascii_lowercase();
            v.starts_with("application/json") || v.starts_with("application/problem+json")
        });
    let bytes = axum::body::to_bytes(req.into_body(), MAX_BODY)
        .await
        .map_err(|e| {
            if crate::web::extract::too_large(&e) {
                Problem::of(ErrorCode::ApiBodyTooLarge)
            } else {
                Problem::from_code(ErrorCode::MalformedJson, "body unreadable")
            }
        })?;
    if !is_json && !bytes.is_empty() {
        return Err(Problem::of(ErrorCode::UnsupportedMediaType));
    }
    Ok(bytes)
}

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = Problem;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(read_json(req).await?))
    }
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_json(req).await?;
        Ok(Self(parse(&bytes)?))
    }
}

/// Parses a query string into `T` (which should deny unknown fields).
pub fn query<T: DeserializeOwned>(raw: Option<&str>) -> Result<T, Problem> {
    serde_urlencoded::from_str(raw.unwrap_or(""))
        .map_err(|e| Problem::from_code(ErrorCode::InvalidQuery, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::sessions::CreateSessionRequest;

    #[test]
    fn problems_name_the_field() {
        let e = parse::<CreateSessionRequest>(br#"{"order_id": 1}"#)
            .err()
            .unwrap();
        assert_eq!(e.code, "KP-6005");
        assert_eq!(e.field.as_deref(), Some("order_id"));
        let e = parse::<CreateSessionRequest>(b"{").err().unwrap();
        assert_eq!(e.code, "KP-6003");
        let e = parse::<CreateSessionRequest>(br#"{"x": 1}"#).err().unwrap();
        assert_eq!(e.code, "KP-6004");
        assert_eq!(e.field.as_deref(), Some("x"));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bodies_never_panic(body in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let _ = parse::<CreateSessionRequest>(&body);
            let _ = parse::<serde_json::Value>(&body);
        }

        #[test]
        fn arbitrary_json_values_never_panic(s in "\\{(\"[a-z_]{1,12}\": ?(\"[^\"]{0,10}\"|[0-9]{1,5}|null|true|\\[\\]|\\{\\}), ?){0,6}\"order_id\": \"x\"\\}") {
            let _ = parse::<CreateSessionRequest>(s.as_bytes());
        }
    }
}
