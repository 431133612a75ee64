//! The simulated SMS gateway: it "sends" a one-time code by keeping it for `GET /sim/sms`
//! (newest first; `?acs_trans_id=ID` for one challenge's messages).

use std::sync::Arc;

use axum::{
    Json, Router,
    extract::{Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use serde::{Deserialize, Serialize};

use super::Records;
use crate::{clock::Clock, domain::ids::random_token, i18n::Tr, simstore::SimStore};

pub(crate) const KIND: &str = "sms";
/// Without a filter, the newest this many.
const NEWEST: i64 = 1000;

/// A message as the outbox shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutboxEntry {
    pub acs_trans_id: String,
    pub phone: String,
    pub code: String,
    pub sent_at: String,
}

#[derive(Clone)]
pub struct Outbox {
    records: Records,
    clock: Arc<dyn Clock>,
}

impl Outbox {
    pub(crate) fn new(store: Arc<dyn SimStore>, clock: Arc<dyn Clock>) -> Self {
        Self {
            records: Records::new(store, KIND),
            clock,
        }
    }

    /// "Sends" the code of a challenge to the (masked) phone.
    pub(crate) async fn send(
        &self,
        acs_trans_id: &str,
        phone_masked: &str,
        code: &str,
    ) -> Result<(), String> {
        let now = self.clock.now_ms();
        let entry = OutboxEntry {
            acs_trans_id: acs_trans_id.to_owned(),
            phone: phone_masked.to_owned(),
            code: code.to_owned(),
            sent_at: crate::clock::rfc3339(now),
        };
        self.records
            .insert(&random_token(12), Some(acs_trans_id), &entry, now)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    pub(crate) fn router(self) -> Router {
        Router::new().route("/", get(outbox)).with_state(self)
    }
}

#[derive(Deserialize)]
struct OutboxQuery {
    acs_trans_id: Option<String>,
    /// At most this many, newest first (1–1000, 1000 by default).
    limit: Option<i64>,
}

/// The outbox as a page, for a person reading the code in a browser.
#[derive(askama::Template)]
#[template(path = "acs/sms.html")]
struct OutboxPage {
    tr: Tr,
    messages: Vec<OutboxEntry>,
}

/// JSON (the outbox's contract for tools), or a page when a browser asks for HTML.
async fn outbox(
    State(outbox): State<Outbox>,
    headers: HeaderMap,
    Query(q): Query<OutboxQuery>,
) -> Response {
    let list = match outbox
        .records
        .list::<OutboxEntry>(
            q.acs_trans_id.as_deref(),
            q.limit.unwrap_or(NEWEST).clamp(1, NEWEST),
        )
        .await
    {
        Ok(list) => list,
        Err(e) => return super::unavailable(e),
    };
    if wants_html(&headers) {
        let page = OutboxPage {
            tr: Tr::new(super::acs::browser(&headers)),
            messages: list,
        };
        return super::html(&page, StatusCode::OK);
    }
    Json(list).into_response()
}

/// Whether the client prefers HTML (a browser) to JSON: `text/html` listed before any JSON.
fn wants_html(headers: &HeaderMap) -> bool {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let html = accept.find("text/html");
    let json = accept.find("application/json");
    match (html, json) {
        (Some(h), Some(j)) => h < j,
        (Some(_), None) => true,
        _ => false,
    }
}
