//! What Kapı counts and times, through the `metrics` facade: the names and labels of every
//! series in one place. Startup installs the Prometheus exporter when `server.metrics_listen`
//! is set; without it these calls cost next to nothing. DEPLOYMENT.md lists the series.
//!
//! Labels never carry card data, order ids or anything a shopper typed: only merchant ids,
//! currencies, statuses, routes and outcome classes.

use std::{sync::Arc, time::Instant};

use async_trait::async_trait;

use crate::{
    acquirer::{
        Acquirer, AcquirerError, AfterSaleRequest, AuthRequest, AuthResponse, Inquiry,
        InquiryRequest,
    },
    threeds::{AReq, ARes, DirectoryServer, ThreeDsError},
};

pub const HTTP_REQUESTS: &str = "kapi_http_requests_total";
pub const HTTP_DURATION: &str = "kapi_http_request_duration_seconds";
pub const PAYMENTS_STARTED: &str = "kapi_payments_started_total";
pub const PAYMENTS_FINISHED: &str = "kapi_payments_finished_total";
pub const THREEDS_OUTCOMES: &str = "kapi_threeds_outcomes_total";
pub const ACS_DURATION: &str = "kapi_acs_request_duration_seconds";
pub const BANK_OUTCOMES: &str = "kapi_bank_operations_total";
pub const BANK_DURATION: &str = "kapi_bank_request_duration_seconds";
pub const OUTBOX_BACKLOG: &str = "kapi_outbox_backlog";
pub const OUTBOX_OLDEST_DUE: &str = "kapi_outbox_oldest_due_age_seconds";
pub const DELIVERIES: &str = "kapi_event_deliveries_total";
pub const SWEEPS: &str = "kapi_sweeper_runs_total";
pub const RECOVERIES: &str = "kapi_recoveries_total";
pub const PAYMENTS_IN_BETWEEN: &str = "kapi_payments_in_between";
pub const DB_CONNECTIONS: &str = "kapi_db_pool_connections";
pub const DB_MAX_CONNECTIONS: &str = "kapi_db_pool_max_connections";
pub const STORE_BATCH: &str = "kapi_db_group_commit_units";

/// Describes every series once (their `# HELP` lines).
pub fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests answered, by method, route and status"
    );
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "Time to answer an HTTP request, by method and route"
    );
    describe_counter!(
        PAYMENTS_STARTED,
        "Payments created, by merchant and currency"
    );
    describe_counter!(
        PAYMENTS_FINISHED,
        "Payments that reached a final status, by merchant, currency and status"
    );
    describe_counter!(
        THREEDS_OUTCOMES,
        "3-D Secure outcomes: the ARes (message=ares) and the challenge result (message=rreq), by transStatus; error when the ACS did not answer"
    );
    describe_histogram!(
        ACS_DURATION,
        Unit::Seconds,
        "Time the directory server or ACS took to answer an AReq"
    );
    describe_counter!(
        BANK_OUTCOMES,
        "Bank operations by operation and outcome (approved, declined, unreachable, invalid)"
    );
    describe_histogram!(
        BANK_DURATION,
        Unit::Seconds,
        "Time the bank took to answer, by operation"
    );
    describe_gauge!(
        OUTBOX_BACKLOG,
        "Events waiting for delivery (pending), at the last scrape"
    );
    describe_gauge!(
        OUTBOX_OLDEST_DUE,
        Unit::Seconds,
        "How long the oldest due event has been due"
    );
    describe_counter!(
        DELIVERIES,
        "Event delivery attempts by outcome (delivered, failed)"
    );
    describe_counter!(SWEEPS, "Runs of the sweeper (expiry, recovery, reversals)");
    describe_counter!(
        RECOVERIES,
        "Work the sweeper settled, by kind (expired, interrupted, reversal, refund)"
    );
    describe_gauge!(
        PAYMENTS_IN_BETWEEN,
        "Payments between card submit and a final status (age=any), and those there longer than recovery takes (age=overdue)"
    );
    describe_gauge!(
        DB_CONNECTIONS,
        "Database pool connections by state (in_use, idle)"
    );
    describe_gauge!(DB_MAX_CONNECTIONS, "Database pool size limit");
    describe_histogram!(
        STORE_BATCH,
        "Units of work per SQLite group commit (one transaction, one fsync)"
    );
    // Series an alert watches exist from the start, at zero, so that a rate over them is
    // defined before the first failure.
    for kind in ["expired", "interrupted", "reversal", "refund"] {
        metrics::counter!(RECOVERIES, "kind" => kind).absolute(0);
    }
    for outcome in ["delivered", "failed"] {
        metrics::counter!(DELIVERIES, "outcome" => outcome).absolute(0);
    }
    metrics::counter!(SWEEPS).absolute(0);
}

pub fn http_request(method: &str, route: &str, status: u16, started: Instant) {
    let labels = [
        ("method", method.to_owned()),
        ("route", route.to_owned()),
        ("status", status.to_string()),
    ];
    metrics::counter!(HTTP_REQUESTS, &labels).increment(1);
    metrics::histogram!(HTTP_DURATION, "method" => method.to_owned(), "route" => route.to_owned())
        .record(started.elapsed().as_secs_f64());
}

pub fn payment_started(merchant: &str, currency: &str) {
    metrics::counter!(PAYMENTS_STARTED, "merchant" => merchant.to_owned(), "currency" => currency.to_owned())
        .increment(1);
}

pub fn payment_finished(merchant: &str, currency: &str, status: &str) {
    metrics::counter!(
        PAYMENTS_FINISHED,
        "merchant" => merchant.to_owned(),
        "currency" => currency.to_owned(),
        "status" => status.to_owned()
    )
    .increment(1);
}

/// A 3-D Secure outcome: `message` is `ares` or `rreq`. A status outside EMV's letters (an
/// ACS's mistake) counts as `other`, so that no one can grow the series.
pub fn threeds_outcome(message: &'static str, trans_status: &str) {
    let status = match trans_status {
        "Y" | "N" | "U" | "A" | "C" | "R" | "D" | "I" | "error" => trans_status.to_owned(),
        _ => "other".to_owned(),
    };
    metrics::counter!(THREEDS_OUTCOMES, "message" => message, "trans_status" => status)
        .increment(1);
}

pub fn delivery(delivered: bool) {
    let outcome = if delivered { "delivered" } else { "failed" };
    metrics::counter!(DELIVERIES, "outcome" => outcome).increment(1);
}

pub fn sweep_run() {
    metrics::counter!(SWEEPS).increment(1);
}

pub fn recovered(kind: &'static str, n: usize) {
    if n > 0 {
        metrics::counter!(RECOVERIES, "kind" => kind).increment(n as u64);
    }
}

/// The outbox at the last look: events pending, and how long the oldest due one has waited.
pub fn outbox(backlog: i64, oldest_due_age_ms: i64) {
    metrics::gauge!(OUTBOX_BACKLOG).set(backlog as f64);
    metrics::gauge!(OUTBOX_OLDEST_DUE).set(oldest_due_age_ms.max(0) as f64 / 1000.0);
}

/// Payments in between: all of them, and those in between for longer than recovery takes
/// (`age="overdue"`: something is wrong).
pub fn payments_in_between(all: i64, overdue: i64) {
    metrics::gauge!(PAYMENTS_IN_BETWEEN, "age" => "any").set(all as f64);
    metrics::gauge!(PAYMENTS_IN_BETWEEN, "age" => "overdue").set(overdue as f64);
}

pub fn pool(in_use: u32, idle: u32, max: u32) {
    metrics::gauge!(DB_CONNECTIONS, "state" => "in_use").set(f64::from(in_use));
    metrics::gauge!(DB_CONNECTIONS, "state" => "idle").set(f64::from(idle));
    metrics::gauge!(DB_MAX_CONNECTIONS).set(f64::from(max));
}

/// Any acquirer, timed and counted per operation and outcome.
pub struct MeteredAcquirer(pub Arc<dyn Acquirer>);

fn bank<T>(
    operation: &'static str,
    started: Instant,
    result: &Result<T, AcquirerError>,
    approved: impl Fn(&T) -> bool,
) {
    let outcome = match result {
        Ok(answer) if approved(answer) => "approved",
        Ok(_) => "declined",
        Err(AcquirerError::Unreachable(_)) => "unreachable",
        Err(AcquirerError::Invalid(_)) => "invalid",
        Err(AcquirerError::NotSent(_)) => "not_sent",
    };
    metrics::histogram!(BANK_DURATION, "operation" => operation)
        .record(started.elapsed().as_secs_f64());
    metrics::counter!(BANK_OUTCOMES, "operation" => operation, "outcome" => outcome).increment(1);
}

fn answered(r: &AuthResponse) -> bool {
    r.proc_return_code == "00"
}

#[async_trait]
impl Acquirer for MeteredAcquirer {
    fn terminal_id(&self) -> &str {
        self.0.terminal_id()
    }

    async fn authorise(&self, req: &AuthRequest) -> Result<AuthResponse, AcquirerError> {
        let started = Instant::now();
        let result = self.0.authorise(req).await;
        bank("authorise", started, &result, answered);
        result
    }

    async fn void(&self, req: &AfterSaleRequest) -> Result<AuthResponse, AcquirerError> {
        let started = Instant::now();
        let result = self.0.void(req).await;
        bank("void", started, &result, answered);
        result
    }

    async fn reverse(&self, req: &AfterSaleRequest) -> Result<AuthResponse, AcquirerError> {
        let started = Instant::now();
        let result = self.0.reverse(req).await;
        bank("reverse", started, &result, answered);
        result
    }

    async fn inquire(&self, req: &InquiryRequest) -> Result<Inquiry, AcquirerError> {
        let started = Instant::now();
        let result = self.0.inquire(req).await;
        bank("inquire", started, &result, |_| true);
        result
    }

    async fn refund(&self, req: &AfterSaleRequest) -> Result<AuthResponse, AcquirerError> {
        let started = Instant::now();
        let result = self.0.refund(req).await;
        bank("refund", started, &result, answered);
        result
    }

    async fn capture(&self, req: &AfterSaleRequest) -> Result<AuthResponse, AcquirerError> {
        let started = Instant::now();
        let result = self.0.capture(req).await;
        bank("capture", started, &result, answered);
        result
    }
}

/// Any directory server, timed, with the ARes outcome counted.
pub struct MeteredDirectory(pub Arc<dyn DirectoryServer>);

#[async_trait]
impl DirectoryServer for MeteredDirectory {
    async fn authenticate(&self, areq: &AReq) -> Result<ARes, ThreeDsError> {
        let started = Instant::now();
        let result = self.0.authenticate(areq).await;
        metrics::histogram!(ACS_DURATION).record(started.elapsed().as_secs_f64());
        match &result {
            Ok(ares) => threeds_outcome("ares", &ares.trans_status),
            Err(_) => threeds_outcome("ares", "error"),
        }
        result
    }
}
