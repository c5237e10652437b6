//! How the process writes its log: one line per event on stderr, as text for people or as one
//! JSON object per line for a log collector (`log_format`). Set up once, after the settings are
//! read, so that the format may come from any of their sources (the config file included).
//!
//! In JSON, an event's fields are top-level keys beside `timestamp`, `level`, `target` and
//! `message`; the fields of the span it was logged in (a request's `request_id` and
//! `global_request_id`) are under `span`.

use serde::{Deserialize, Serialize};

/// The log filter unless `RUST_LOG` says otherwise. sqlx's own messages from WARN up; the
/// exception is the notices PostgreSQL sends at WARNING: when a SERIALIZABLE commit fails
/// (and the write is run again), sqlx still sends a ROLLBACK, and PostgreSQL's "there is no
/// transaction in progress" for it would read like a fault to an operator.
pub const DEFAULT_FILTER: &str = "info,sqlx=warn,sqlx::postgres::notice=error";

/// The shape of log lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// `2026-01-01T00:00:00.000000Z  INFO span{fields}: message fields`.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Installs the process's logger: `format`, filtered by `RUST_LOG` or [`DEFAULT_FILTER`].
pub fn init(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
}
