//! A bank that misbehaves on cue: Kapı's own bank simulator, served from the test process (so
//! its books outlive a killed Kapı), behind a front that can hold, lose, delay or refuse its
//! answers, as a real acquirer's network sometimes does.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    body::Body,
    extract::{Request, State},
    http::StatusCode,
    middleware::Next,
    response::{IntoResponse, Response},
};
use secrecy::SecretString;
use tower::ServiceExt;

use crate::helpers::BANK_KEY;

/// What the bank does with an authorisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// Answers at once.
    Normal,
    /// Holds the authorisation, unbooked, until `release`; then books and answers it.
    Gate,
    /// Never books it and never answers: the request hangs.
    Lost,
    /// Books it, then never answers.
    BookedAnswerLost,
    /// Waits this long, then books and answers (too late for a short timeout).
    Late(Duration),
    /// Each authorisation at random: mostly `Normal`, else lost, booked with its answer lost,
    /// or late by 1.5 s.
    Random,
}

#[derive(Clone)]
pub struct Bank {
    pub url: String,
    front: Arc<Front>,
}

struct Front {
    auth: Mutex<Auth>,
    /// While true, inquiries and reversals answer 503.
    down: Mutex<bool>,
    gate: tokio::sync::Notify,
    sim: Router,
}

impl Bank {
    /// Serves the bank simulator for terminal `KAPI-SIM-0001` (Kapı's default) with the tests'
    /// key, on a port of its own.
    pub async fn start() -> Self {
        // The bank's books: a database of its own, in this process.
        let books = kapi::storage::Storage::in_memory().await.unwrap();
        let sim = kapi::sim::bank::BankSim::new(
            books.sim,
            std::sync::Arc::new(kapi::clock::SystemClock),
            "KAPI-SIM-0001".into(),
            SecretString::from(BANK_KEY.to_owned()),
        )
        .router();
        let front = Arc::new(Front {
            auth: Mutex::new(Auth::Normal),
            down: Mutex::new(false),
            gate: tokio::sync::Notify::new(),
            sim,
        });
        let router = Router::new()
            .fallback(forward)
            .layer(axum::middleware::from_fn_with_state(
                front.clone(),
                misbehave,
            ))
            .with_state(front.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Self { url, front }
    }

    pub fn set_auth(&self, mode: Auth) {
        *self.front.auth.lock().unwrap() = mode;
    }

    /// Inquiries and reversals fail (503) while `down`.
    pub fn set_down(&self, down: bool) {
        *self.front.down.lock().unwrap() = down;
    }

    /// Lets every held authorisation through.
    pub fn release(&self) {
        self.front.gate.notify_waiters();
    }

    /// What the bank booked, newest first, optionally for one order.
    pub async fn books(&self, order_id: Option<&str>) -> Vec<serde_json::Value> {
        let query = order_id
            .map(|o| format!("?order_id={o}"))
            .unwrap_or_default();
        reqwest::Client::new()
            .get(format!("{}/v1/transactions{query}", self.url))
            .bearer_auth(BANK_KEY)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

async fn forward(State(front): State<Arc<Front>>, req: Request) -> Response {
    front.sim.clone().oneshot(req).await.into_response()
}

async fn misbehave(State(front): State<Arc<Front>>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    if path == "/v1/inquiries" || path == "/v1/reversals" {
        if *front.down.lock().unwrap() {
            return (StatusCode::SERVICE_UNAVAILABLE, "bank down").into_response();
        }
        return next.run(req).await;
    }
    if path != "/v1/authorisations" {
        return next.run(req).await;
    }
    let mode = match *front.auth.lock().unwrap() {
        Auth::Random => match rand::random_range(0..10) {
            0 => Auth::Lost,
            1 => Auth::BookedAnswerLost,
            2 => Auth::Late(Duration::from_millis(1500)),
            _ => Auth::Normal,
        },
        mode => mode,
    };
    // The bank's work is its own: it goes on when the caller hangs up (or is killed).
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    let req = Request::from_parts(parts, Body::from(bytes));
    let sim = front.sim.clone();
    let worker = front.clone();
    let booked = tokio::spawn(async move {
        match mode {
            Auth::Gate => worker.gate.notified().await,
            Auth::Late(d) => tokio::time::sleep(d).await,
            Auth::Lost => std::future::pending::<()>().await,
            Auth::Normal | Auth::BookedAnswerLost | Auth::Random => {}
        }
        sim.oneshot(req).await.into_response()
    });
    let resp = booked.await.unwrap();
    if mode == Auth::BookedAnswerLost {
        std::future::pending::<()>().await;
    }
    resp
}
