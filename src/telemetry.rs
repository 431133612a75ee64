//! Logging to stderr (stdout is kept for command output such as `--json`).
//! Card data cannot reach a log line: the types that hold it print themselves masked.
//!
//! `KAPI_LOG` takes `tracing` filter directives (`debug`, `info,kapi=debug`). The chatty
//! libraries (the SQL driver's every query, the session store, HTTP internals) stay at `warn`
//! unless a directive names them. Colours only on a terminal, and never with `NO_COLOR`.

use std::io::IsTerminal;

use tracing_subscriber::{EnvFilter, fmt};

use crate::config::LogFormat;

/// Libraries quiet unless `KAPI_LOG` names them.
const QUIET: &[&str] = &[
    "sqlx",
    "tower_sessions",
    "tower_sessions_core",
    "tower_http",
    "hyper",
    "hyper_util",
    "h2",
    "rustls",
    "reqwest",
];

/// The filter for `KAPI_LOG` (unset: `info`).
pub fn filter_directives(kapi_log: Option<&str>) -> String {
    let asked = kapi_log.map(str::trim).filter(|s| !s.is_empty());
    let mut directives = vec![asked.unwrap_or("info").to_owned()];
    for lib in QUIET {
        let named = asked.is_some_and(|a| {
            a.split(',')
                .any(|d| d.trim().split(['=', '[']).next() == Some(*lib))
        });
        if !named {
            directives.push(format!("{lib}=warn"));
        }
    }
    directives.join(",")
}

/// Logs to stderr as `format` says: readable text (colours only on a terminal, never with
/// `NO_COLOR`), or one JSON object per line with the current request's fields (`request_id`,
/// `method`, `path`, `ip`, `payment_id`, `merchant_id`) beside the event's own.
pub fn init(format: LogFormat) {
    let asked = std::env::var("KAPI_LOG").ok();
    let filter = EnvFilter::try_new(filter_directives(asked.as_deref()))
        .unwrap_or_else(|_| EnvFilter::new(filter_directives(None)));
    let _ = match format {
        LogFormat::Text => {
            let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            fmt()
                .with_env_filter(filter)
                .with_writer(std::io::stderr)
                .with_ansi(colour)
                .with_target(false)
                .try_init()
        }
        LogFormat::Json => fmt()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_target(false)
            .try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chatty_libraries_stay_quiet_unless_named() {
        let d = filter_directives(Some("debug"));
        assert!(d.starts_with("debug,") && d.contains("sqlx=warn"), "{d}");
        let d = filter_directives(Some("info,sqlx=debug"));
        assert!(
            !d.contains("sqlx=warn") && d.contains("tower_http=warn"),
            "{d}"
        );
        assert!(filter_directives(None).starts_with("info,"));
        assert!(filter_directives(Some("  ")).starts_with("info,"));
    }
}
