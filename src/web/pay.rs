//! `POST /pay`: the merchant's auto-submitted signed form.

use axum::{
    extract::State,
    response::{IntoResponse, Redirect, Response},
};
use tower_sessions::Session;

use super::{extract::RawForm, session};
use crate::{checkout::start, error::PageError, state::AppState};

pub async fn start(
    State(state): State<AppState>,
    session: Session,
    RawForm(fields): RawForm,
) -> Result<Response, PageError> {
    let id = start::start_payment(&state, fields).await?;
    session::remember_payment(&session, id.as_str()).await?;
    Ok(Redirect::to(&format!("/checkout/{id}")).into_response())
}
