//! Sluice's shared vocabulary: the [`Event`] every stage passes along, the user-facing
//! [`Config`], time-zone aware time parsing, and the crate's [`CoreError`].
//!
//! This crate does no I/O beyond reading a config file and links no runtime, index or
//! columnar library, so every other crate can depend on it cheaply.

pub mod config;
pub mod error;
pub mod event;
pub mod fields;
pub mod json;
pub mod name;
pub mod time;

pub use config::{
    AlertsConfig, ArchiveConfig, AuthConfig, Config, FormatName, ModuleRule, Severity, SourceConfig, StartAt,
    WebhookConfig, WebhookFormat,
};
pub use error::CoreError;
pub use event::{BUILTIN_MODULES, Event, Level, PARSE_ERROR_FIELD};
pub use fields::{FieldName, FieldRef, Fields};
pub use name::Name;
