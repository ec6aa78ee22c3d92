//! The user-facing TOML configuration. Every key is optional; unknown keys are an error.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::CoreError;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:7080";
pub const DEFAULT_DATA_DIR: &str = "./data";
pub const DEFAULT_SLOW_SQL_MS: u64 = 500;

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
    fn builtin_config_tails_sample_logs() {
        let config = Config::builtin();
        config.validate().unwrap();
        assert!(config.sources.iter().all(|s| s.path.as_deref().unwrap().starts_with("sample-logs/")));
        assert_eq!(config.listen(), "127.0.0.1:7080");
    }
}
