//! What the operator's tools call: `/healthz` (the process answers), `/readyz` (it can serve
//! payments), and `/metrics` on a listener of its own (`server.metrics_listen`).

use axum::{
    Json, Router,
    extract::{MatchedPath, Request, State},
    http::StatusCode,
    middleware::Next,
    response::{IntoResponse, Response},
    routing::get,
};
use metrics_exporter_prometheus::PrometheusHandle;

use crate::{checkout::Checkout, state::AppState};

/// Alive: answers as long as the process serves requests.
pub async fn healthz() -> Response {
    (
        [(axum::http::header::CACHE_CONTROL, "no-store")],
        Json(serde_json::json!({ "status": "ok" })),
    )
        .into_response()
}

/// Ready for payments: the database answers with every migration applied, keys loaded. 503
/// with the reason otherwise (a balancer stops sending shoppers here).
pub async fn readyz(State(state): State<AppState>) -> Response {
    let readiness = state.readiness().await;
    let status = if readiness.ready {
        StatusCode::OK
    } else {
        tracing::warn!(database = %readiness.database, pending = ?readiness.pending_migrations, "not ready");
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = serde_json::json!({
        "status": if readiness.ready { "ready" } else { "not_ready" },
        "database": readiness.database,
        "pending_migrations": readiness.pending_migrations,
        "current_key_id": readiness.current_key_id,
    });
    (
        status,
        [(axum::http::header::CACHE_CONTROL, "no-store")],
        Json(body),
    )
        .into_response()
}

/// Middleware: counts and times every request by method, route (the pattern, never the
/// concrete path) and status.
pub async fn measure(req: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let method = req.method().as_str().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let resp = next.run(req).await;
    crate::observe::http_request(&method, &route, resp.status().as_u16(), started);
    resp
}

#[derive(Clone)]
struct Scrape {
    checkout: Checkout,
    handle: PrometheusHandle,
}

/// The metrics listener's routes: `GET /metrics` in Prometheus' text format.
pub fn metrics_router(checkout: Checkout, handle: PrometheusHandle) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(Scrape { checkout, handle })
}

async fn metrics(State(s): State<Scrape>) -> Response {
    // The gauges that are a look at the database, taken now.
    match s.checkout.backlog().await {
        Ok(b) => {
            crate::observe::outbox(b.pending_events, b.oldest_due_event_ms);
            crate::observe::payments_in_between(b.in_between, b.overdue);
        }
        Err(e) => tracing::warn!(error = %e, "metrics: backlog not read"),
    }
    let pool = s.checkout.storage.health.pool_usage();
    crate::observe::pool(pool.in_use, pool.idle, pool.max);
    s.handle.run_upkeep();
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.handle.render(),
    )
        .into_response()
}
