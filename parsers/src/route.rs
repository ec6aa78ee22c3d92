//! Business-module routing: the configured rules in order, then defaults that work for a
//! typical shop with no configuration (a `module`/`service` field, URL path segments,
//! Java logger packages, SQL table names).

use regex::Regex;
use serde_json::Value;
use sluice_core::{Event, ModuleRule};

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
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        },
    }
}

/// The built-in routing, used when no configured rule matched.
pub fn default_module(event: &Event) -> &'static str {
    for key in ["module", "service", "app", "service.name", "application", "logger_name"] {
        if let Some(name) = event.field_str(key).and_then(keyword_module) {
            return name;
        }
    }
    if let Some(name) = event.field_str("path").and_then(keyword_module) {
        return name;
    }
    if let Some(name) = event.field_str("logger").and_then(keyword_module) {
        return name;
    }
    // SQL: a slow-log statement, or the STATEMENT a database error quotes.
    let sql = event
        .field_str("query")
        .or_else(|| event.field_str("statement"))
        .or_else(|| event.fields.contains_key("query_time_ms").then_some(event.message.as_str()));
    if let Some(name) = sql.and_then(sql_module) {
        return name;
    }
    if let Some(name) = event.field_str("db").and_then(keyword_module) {
        return name;
    }
    "other"
}

/// The module of the first word in `text` that names one: `/api/pay/confirm` -> payment,
/// `com.shop.order.OrderService` -> order, `inventory-svc` -> inventory.
fn keyword_module(text: &str) -> Option<&'static str> {
    words(text).find_map(|w| word_module(&w))
}

/// Splits on punctuation and camelCase humps, lowercased.
fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_ascii_alphanumeric()).flat_map(|chunk| {
        let mut parts = Vec::new();
        let mut current = String::new();
        let chars: Vec<char> = chunk.chars().collect();
        for (i, &c) in chars.iter().enumerate() {
            let hump = c.is_ascii_uppercase()
                && i > 0
                && (chars[i - 1].is_ascii_lowercase()
                    || chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase()) && chars[i - 1].is_ascii_uppercase());
            if hump && !current.is_empty() {
                parts.push(std::mem::take(&mut current));
            }
            current.push(c.to_ascii_lowercase());
        }
        if !current.is_empty() {
            parts.push(current);
        }
        parts
    })
}

fn word_module(word: &str) -> Option<&'static str> {
    Some(match word {
        "product" | "products" | "goods" | "item" | "items" | "sku" | "skus" | "spu" | "catalog" | "category"
        | "categories" | "brand" | "brands" | "review" | "reviews" | "search" => "product",
        "order" | "orders" | "cart" | "carts" | "checkout" | "trade" | "trades" => "order",
        "pay" | "payment" | "payments" | "refund" | "refunds" | "billing" | "wallet" | "alipay" | "wxpay"
        | "wechatpay" | "settlement" | "transaction" | "transactions" => "payment",
        "inventory" | "inventories" | "stock" | "stocks" | "warehouse" | "warehouses" => "inventory",
        "user" | "users" | "account" | "accounts" | "member" | "members" | "login" | "logout" | "auth" | "oauth"
        | "customer" | "customers" | "passport" | "register" | "profile" | "profiles" => "user",
        "logistics" | "shipping" | "shipment" | "shipments" | "delivery" | "deliveries" | "express" | "waybill"
        | "waybills" | "freight" | "tracking" | "carrier" => "logistics",
        _ => return None,
    })
}

/// The module of the first table a statement touches (after FROM/JOIN/INTO/UPDATE/TABLE).
fn sql_module(sql: &str) -> Option<&'static str> {
    let mut tokens = sql.split(|c: char| c.is_whitespace() || c == '(' || c == ',' || c == ';');
    while let Some(token) = tokens.next() {
        let keyword = token.to_ascii_lowercase();
        if !matches!(keyword.as_str(), "from" | "join" | "into" | "update" | "table") {
            continue;
        }
        let Some(table) = tokens.by_ref().find(|t| !t.is_empty()) else { break };
        let table = table.trim_matches(|c| c == '`' || c == '"');
        let table = table.rsplit('.').next().unwrap_or(table).trim_matches(|c| c == '`' || c == '"');
        if let Some(module) = keyword_module(table) {
            return Some(module);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;

    fn event(fields: serde_json::Value, message: &str) -> Event {
        let mut e = Event::new(DateTime::UNIX_EPOCH, message);
        e.fields = fields.as_object().unwrap().clone();
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
