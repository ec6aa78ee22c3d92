use std::path::PathBuf;

/// Errors of the core layer: configuration and user-supplied times.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("cannot read config {path}: {source}")]
    ConfigRead { path: PathBuf, source: std::io::Error },
    /// The TOML did not parse or had an unknown/ill-typed key; the message names key and line.
    #[error("invalid config {path}: {message}")]
    ConfigParse { path: PathBuf, message: String },
    /// A key parsed but its value makes no sense (bad time zone, duplicate source name, ...).
    #[error("invalid config: `{key}`: {message}")]
    ConfigValue { key: String, message: String },
    #[error(
        "invalid time `{input}`: expected RFC 3339 (2026-11-20T14:00:00Z), a date (2026-11-20), or relative (-15m, -2h, -7d, now)"
    )]
    InvalidTime { input: String },
    #[error("unknown time zone `{0}` (use an IANA name such as Asia/Shanghai or UTC)")]
    InvalidTimezone(String),
}
