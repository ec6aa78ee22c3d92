//! The user-facing TOML configuration. Every key is optional; unknown keys are an error.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::CoreError;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:7080";
pub const DEFAULT_DATA_DIR: &str = "./data";
pub const DEFAULT_SLOW_SQL_MS: u64 = 500;
pub const DEFAULT_ARCHIVE_RETENTION_DAYS: u32 = 1095;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub data_dir: Option<PathBuf>,
    pub listen: Option<String>,
    /// Zone for logs without an offset, and for "yesterday". Defaults to UTC.
    pub timezone: Option<String>,
    pub slow_sql_ms: Option<u64>,
    #[serde(default)]
    pub sources: Vec<SourceConfig>,
    #[serde(default)]
    pub modules: Vec<ModuleRule>,
    /// Days of Parquet archive kept (whole `dt=` partitions are deleted after that).
    /// Default 1095: the runbook keeps maintenance records for three years.
    pub archive_retention_days: Option<u32>,
    /// Days of the search index kept (whole day partitions are deleted after that, and
    /// events older than that are not indexed; the archive still holds them). Default:
    /// keep every day, as Quickwit and Loki do.
    pub index_retention_days: Option<u32>,
    /// Per-module overrides of `slow_sql_ms` (`module_slow_sql_ms = { payment = 200 }`).
    #[serde(default)]
    pub module_slow_sql_ms: BTreeMap<String, u64>,
    #[serde(default)]
    pub alerts: AlertsConfig,
    #[serde(default)]
    pub archive: ArchiveConfig,
    #[serde(default)]
    pub auth: AuthConfig,
}

/// Who may push events. Without tokens every ingest endpoint is open (the default listen
/// address is loopback only); with them, each ingest request must carry one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Accepted as `Authorization: Bearer T`, Elasticsearch's `ApiKey T` (or the key part
    /// of an encoded `id:key`), or as the password of `Basic` auth.
    pub ingest_tokens: Vec<String>,
}

/// Where the Parquet archive lives besides the data dir. Without `url`, only in
/// `data_dir/archive`. With it, every file is also uploaded there (an object store any
/// cluster reads: `s3://bucket/prefix` for S3 and S3-compatible stores, `file:///path`
/// for a mounted volume), and local copies of older days are dropped once uploaded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ArchiveConfig {
    pub url: Option<String>,
    /// Passed to the store: for S3 `endpoint`, `region`, `allow_http`,
    /// `access_key_id`, `secret_access_key`, ... (the usual `AWS_*` environment
    /// variables are read too).
    pub options: BTreeMap<String, String>,
    /// Days before today (UTC) whose files stay in the data dir after upload; older
    /// days are read from the store.
    pub keep_local_days: u32,
    /// How often new files are uploaded.
    pub upload_interval: String,
}

impl Default for ArchiveConfig {
    fn default() -> Self {
        ArchiveConfig { url: None, options: BTreeMap::new(), keep_local_days: 7, upload_interval: "1m".into() }
    }
}

impl ArchiveConfig {
    fn validate(&self) -> Result<(), CoreError> {
        let d = parse_duration(&self.upload_interval).map_err(|e| value_error("archive.upload_interval", e))?;
        if d.is_zero() {
            return Err(value_error("archive.upload_interval", "must be longer than zero"));
        }
        if let Some(url) = &self.url
            && !(url.starts_with("s3://") || url.starts_with("file:///"))
        {
            return Err(value_error("archive.url", "must be s3://bucket[/prefix] or file:///absolute/path"));
        }
        Ok(())
    }

    pub fn upload_interval(&self) -> Duration {
        parse_duration(&self.upload_interval).unwrap_or(Duration::from_secs(60))
    }
}

/// Slow-SQL and error-burst alert rules, and where alerts are sent. Durations are
/// written like `"90s"`, `"5m"`, `"1h"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    /// Error bursts: the sliding window errors are counted in.
    pub window: String,
    /// A burst needs at least this many errors in the window...
    pub min_errors: u64,
    /// ...and more than `factor` times the module's usual count per window.
    pub factor: f64,
    /// Time constant of that usual count (an exponentially weighted moving average).
    pub baseline: String,
    /// An alert closes after this long below its threshold.
    pub quiet: String,
    /// Modules whose failure is a core flow down (P1) rather than degraded (P2).
    pub core_modules: Vec<String>,
    /// P1 when a core module fails more than this share of its requests in the window.
    pub p1_failure_ratio: f64,
    /// Latency rise: the mean request time in the window is more than this many times the
    /// usual mean (0 turns the rule off)...
    pub latency_factor: f64,
    /// ...and at least this many milliseconds.
    pub latency_min_ms: u64,
    /// Slow-SQL storm: this many slow statements of one fingerprint...
    pub slow_storm_count: u64,
    /// ...or this many in one module (0 turns the module rule off)...
    pub slow_module_storm_count: u64,
    /// ...within this window.
    pub slow_storm_window: String,
    pub slow_storm_severity: Severity,
    /// A single statement at least this slow is an alert on its own.
    pub slow_critical_ms: u64,
    pub slow_critical_severity: Severity,
    #[serde(default)]
    pub webhooks: Vec<WebhookConfig>,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            window: "1m".into(),
            min_errors: 10,
            factor: 5.0,
            baseline: "1h".into(),
            quiet: "5m".into(),
            core_modules: vec!["payment".into(), "order".into()],
            p1_failure_ratio: 0.5,
            latency_factor: 3.0,
            latency_min_ms: 300,
            slow_storm_count: 10,
            slow_module_storm_count: 30,
            slow_storm_window: "5m".into(),
            slow_storm_severity: Severity::P2,
            slow_critical_ms: 10_000,
            slow_critical_severity: Severity::P3,
            webhooks: Vec::new(),
        }
    }
}

impl AlertsConfig {
    pub fn window(&self) -> Duration {
        parse_duration(&self.window).unwrap_or(Duration::from_secs(60))
    }
    pub fn baseline(&self) -> Duration {
        parse_duration(&self.baseline).unwrap_or(Duration::from_secs(3600))
    }
    pub fn quiet(&self) -> Duration {
        parse_duration(&self.quiet).unwrap_or(Duration::from_secs(300))
    }
    pub fn slow_storm_window(&self) -> Duration {
        parse_duration(&self.slow_storm_window).unwrap_or(Duration::from_secs(300))
    }

    fn validate(&self) -> Result<(), CoreError> {
        for (key, text) in [
            ("alerts.window", &self.window),
            ("alerts.baseline", &self.baseline),
            ("alerts.quiet", &self.quiet),
            ("alerts.slow_storm_window", &self.slow_storm_window),
        ] {
            let d = parse_duration(text).map_err(|e| value_error(key, e))?;
            if d.is_zero() {
                return Err(value_error(key, "must be longer than zero"));
            }
        }
        if !(self.factor.is_finite() && self.factor >= 1.0) {
            return Err(value_error("alerts.factor", "must be at least 1"));
        }
        if !(self.latency_factor.is_finite() && (self.latency_factor == 0.0 || self.latency_factor >= 1.0)) {
            return Err(value_error("alerts.latency_factor", "must be 0 (off) or at least 1"));
        }
        if !(0.0..=1.0).contains(&self.p1_failure_ratio) {
            return Err(value_error("alerts.p1_failure_ratio", "must be between 0 and 1"));
        }
        for (i, hook) in self.webhooks.iter().enumerate() {
            if !(hook.url.starts_with("http://") || hook.url.starts_with("https://")) {
                return Err(value_error(&format!("alerts.webhooks[{i}].url"), "must be an http:// or https:// URL"));
            }
        }
        Ok(())
    }
}

/// Runbook priorities: P1 a core flow is down, P2 degraded, P3 an anomaly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Severity {
    P1,
    P2,
    P3,
}

impl std::str::FromStr for Severity {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text.to_ascii_uppercase().as_str() {
            "P1" => Ok(Severity::P1),
            "P2" => Ok(Severity::P2),
            "P3" => Ok(Severity::P3),
            _ => Err(format!("unknown severity `{text}` (expected P1, P2 or P3)")),
        }
    }
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::P1 => "P1",
            Severity::P2 => "P2",
            Severity::P3 => "P3",
        }
    }
}

/// Where alerts are POSTed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub url: String,
    /// Body shape: `generic` (the alert JSON), `dingtalk` or `wecom` (robot markdown messages).
    #[serde(default)]
    pub format: WebhookFormat,
    /// Only alerts at least this severe are sent.
    #[serde(default = "lowest_severity")]
    pub min_severity: Severity,
}

fn lowest_severity() -> Severity {
    Severity::P3
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    #[default]
    Generic,
    Dingtalk,
    Wecom,
}

/// `"90s"`, `"5m"`, `"1h"`, `"2d"`, or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().map_err(|_| format!("`{text}` is not a duration like \"30s\", \"5m\" or \"1h\""))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(format!("`{text}`: unknown unit `{unit}` (use s, m, h or d)")),
    };
    Ok(Duration::from_secs(secs))
}

/// Where events come from and how to read them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// Becomes each event's `source`.
    pub name: String,
    /// A glob of files to tail; absent for import-only or HTTP-only sources.
    pub path: Option<String>,
    #[serde(default)]
    pub format: FormatName,
    /// nginx's own `log_format` directive text (format = "nginx").
    pub log_format: Option<String>,
    /// A logback/log4j layout pattern (format = "logback").
    pub pattern: Option<String>,
    /// PostgreSQL's `log_line_prefix` (format = "postgres").
    pub log_line_prefix: Option<String>,
    pub timezone: Option<String>,
    /// Forces every event of this source into one module instead of routing.
    pub module: Option<String>,
    #[serde(default)]
    pub start_at: StartAt,
    /// Also read rotated files logrotate compressed (`*.gz` the glob matches), once each,
    /// from where reading their uncompressed original stopped. Off by default: without it,
    /// `.gz` files the glob matches are skipped, never tailed as text.
    #[serde(default)]
    pub read_compressed: bool,
}

impl SourceConfig {
    /// A source with just a name and format, as `import --format` and HTTP ingest use.
    pub fn adhoc(name: impl Into<String>, format: FormatName) -> Self {
        SourceConfig {
            name: name.into(),
            path: None,
            format,
            log_format: None,
            pattern: None,
            log_line_prefix: None,
            timezone: None,
            module: None,
            start_at: StartAt::Beginning,
            read_compressed: false,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FormatName {
    #[default]
    Auto,
    Nginx,
    Apache,
    MysqlSlow,
    Postgres,
    Logback,
    Json,
    Syslog,
    Plain,
}

impl FormatName {
    pub const ALL: [FormatName; 9] = [
        FormatName::Auto,
        FormatName::Nginx,
        FormatName::Apache,
        FormatName::MysqlSlow,
        FormatName::Postgres,
        FormatName::Logback,
        FormatName::Json,
        FormatName::Syslog,
        FormatName::Plain,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FormatName::Auto => "auto",
            FormatName::Nginx => "nginx",
            FormatName::Apache => "apache",
            FormatName::MysqlSlow => "mysql-slow",
            FormatName::Postgres => "postgres",
            FormatName::Logback => "logback",
            FormatName::Json => "json",
            FormatName::Syslog => "syslog",
            FormatName::Plain => "plain",
        }
    }
}

impl std::str::FromStr for FormatName {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FormatName::ALL.into_iter().find(|f| f.as_str() == s).ok_or_else(|| {
            let names: Vec<_> = FormatName::ALL.iter().map(|f| f.as_str()).collect();
            format!("unknown format `{s}` (expected one of {})", names.join(", "))
        })
    }
}

impl std::fmt::Display for FormatName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StartAt {
    #[default]
    Beginning,
    End,
}

/// One ordered routing rule: the first that matches decides the module.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModuleRule {
    pub name: String,
    /// Any event field, or "message" / "logger" / "path" / "source" / "host".
    pub field: String,
    pub equals: Option<String>,
    pub prefix: Option<String>,
    pub regex: Option<String>,
}

impl Config {
    /// Reads and validates a TOML config file.
    pub fn load(path: &Path) -> Result<Config, CoreError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| CoreError::ConfigRead { path: path.to_owned(), source })?;
        Config::parse(&text, path)
    }

    /// Parses and validates TOML text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &Path) -> Result<Config, CoreError> {
        let config: Config = toml::from_str(text).map_err(|e| CoreError::ConfigParse {
            path: origin.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// The built-in defaults: tail every sample log shipped in `sample-logs/`.
    pub fn builtin() -> Config {
        let sample = |name: &str, dir: &str, format: FormatName| SourceConfig {
            path: Some(format!("sample-logs/{dir}/*.log")),
            ..SourceConfig::adhoc(name, format)
        };
        Config {
            sources: vec![
                sample("nginx", "nginx", FormatName::Nginx),
                sample("mysql", "mysql-slow", FormatName::MysqlSlow),
                sample("postgres", "postgres", FormatName::Postgres),
                sample("app", "logback", FormatName::Logback),
                sample("service", "json", FormatName::Json),
                sample("apache", "apache", FormatName::Apache),
                sample("syslog", "syslog", FormatName::Syslog),
                sample("batch", "plain", FormatName::Plain),
            ],
            ..Config::default()
        }
    }

    pub fn validate(&self) -> Result<(), CoreError> {
        self.archive.validate()?;
        if self.auth.ingest_tokens.iter().any(|t| t.trim().is_empty()) {
            return Err(value_error("auth.ingest_tokens", "a token must not be empty"));
        }
        if let Some(tz) = &self.timezone {
            parse_timezone(tz).map_err(|e| value_error("timezone", e))?;
        }
        let mut names = HashSet::new();
        for (i, source) in self.sources.iter().enumerate() {
            let key = |k: &str| format!("sources[{i}].{k}");
            if source.name.trim().is_empty() {
                return Err(value_error(&key("name"), "must not be empty"));
            }
            if !names.insert(source.name.as_str()) {
                return Err(value_error(&key("name"), format!("duplicate source name `{}`", source.name)));
            }
            if let Some(tz) = &source.timezone {
                parse_timezone(tz).map_err(|e| value_error(&key("timezone"), e))?;
            }
            let misplaced = [
                ("log_format", source.log_format.is_some(), FormatName::Nginx),
                ("pattern", source.pattern.is_some(), FormatName::Logback),
                ("log_line_prefix", source.log_line_prefix.is_some(), FormatName::Postgres),
            ];
            for (name, present, format) in misplaced {
                if present && source.format != format {
                    return Err(value_error(&key(name), format!("only applies to format = \"{format}\"")));
                }
            }
        }
        if self.archive_retention_days == Some(0) {
            return Err(value_error("archive_retention_days", "must be at least 1"));
        }
        if self.index_retention_days == Some(0) {
            return Err(value_error("index_retention_days", "must be at least 1"));
        }
        self.alerts.validate()?;
        for (i, rule) in self.modules.iter().enumerate() {
            let set = [&rule.equals, &rule.prefix, &rule.regex].iter().filter(|v| v.is_some()).count();
            if set != 1 {
                return Err(value_error(
                    &format!("modules[{i}]"),
                    "needs exactly one of `equals`, `prefix` or `regex`",
                ));
            }
            if rule.name.trim().is_empty() {
                return Err(value_error(&format!("modules[{i}].name"), "must not be empty"));
            }
        }
        Ok(())
    }

    pub fn listen(&self) -> &str {
        self.listen.as_deref().unwrap_or(DEFAULT_LISTEN)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.data_dir.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR))
    }

    pub fn slow_sql_ms(&self) -> u64 {
        self.slow_sql_ms.unwrap_or(DEFAULT_SLOW_SQL_MS)
    }

    pub fn archive_retention_days(&self) -> u32 {
        self.archive_retention_days.unwrap_or(DEFAULT_ARCHIVE_RETENTION_DAYS)
    }

    /// The slow-SQL threshold for one module: its override, else `slow_sql_ms`.
    pub fn module_slow_sql_ms(&self, module: &str) -> u64 {
        self.module_slow_sql_ms.get(module).copied().unwrap_or_else(|| self.slow_sql_ms())
    }

    /// The configured default zone (UTC when unset; validated at load).
    pub fn timezone(&self) -> Tz {
        self.timezone.as_deref().and_then(|tz| parse_timezone(tz).ok()).unwrap_or(Tz::UTC)
    }

    /// The zone for one source: its own, else the global one.
    pub fn source_timezone(&self, source: &SourceConfig) -> Tz {
        source.timezone.as_deref().and_then(|tz| parse_timezone(tz).ok()).unwrap_or_else(|| self.timezone())
    }

    pub fn source(&self, name: &str) -> Option<&SourceConfig> {
        self.sources.iter().find(|s| s.name == name)
    }
}

pub fn parse_timezone(name: &str) -> Result<Tz, CoreError> {
    name.parse::<Tz>().map_err(|_| CoreError::InvalidTimezone(name.to_owned()))
}

fn value_error(key: &str, message: impl ToString) -> CoreError {
    CoreError::ConfigValue { key: key.to_owned(), message: message.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, CoreError> {
        Config::parse(text, Path::new("sluice.toml"))
    }

    #[test]
    fn parses_the_contract_example() {
        let config = parse(
            r#"
            data_dir = "./data"
            listen = "127.0.0.1:7080"
            timezone = "Asia/Shanghai"
            slow_sql_ms = 500

            [[sources]]
            name = "web"
            path = "/var/log/nginx/access*.log"
            format = "nginx"
            log_format = '$remote_addr - $remote_user [$time_local] "$request" $status'
            timezone = "UTC"
            module = "payment"
            start_at = "beginning"

            [[sources]]
            name = "pg"
            format = "postgres"
            log_line_prefix = "%m [%p] %q%u@%d "

            [[modules]]
            name = "payment"
            field = "path"
            prefix = "/api/pay"
            "#,
        )
        .unwrap();
        assert_eq!(config.sources.len(), 2);
        assert_eq!(config.sources[0].format, FormatName::Nginx);
        assert_eq!(config.timezone(), chrono_tz::Asia::Shanghai);
        assert_eq!(config.source_timezone(&config.sources[0]), Tz::UTC);
        assert_eq!(config.slow_sql_ms(), 500);
    }

    #[test]
    fn unknown_key_is_named_with_its_line() {
        let err = parse("listen = \"x\"\nslow_sql = 3\n").unwrap_err().to_string();
        assert!(err.contains("slow_sql"), "{err}");
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn bad_values_name_the_key() {
        let err = parse("timezone = \"Mars/Olympus\"").unwrap_err().to_string();
        assert!(err.contains("`timezone`") && err.contains("Mars/Olympus"), "{err}");

        let err = parse("[[sources]]\nname = \"a\"\nformat = \"json\"\npattern = \"%d\"\n").unwrap_err().to_string();
        assert!(err.contains("sources[0].pattern"), "{err}");

        let err = parse("[[modules]]\nname = \"x\"\nfield = \"path\"\n").unwrap_err().to_string();
        assert!(err.contains("modules[0]"), "{err}");

        let err = parse("[[sources]]\nname = \"a\"\nformat = \"yaml\"\n").unwrap_err().to_string();
        assert!(err.contains("yaml"), "{err}");
    }

    #[test]
    fn alert_rules_and_webhooks() {
        let config = parse(
            r#"
            module_slow_sql_ms = { payment = 200 }
            [alerts]
            window = "2m"
            min_errors = 5
            core_modules = ["payment"]
            slow_storm_severity = "P1"
            [[alerts.webhooks]]
            url = "https://oapi.dingtalk.com/robot/send?access_token=x"
            format = "dingtalk"
            min_severity = "P2"
            "#,
        )
        .unwrap();
        assert_eq!(config.module_slow_sql_ms("payment"), 200);
        assert_eq!(config.module_slow_sql_ms("order"), 500);
        assert_eq!(config.alerts.window(), Duration::from_secs(120));
        assert_eq!(config.alerts.quiet(), Duration::from_secs(300));
        assert_eq!(config.alerts.webhooks[0].format, WebhookFormat::Dingtalk);
        assert_eq!(config.alerts.slow_storm_severity, Severity::P1);

        let err = parse("[alerts]\nquiet = \"5 minutes\"\n").unwrap_err().to_string();
        assert!(err.contains("alerts.quiet"), "{err}");
        let err = parse("[[alerts.webhooks]]\nurl = \"ftp://x\"\n").unwrap_err().to_string();
        assert!(err.contains("alerts.webhooks[0].url"), "{err}");
        let err = parse("[alerts]\nfactor = 0.5\n").unwrap_err().to_string();
        assert!(err.contains("alerts.factor"), "{err}");
    }

    #[test]
    fn builtin_config_tails_sample_logs() {
        let config = Config::builtin();
        config.validate().unwrap();
        assert!(config.sources.iter().all(|s| s.path.as_deref().unwrap().starts_with("sample-logs/")));
        assert_eq!(config.listen(), "127.0.0.1:7080");
    }
}
