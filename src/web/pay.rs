//! `POST /pay`: the merchant's auto-submitted signed form.

use axum::{
    extract::State,
    response::{IntoResponse, Redirect, Response},
};
use tower_sessions::Session;

use super::{
    extract::{Client, Preferred, RawForm},
    session,
};
use crate::{checkout::start, domain::Locale, error::PageError, state::AppState};

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
        limits.pay_start,
        limits.window_secs,
        locale,
    )
    .await?;
    let payment = start::start_payment(&state, fields, preferred).await?;
    // Bound to this browser under a fresh session id (no fixation).
    session::bind_payment(
        &session,
        &payment.id,
        payment.expires_at,
        state.clock.now_ms(),
    )
    .await?;
    let id = &payment.id;
    Ok(Redirect::to(&format!("/checkout/{id}")).into_response())
}
