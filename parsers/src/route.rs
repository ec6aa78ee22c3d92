//! Business-module routing: the configured rules in order, then defaults that work for a
//! typical shop with no configuration (a `module`/`service` field, URL path segments,
//! Java logger packages, SQL table names).

use regex::Regex;
use sluice_core::{Event, FieldRef, ModuleRule};

use crate::ParserError;

#[derive(Debug, Clone)]
enum Matcher {
    Equals(String),
    Prefix(String),
    Regex(Regex),
}

#[derive(Debug, Clone)]
struct Rule {
    module: String,
    field: String,
    matcher: Matcher,
}

/// Decides each event's module. Cheap to clone (rules are small; regexes share their program).
#[derive(Debug, Clone, Default)]
pub struct ModuleRouter {
    rules: Vec<Rule>,
}

impl ModuleRouter {
    pub fn new(rules: &[ModuleRule]) -> Result<ModuleRouter, ParserError> {
        let rules = rules
            .iter()
            .map(|r| {
                let matcher = if let Some(v) = &r.equals {
                    Matcher::Equals(v.clone())
                } else if let Some(v) = &r.prefix {
                    Matcher::Prefix(v.clone())
                } else if let Some(v) = &r.regex {
                    Matcher::Regex(
                        Regex::new(v)
                            .map_err(|e| ParserError::ModuleRule { name: r.name.clone(), message: e.to_string() })?,
                    )
                } else {
                    return Err(ParserError::ModuleRule {
                        name: r.name.clone(),
                        message: "needs one of `equals`, `prefix` or `regex`".into(),
                    });
                };
                Ok(Rule { module: r.name.clone(), field: r.field.clone(), matcher })
            })
            .collect::<Result<_, _>>()?;
        Ok(ModuleRouter { rules })
    }

    pub fn route(&self, event: &Event) -> String {
        for rule in &self.rules {
            let Some(value) = field_text(event, &rule.field) else { continue };
            let hit = match &rule.matcher {
                Matcher::Equals(v) => value == *v,
                Matcher::Prefix(v) => value.starts_with(v.as_str()),
                Matcher::Regex(re) => re.is_match(&value),
            };
            if hit {
                return rule.module.clone();
            }
        }
        default_module(event).to_owned()
    }
}

fn field_text(event: &Event, field: &str) -> Option<String> {
    match field {
        "message" => Some(event.message.clone()),
        "source" => Some(event.source.clone()),
        "host" => Some(event.host.clone()),
        "level" => Some(event.level.as_str().to_owned()),
        _ => match event.fields.get(field)? {
            FieldRef::Str(s) => Some(s.to_owned()),
            other if other.is_null() => None,
            other => Some(other.to_string()),
        },
    }
}

/// The built-in routing, used when no configured rule matched. In order of trust: a field
/// naming the service, the URL path, the Java logger, the table a statement touches, the
/// database. One pass over the fields: this runs for every event.
pub fn default_module(event: &Event) -> &'static str {
    let mut service = None;
    let (mut path, mut logger, mut query, mut statement, mut db) = (None, None, None, None, None);
    let mut timed = false;
    for (key, value) in &event.fields {
        let text = value.as_str();
        match key {
            "module" | "service" | "app" | "service.name" | "service_name" | "application" | "logger_name"
                if service.is_none() =>
            {
                service = text.and_then(keyword_module);
            }
            "path" => path = text,
            "logger" => logger = text,
            "query" => query = text,
            "statement" => statement = text,
            "db" => db = text,
            "query_time_ms" => timed = true,
            _ => {}
        }
    }
    let sql = query.or(statement).or_else(|| timed.then_some(event.message.as_str()));
    service
        .or_else(|| path.and_then(keyword_module))
        .or_else(|| logger.and_then(keyword_module))
        .or_else(|| sql.and_then(sql_module))
        .or_else(|| db.and_then(keyword_module))
        .unwrap_or("other")
}

/// The module of the first word in `text` that names one: `/api/pay/confirm` -> payment,
/// `com.shop.order.OrderService` -> order, `inventory-svc` -> inventory.
fn keyword_module(text: &str) -> Option<&'static str> {
    keyword_module_of(text.as_bytes())
}

fn keyword_module_of(bytes: &[u8]) -> Option<&'static str> {
    let mut found = None;
    for_each_word(bytes, |word| {
        found = word_module(word);
        found.is_none()
    });
    found
}

/// Calls `visit` with each word: runs of ASCII letters and digits, split again at camelCase
/// humps (`PayService` -> `Pay`, `Service`; `HTTPClient` -> `HTTP`, `Client`). Stops when
/// `visit` returns false. Allocates nothing: routing runs once per event.
fn for_each_word(bytes: &[u8], mut visit: impl FnMut(&[u8]) -> bool) {
    for chunk in bytes.split(|b| !b.is_ascii_alphanumeric()).filter(|c| !c.is_empty()) {
        let mut start = 0;
        for i in 1..chunk.len() {
            let hump = chunk[i].is_ascii_uppercase()
                && (chunk[i - 1].is_ascii_lowercase()
                    || (chunk[i - 1].is_ascii_uppercase() && chunk.get(i + 1).is_some_and(u8::is_ascii_lowercase)));
            if hump {
                if !visit(&chunk[start..i]) {
                    return;
                }
                start = i;
            }
        }
        if !visit(&chunk[start..]) {
            return;
        }
    }
}

fn word_module(word: &[u8]) -> Option<&'static str> {
    // Keywords are 3 to 12 letters; ids and numbers (`/api/order/8841`) end here, and
    // the rest is lowercased into a stack buffer.
    if !(3..=12).contains(&word.len()) || !word[0].is_ascii_alphabetic() {
        return None;
    }
    let mut buf = [0u8; 12];
    let lower = &mut buf[..word.len()];
    lower.copy_from_slice(word);
    lower.make_ascii_lowercase();
    Some(match &*lower {
        b"product" | b"products" | b"goods" | b"item" | b"items" | b"sku" | b"skus" | b"spu" | b"catalog"
        | b"category" | b"categories" | b"brand" | b"brands" | b"review" | b"reviews" | b"search" => "product",
        b"order" | b"orders" | b"cart" | b"carts" | b"checkout" | b"trade" | b"trades" => "order",
        b"pay" | b"payment" | b"payments" | b"refund" | b"refunds" | b"billing" | b"wallet" | b"alipay" | b"wxpay"
        | b"wechatpay" | b"settlement" | b"transaction" | b"transactions" => "payment",
        b"inventory" | b"inventories" | b"stock" | b"stocks" | b"warehouse" | b"warehouses" => "inventory",
        b"user" | b"users" | b"account" | b"accounts" | b"member" | b"members" | b"login" | b"logout" | b"auth"
        | b"oauth" | b"customer" | b"customers" | b"passport" | b"register" | b"profile" | b"profiles" => "user",
        b"logistics" | b"shipping" | b"shipment" | b"shipments" | b"delivery" | b"deliveries" | b"express"
        | b"waybill" | b"waybills" | b"freight" | b"tracking" | b"carrier" => "logistics",
        _ => return None,
    })
}

/// The module of the first table a statement touches (after FROM/JOIN/INTO/UPDATE/TABLE).
fn sql_module(sql: &str) -> Option<&'static str> {
    // Bytes, not chars: SQL's separators are ASCII, and this runs once per slow query.
    let mut tokens = sql.as_bytes().split(|b| b.is_ascii_whitespace() || matches!(b, b'(' | b',' | b';'));
    while let Some(token) = tokens.next() {
        let names_table = (4..=6).contains(&token.len())
            && [&b"from"[..], b"join", b"into", b"update", b"table"].iter().any(|k| token.eq_ignore_ascii_case(k));
        if !names_table {
            continue;
        }
        let Some(table) = tokens.by_ref().find(|t| !t.is_empty()) else { break };
        let table = unquote(table);
        let table = unquote(table.rsplit(|b| *b == b'.').next().unwrap_or(table));
        if let Some(module) = keyword_module_of(table) {
            return Some(module);
        }
    }
    None
}

/// `` `order_item` `` -> `order_item`.
fn unquote(name: &[u8]) -> &[u8] {
    let start = name.iter().position(|b| !matches!(b, b'`' | b'"')).unwrap_or(name.len());
    let end = name.iter().rposition(|b| !matches!(b, b'`' | b'"')).map_or(start, |i| i + 1);
    &name[start..end.max(start)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;

    fn event(fields: serde_json::Value, message: &str) -> Event {
        let mut e = Event::new(DateTime::UNIX_EPOCH, message);
        e.fields = fields.as_object().unwrap().clone().into();
        e
    }

    #[test]
    fn defaults() {
        let cases = [
            (serde_json::json!({"path": "/api/pay/confirm"}), "", "payment"),
            (serde_json::json!({"path": "/api/v1/orders/77"}), "", "order"),
            (serde_json::json!({"path": "/static/app.js"}), "", "other"),
            (serde_json::json!({"logger": "com.shop.inventory.StockService"}), "", "inventory"),
            (serde_json::json!({"logger": "c.s.l.ShipmentTracker"}), "", "logistics"),
            (serde_json::json!({"logger": "com.shop.web.UserController"}), "", "user"),
            (serde_json::json!({"service": "payment-gateway"}), "", "payment"),
            (serde_json::json!({"service_name": "order-svc"}), "", "order"),
            (serde_json::json!({"query_time_ms": 1.0}), "SELECT * FROM `shop`.`order_item` o ORDER BY id", "order"),
            (serde_json::json!({"query_time_ms": 1.0}), "UPDATE sku_stock SET n=1", "product"),
            (serde_json::json!({"statement": "INSERT INTO waybill (id) VALUES (1)"}), "duplicate key", "logistics"),
            (serde_json::json!({}), "nothing to see", "other"),
        ];
        for (fields, message, module) in cases {
            assert_eq!(default_module(&event(fields.clone(), message)), module, "{fields} {message}");
        }
    }

    #[test]
    fn words_split_at_punctuation_and_humps() {
        let mut words = Vec::new();
        for_each_word(b"com.shop.HTTPClient/payService-v2", |w| {
            words.push(String::from_utf8(w.to_vec()).unwrap());
            true
        });
        assert_eq!(words, ["com", "shop", "HTTP", "Client", "pay", "Service", "v2"]);
        assert_eq!(keyword_module("ShipmentTracker"), Some("logistics"));
        assert_eq!(keyword_module("a-very-long-identifier-with-no-keyword"), None);
    }

    #[test]
    fn rules_come_first_in_order() {
        let rule = |name: &str, field: &str, prefix: Option<&str>, regex: Option<&str>| ModuleRule {
            name: name.into(),
            field: field.into(),
            equals: None,
            prefix: prefix.map(Into::into),
            regex: regex.map(Into::into),
        };
        let router = ModuleRouter::new(&[
            rule("promo", "path", Some("/api/order/coupon"), None),
            rule("search", "message", None, Some("(?i)elasticsearch")),
        ])
        .unwrap();
        assert_eq!(router.route(&event(serde_json::json!({"path": "/api/order/coupon/1"}), "")), "promo");
        assert_eq!(router.route(&event(serde_json::json!({"path": "/api/order/1"}), "")), "order");
        assert_eq!(router.route(&event(serde_json::json!({}), "ElasticSearch down")), "search");
        assert!(ModuleRouter::new(&[rule("x", "path", None, Some("("))]).is_err());
    }
}
