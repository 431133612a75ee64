//! The delivery worker: takes due events from the outbox, posts them, records every attempt,
//! and schedules retries. Events are leased, not locked: after a crash, an event whose lease
//! ran out is taken again, so every event is delivered at least once.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::sync::{Notify, Semaphore};

use super::{
    Delivery,
    events::{
        EVENT_ID_HEADER, NESTPAY_CALLBACK, SIGNATURE_HEADER, nestpay_callback_fields,
        retry_delay_ms, signature_header,
    },
};
use crate::{
    merchants,
    storage::{DeliveryOutcome, EventAttempt, EventRecord},
};

const BATCH: i64 = 16;

/// The most of a NestPay callback's answer read: enough for `Approved` and some whitespace.
const ACK_BYTES: usize = 256;

/// Deliveries in flight at once: one slow endpoint must not hold up everyone else's events.
const CONCURRENCY: usize = 32;

/// Delivers due events until the process ends.
pub async fn run(state: Delivery) {
    let wake: Arc<Notify> = state.wake.clone();
    let settings = state.settings.notifications.clone();
    let poll = Duration::from_millis(settings.poll_interval_ms);
    let lease_ms = i64::try_from(settings.lease_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    let slots = Arc::new(Semaphore::new(CONCURRENCY));
    loop {
        let free = slots.available_permits().min(BATCH as usize);
        if free == 0 {
            // Every slot busy: wait for one delivery to finish.
            if let Ok(permit) = slots.clone().acquire_owned().await {
                drop(permit);
            }
            continue;
        }
        let now = state.clock.now_ms();
        let due = match state
            .storage
            .outbox
            .claim_due_events(now, now.saturating_add(lease_ms), free as i64)
            .await
        {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(error = %e, "could not claim events");
                Vec::new()
            }
        };
        if due.is_empty() {
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(poll) => {}
            }
            continue;
        }
        for event in due {
            let Ok(permit) = slots.clone().acquire_owned().await else {
                return;
            };
            let state = state.clone();
            let tasks = state.tasks.clone();
            tasks.spawn(async move {
                deliver(state, event).await;
                drop(permit);
            });
        }
    }
}

async fn deliver(state: Delivery, event: EventRecord) {
    let Some(url) = event.url.clone() else { return };
    let settings = &state.settings.notifications;
    let secrets = match state
        .storage
        .merchants
        .get_merchant(&event.merchant_id)
        .await
    {
        Ok(Some(m)) => {
            merchants::active_secrets(&state.vault, &m, state.clock.now_ms()).unwrap_or_default()
        }
        _ => Vec::new(),
    };
    let started = Instant::now();
    let nestpay = event.kind == NESTPAY_CALLBACK;
    let refusal = if secrets.is_empty() && !nestpay {
        // Unsigned, the merchant would rightly refuse it.
        Some("no signing key available".to_owned())
    } else {
        super::guard::check_url(&url, settings.allow_private_targets).err()
    };
    let (status_code, error) = match refusal {
        // Refused before sending: an attempt like any failed one, retried and in the end dead.
        Some(refusal) => {
            tracing::error!(event_id = %event.id, error = %refusal, "event not sent");
            (None, Some(refusal))
        }
        None if nestpay => post_nestpay(&state, &event, &url).await,
        None => post(&state, &event, &url, &secrets).await,
    };
    let latency_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    let now = state.clock.now_ms();
    let max_age_ms = i64::try_from(settings.max_age_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    let outcome = if error.is_none() {
        DeliveryOutcome::Delivered
    } else {
        let failed = u32::try_from(event.attempts + 1).unwrap_or(u32::MAX);
        let next = now.saturating_add(retry_delay_ms(failed, settings));
        if next.saturating_sub(event.created_at) > max_age_ms {
            DeliveryOutcome::Dead
        } else {
            DeliveryOutcome::RetryAt(next)
        }
    };
    crate::observe::delivery(error.is_none());
    match outcome {
        DeliveryOutcome::Delivered => tracing::info!(event_id = %event.id, "event delivered"),
        DeliveryOutcome::RetryAt(_) => {
            tracing::info!(event_id = %event.id, error = error.as_deref().unwrap_or(""), "event delivery failed; will retry")
        }
        DeliveryOutcome::Dead => {
            tracing::warn!(event_id = %event.id, error = error.as_deref().unwrap_or(""), "event delivery gave up")
        }
    }
    let attempt = EventAttempt {
        event_id: event.id.clone(),
        attempted_at: now,
        status_code,
        latency_ms,
        error,
    };
    if let Err(e) = state
        .storage
        .outbox
        .record_delivery(&attempt, outcome, event.lease_until)
        .await
    {
        tracing::error!(event_id = %event.id, error = %e, "could not record the delivery attempt");
    }
}

/// Posts the signed event once; returns the answer's status code and what went wrong.
async fn post(
    state: &Delivery,
    event: &EventRecord,
    url: &str,
    secrets: &[secrecy::SecretString],
) -> (Option<i64>, Option<String>) {
    let t = state.clock.now_secs();
    let sent = state
        .http
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(reqwest::header::USER_AGENT, "Kapi-Webhooks/1")
        .header(
            SIGNATURE_HEADER,
            signature_header(secrets, t, event.payload.as_bytes()),
        )
        .header(EVENT_ID_HEADER, &event.id)
        .timeout(Duration::from_secs(
            state.settings.notifications.timeout_secs,
        ))
        .body(event.payload.clone())
        .send()
        .await;
    match sent {
        Ok(resp) if resp.status().is_success() => (Some(i64::from(resp.status().as_u16())), None),
        Ok(resp) => (
            Some(i64::from(resp.status().as_u16())),
            Some(format!("HTTP {}", resp.status().as_u16())),
        ),
        Err(e) => (None, Some(crate::outbound::describe(e))),
    }
}

/// Posts a NestPay callback once, as a NestPay bank does: the result's fields as a form. The
/// merchant takes it by answering `Approved`; anything else is retried.
async fn post_nestpay(
    state: &Delivery,
    event: &EventRecord,
    url: &str,
) -> (Option<i64>, Option<String>) {
    let Some(fields) = nestpay_callback_fields(&event.payload) else {
        return (
            None,
            Some("the callback's fields are unreadable".to_owned()),
        );
    };
    let sent = state
        .http
        .post(url)
        .header(reqwest::header::USER_AGENT, "Kapi-NestPay/1")
        .form(&fields)
        .timeout(Duration::from_secs(
            state.settings.notifications.timeout_secs,
        ))
        .send()
        .await;
    let resp = match sent {
        Ok(resp) => resp,
        Err(e) => return (None, Some(crate::outbound::describe(e))),
    };
    let code = resp.status().as_u16();
    if !resp.status().is_success() {
        return (Some(i64::from(code)), Some(format!("HTTP {code}")));
    }
    // The acknowledgement is one word: at most 256 bytes are read, the rest is not it.
    let mut resp = resp;
    let mut body: Vec<u8> = Vec::new();
    while body.len() <= ACK_BYTES {
        match resp.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) => break,
            Err(e) => return (Some(i64::from(code)), Some(crate::outbound::describe(e))),
        }
    }
    let text = String::from_utf8_lossy(body.get(..body.len().min(ACK_BYTES)).unwrap_or_default());
    if text.trim().eq_ignore_ascii_case("Approved") {
        (Some(i64::from(code)), None)
    } else {
        let shown: String = text.trim().chars().take(40).collect();
        (
            Some(i64::from(code)),
            Some(format!("answered `{shown}`, not `Approved`")),
        )
    }
}
