//! The benchmark's figures, as text for a person and JSON for BENCHMARKS.md's tables.

use std::{collections::HashMap, time::Duration};

use serde::Serialize;

use super::Options;

/// The floor: the server's cheapest answer under the same client.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Floor {
    pub requests_per_sec: f64,
    pub cpu_us_per_request: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct StepStats {
    pub step: String,
    pub count: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub backend: String,
    pub instances: usize,
    pub shoppers: usize,
    pub seconds: f64,
    pub journeys: usize,
    pub journeys_by_kind: HashMap<String, usize>,
    pub journeys_per_sec: f64,
    pub requests: usize,
    pub requests_per_sec: f64,
    pub errors: HashMap<String, usize>,
    /// Server CPU (user + system, every instance) per journey.
    pub cpu_ms_per_journey: f64,
    pub cpu_us_per_request: f64,
    /// The load generator's own CPU per journey (it shares the machine).
    pub client_cpu_ms_per_journey: f64,
    pub rss_mib: f64,
    /// Every request of every journey.
    pub request: StepStats,
    /// Whole journeys.
    pub journey: StepStats,
    pub steps: Vec<StepStats>,
    pub floor: Option<Floor>,
    /// CPU per request over the floor's: how much dearer a journey's request is than the
    /// cheapest answer, a ratio that holds on a noisy machine.
    pub cpu_per_request_over_floor: Option<f64>,
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (p / 100.0 * (sorted.len() - 1) as f64).round() as usize;
    f64::from(*sorted.get(rank.min(sorted.len() - 1)).unwrap_or(&0)) / 1000.0
}

fn stats(step: &str, mut us: Vec<u32>) -> StepStats {
    us.sort_unstable();
    StepStats {
        step: step.to_owned(),
        count: us.len(),
        p50_ms: percentile(&us, 50.0),
        p95_ms: percentile(&us, 95.0),
        p99_ms: percentile(&us, 99.0),
        max_ms: f64::from(us.last().copied().unwrap_or(0)) / 1000.0,
    }
}

/// The order a journey walks its steps in.
const STEP_ORDER: [&str; 9] = [
    "pay",
    "card_page",
    "card_submit",
    "acs_challenge",
    "sms_outbox",
    "acs_verify",
    "threeds_return",
    "result",
    "",
];

#[allow(clippy::too_many_arguments)]
pub(super) fn build(
    opts: &Options,
    journeys: usize,
    requests: usize,
    by_kind: HashMap<&'static str, usize>,
    errors: HashMap<String, usize>,
    steps: HashMap<&'static str, Vec<u32>>,
    journey_us: Vec<u32>,
    elapsed: Duration,
    cpu_secs: f64,
    client_cpu_secs: f64,
    rss_mib: f64,
    floor: Option<Floor>,
) -> Report {
    let secs = elapsed.as_secs_f64().max(1e-9);
    let all: Vec<u32> = steps.values().flatten().copied().collect();
    let mut step_stats: Vec<StepStats> = steps
        .iter()
        .map(|(name, us)| stats(name, us.clone()))
        .collect();
    step_stats.sort_by_key(|s| {
        STEP_ORDER
            .iter()
            .position(|n| *n == s.step)
            .unwrap_or(STEP_ORDER.len())
    });
    let cpu_us_per_request = if requests == 0 {
        0.0
    } else {
        cpu_secs * 1e6 / requests as f64
    };
    Report {
        backend: if opts.database_url.is_some() {
            "postgresql".into()
        } else {
            "sqlite".into()
        },
        instances: opts.instances,
        shoppers: opts.shoppers,
        seconds: secs,
        journeys,
        journeys_by_kind: by_kind
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
        journeys_per_sec: journeys as f64 / secs,
        requests,
        requests_per_sec: requests as f64 / secs,
        errors,
        cpu_ms_per_journey: if journeys == 0 {
            0.0
        } else {
            cpu_secs * 1000.0 / journeys as f64
        },
        cpu_us_per_request,
        client_cpu_ms_per_journey: if journeys == 0 {
            0.0
        } else {
            client_cpu_secs * 1000.0 / journeys as f64
        },
        rss_mib,
        request: stats("request", all),
        journey: stats("journey", journey_us),
        steps: step_stats,
        cpu_per_request_over_floor: floor
            .filter(|f| f.cpu_us_per_request > 0.0)
            .map(|f| cpu_us_per_request / f.cpu_us_per_request),
        floor,
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "kapi bench: {} shoppers, {} instance(s) on {}, {:.1} s measured",
            self.shoppers, self.instances, self.backend, self.seconds
        )?;
        writeln!(
            f,
            "journeys      {} ({:.1}/s)  {:?}",
            self.journeys, self.journeys_per_sec, self.journeys_by_kind
        )?;
        writeln!(
            f,
            "requests      {} ({:.1}/s)",
            self.requests, self.requests_per_sec
        )?;
        let errors: usize = self.errors.values().sum();
        writeln!(f, "errors        {errors} {:?}", self.errors)?;
        writeln!(
            f,
            "server CPU    {:.2} ms per journey, {:.0} µs per request; RSS {:.0} MiB",
            self.cpu_ms_per_journey, self.cpu_us_per_request, self.rss_mib
        )?;
        writeln!(
            f,
            "load CPU      {:.2} ms per journey (the load generator, on the same machine)",
            self.client_cpu_ms_per_journey
        )?;
        if let Some(floor) = &self.floor {
            writeln!(
                f,
                "floor         GET /healthz: {:.0} requests/s, {:.0} µs CPU per request; a journey's request costs {:.1}× that",
                floor.requests_per_sec,
                floor.cpu_us_per_request,
                self.cpu_per_request_over_floor.unwrap_or(0.0)
            )?;
        }
        writeln!(
            f,
            "{:<16} {:>8} {:>9} {:>9} {:>9} {:>9}",
            "latency (ms)", "count", "p50", "p95", "p99", "max"
        )?;
        for s in std::iter::once(&self.request)
            .chain(std::iter::once(&self.journey))
            .chain(self.steps.iter())
        {
            writeln!(
                f,
                "{:<16} {:>8} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
                s.step, s.count, s.p50_ms, s.p95_ms, s.p99_ms, s.max_ms
            )?;
        }
        Ok(())
    }
}
