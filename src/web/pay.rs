//! `POST /pay`: the merchant's auto-submitted signed form.

use axum::{
    extract::State,
    response::{IntoResponse, Redirect, Response},
};
use tower_sessions::Session;

use super::error::PageError;
use super::{
    extract::{Client, Preferred, RawForm},
    session,
};
use crate::{domain::Locale, state::AppState};

pub async fn start(
    State(state): State<AppState>,
    session: Session,
    Client(client): Client,
    Preferred(preferred): Preferred,
    RawForm(fields): RawForm,
) -> Result<Response, PageError> {
    let locale = match crate::form::value(&fields, "lang") {
        "" => preferred,
        lang => Locale::parse_lenient(lang),
    };
    let limits = &state.settings.limits;
    super::abuse::shopper_hit(
        &state.limiter,
        "pay",
        &client.ip,
        (limits.pay_start, limits.window_secs),
        locale,
    )
    .await?;
    let payment = state.start_payment(fields, preferred).await?;
    // Bound to this browser under a fresh session id (no fixation).
    session::bind_payment(
        &session,
        payment.id.as_str(),
        payment.expires_at,
        state.now_ms(),
    )
    .await?;
    let id = &payment.id;
    Ok(Redirect::to(&format!("/checkout/{id}")).into_response())
}
