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
    state.limiter.shopper_hit(
        &format!("pay:{}", client.ip),
        limits.pay_start,
        limits.window_secs,
        locale,
    )?;
    let id = start::start_payment(&state, fields, preferred).await?;
    // A fresh session id whenever a payment is bound to the browser (no fixation); again at
    // card submit.
    session
        .cycle_id()
        .await
        .map_err(|e| PageError::internal(preferred, e))?;
    session::remember_payment(&session, id.as_str()).await?;
    Ok(Redirect::to(&format!("/checkout/{id}")).into_response())
}
