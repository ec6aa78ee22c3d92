//! Business-module routing: the configured rules in order, then defaults that work for a
//! typical shop with no configuration (a `module`/`service` field, URL path segments,
//! Java logger packages, SQL table names).

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;
use sluice_core::{Event, FieldRef, ModuleRule, Name};

use crate::ParserError;

#[derive(Debug, Clone)]
enum Matcher {
    Equals(String),
    Prefix(String),
    Regex(Regex),
}

#[derive(Debug, Clone)]
struct Rule {
    module: Name,
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
                Ok(Rule { module: Name::from(&r.name), field: r.field.clone(), matcher })
            })
            .collect::<Result<_, _>>()?;
        Ok(ModuleRouter { rules })
    }

    pub fn route(&self, event: &Event) -> Name {
        self.route_remembering(event, &mut NameMemo::none())
    }

    /// [`ModuleRouter::route`], remembering in `memo` the module of the service and
    /// logger names and the paths it reads: one source has a few hundred of them, and
    /// recognising one from its words costs about ten times a lookup.
    pub(crate) fn route_remembering(&self, event: &Event, memo: &mut NameMemo) -> Name {
        for rule in &self.rules {
            let Some(value) = field_text(event, &rule.field) else { continue };
            let hit = match &rule.matcher {
                Matcher::Equals(v) => *value == **v,
                Matcher::Prefix(v) => value.starts_with(v.as_str()),
                Matcher::Regex(re) => re.is_match(&value),
            };
            if hit {
                return rule.module.clone();
            }
        }
        Name::from_static(default_module_remembering(event, memo))
    }
}

/// The modules of names routing has read lately, in a direct-mapped table: a name whose
/// slot holds another takes the slot over. Only names of a bounded set go in: services,
/// loggers, and paths up to their first id.
#[derive(Debug, Clone, Default)]
pub(crate) struct NameMemo {
    /// Empty until the memo warms up; stays empty for [`NameMemo::none`].
    slots: Vec<Option<(Box<str>, Option<&'static str>)>>,
    enabled: bool,
    /// Names looked up so far, up to [`MEMO_WARM_UP`].
    lookups: u32,
}

const MEMO_SLOTS: usize = 512;
/// Names routed before the memo starts remembering: a parser made for one small pushed
/// request never pays for the table.
const MEMO_WARM_UP: u32 = 256;
/// Longer names are looked at afresh each time: rare, and dear to copy and compare.
const MEMO_LONGEST: usize = 160;

impl NameMemo {
    pub(crate) fn new() -> NameMemo {
        NameMemo { slots: Vec::new(), enabled: true, lookups: 0 }
    }

    /// A memo that remembers nothing.
    fn none() -> NameMemo {
        NameMemo::default()
    }

    /// [`keyword_module`] of a URL path. Paths carry ids (`/api/product/7752`), so the
    /// part before the first segment that starts with a digit is what is remembered; the
    /// rest is read afresh when that part names no module. Words never span a `/`, so the
    /// two parts give the words of the whole, in order.
    fn path_module(&mut self, path: &str) -> Option<&'static str> {
        let bytes = path.as_bytes();
        // A plain loop: paths are a few dozen bytes, less than `memchr`'s setup costs.
        let cut = bytes.windows(2).position(|w| w[0] == b'/' && w[1].is_ascii_digit()).unwrap_or(bytes.len());
        self.keyword_module(&path[..cut]).or_else(|| keyword_module(&path[cut..]))
    }

    fn keyword_module(&mut self, text: &str) -> Option<&'static str> {
        if !self.enabled || text.len() > MEMO_LONGEST {
            return keyword_module(text);
        }
        if self.slots.is_empty() {
            if self.lookups < MEMO_WARM_UP {
                self.lookups += 1;
                return keyword_module(text);
            }
            self.slots = vec![None; MEMO_SLOTS];
        }
        let slot = &mut self.slots[memo_hash(text.as_bytes()) as usize % MEMO_SLOTS];
        match slot {
            Some((name, module)) if **name == *text => *module,
            _ => {
                let module = keyword_module(text);
                *slot = Some((text.into(), module));
                module
            }
        }
    }
}

/// A quick hash of a short name, eight bytes at a time (FxHash's step).
fn memo_hash(bytes: &[u8]) -> u64 {
    let step = |hash: u64, word: u64| (hash.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("eight bytes"));
    let mut hash = bytes.len() as u64;
    if bytes.len() < 8 {
        for &b in bytes {
            hash = step(hash, u64::from(b));
        }
    } else {
        let mut at = 0;
        while at + 8 < bytes.len() {
            hash = step(hash, word(at));
            at += 8;
        }
        // The last eight bytes, overlapping the word before when the length is no multiple of 8.
        hash = step(hash, word(bytes.len() - 8));
    }
    // The high bits are the best mixed.
    hash >> 32
}

/// A field's text as rules see it: borrowed where it is text already (rules run for every
/// event, before any default).
fn field_text<'a>(event: &'a Event, field: &str) -> Option<Cow<'a, str>> {
    Some(Cow::Borrowed(match field {
        "message" => &event.message,
        "source" => &event.source,
        "host" => &event.host,
        "level" => event.level.as_str(),
        _ => match event.fields.get(field)? {
            FieldRef::Str(s) => s,
            other if other.is_null() => return None,
            other => return Some(Cow::Owned(other.to_string())),
        },
    }))
}

/// What a field tells the default routing.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Hint {
    /// The service the event comes from; the number ranks the names, most specific first.
    Service(usize),
    Path,
    Logger,
    Query,
    Statement,
    Db,
    /// A slow-log event, whose message is its statement.
    Timed,
}

const SERVICE_NAMES: usize = 7;

/// The fields default routing reads.
const ROUTING_FIELDS: [(&str, Hint); 13] = [
    ("module", Hint::Service(0)),
    ("service", Hint::Service(1)),
    ("service.name", Hint::Service(2)),
    ("service_name", Hint::Service(3)),
    ("app", Hint::Service(4)),
    ("application", Hint::Service(5)),
    ("logger_name", Hint::Service(6)),
    ("path", Hint::Path),
    ("logger", Hint::Logger),
    ("query", Hint::Query),
    ("statement", Hint::Statement),
    ("db", Hint::Db),
    ("query_time_ms", Hint::Timed),
];

const fn length_and_first_byte(len: usize, first: u8) -> u64 {
    1 << (((len * 7) ^ first as usize) % 64)
}

/// One bit per (length, first byte) of the routing fields: most names of most events miss
/// it, and are passed over without a string comparison.
const ROUTING_BITS: u64 = {
    let mut bits = 0;
    let mut i = 0;
    while i < ROUTING_FIELDS.len() {
        let name = ROUTING_FIELDS[i].0.as_bytes();
        bits |= length_and_first_byte(name.len(), name[0]);
        i += 1;
    }
    bits
};

fn hint(name: &str) -> Option<Hint> {
    let first = *name.as_bytes().first()?;
    if ROUTING_BITS & length_and_first_byte(name.len(), first) == 0 {
        return None;
    }
    ROUTING_FIELDS.iter().find(|(known, _)| *known == name).map(|(_, hint)| *hint)
}

/// The built-in routing, used when no configured rule matched. In order of trust: a field
/// naming the service, the URL path, the Java logger, the table a statement touches, the
/// database. One pass over the fields: this runs for every event.
pub fn default_module(event: &Event) -> &'static str {
    default_module_remembering(event, &mut NameMemo::none())
}

fn default_module_remembering(event: &Event, memo: &mut NameMemo) -> &'static str {
    let mut service = [None; SERVICE_NAMES];
    let (mut path, mut logger, mut query, mut statement, mut db) = (None, None, None, None, None);
    let mut timed = false;
    // Names first, values only for the few names routing reads.
    for (index, name) in event.fields.keys().enumerate() {
        let Some(hint) = hint(name) else { continue };
        let text = event.fields.get_index(index).and_then(|(_, value)| value.as_str());
        match hint {
            Hint::Service(rank) => service[rank] = text,
            Hint::Path => path = text,
            Hint::Logger => logger = text,
            Hint::Query => query = text,
            Hint::Statement => statement = text,
            Hint::Db => db = text,
            Hint::Timed => timed = true,
        }
    }
    let sql = query.or(statement).or_else(|| timed.then_some(event.message.as_str()));
    service
        .iter()
        .find_map(|text| text.and_then(|t| memo.keyword_module(t)))
        .or_else(|| path.and_then(|t| memo.path_module(t)))
        .or_else(|| logger.and_then(|t| memo.keyword_module(t)))
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
    for_each_word(bytes, |word, hash| {
        found = KEYWORD_TABLE.module(word, hash);
        found.is_none()
    });
    found
}

/// Calls `visit` with each word and its [`word_hash`]: runs of ASCII letters and digits,
/// split again at camelCase humps (`PayService` -> `Pay`, `Service`; `HTTPClient` ->
/// `HTTP`, `Client`). Stops when `visit` returns false. One pass over the bytes, hashing
/// as it goes, allocating nothing: routing runs once per event.
fn for_each_word(bytes: &[u8], mut visit: impl FnMut(&[u8], u64) -> bool) {
    let (mut start, mut hash) = (0, WORD_HASH_SEED);
    for (i, &b) in bytes.iter().enumerate() {
        let lower = WORD_BYTES[usize::from(b)];
        if lower == 0 {
            if start < i && !visit(&bytes[start..i], hash) {
                return;
            }
            (start, hash) = (i + 1, WORD_HASH_SEED);
            continue;
        }
        // An upper-case letter (its lower case differs) after a lower-case one, or the
        // last capital of a run that a lower-case letter follows.
        if lower != b
            && start < i
            && (bytes[i - 1].is_ascii_lowercase()
                || (bytes[i - 1].is_ascii_uppercase() && bytes.get(i + 1).is_some_and(u8::is_ascii_lowercase)))
        {
            if !visit(&bytes[start..i], hash) {
                return;
            }
            (start, hash) = (i, WORD_HASH_SEED);
        }
        hash = word_hash_step(hash, lower);
    }
    if start < bytes.len() {
        visit(&bytes[start..], hash);
    }
}

/// Each byte as words are read: letters lower-cased, digits as they are, 0 for the bytes
/// that separate words. One load per byte instead of three range tests.
const WORD_BYTES: [u8; 256] = {
    let mut table = [0; 256];
    let mut b = 0;
    while b < 256 {
        let byte = b as u8;
        if byte.is_ascii_alphanumeric() {
            table[b] = byte.to_ascii_lowercase();
        }
        b += 1;
    }
    table
};

const WORD_HASH_SEED: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a, one lower-cased byte.
fn word_hash_step(hash: u64, lower: u8) -> u64 {
    (hash ^ u64::from(lower)).wrapping_mul(0x0100_0000_01b3)
}

fn word_hash(word: &[u8]) -> u64 {
    word.iter().fold(WORD_HASH_SEED, |hash, b| word_hash_step(hash, b.to_ascii_lowercase()))
}

/// Every keyword, by module. Words are 3 to 12 ASCII letters, lowercase.
#[rustfmt::skip] // Lists read better packed than one word per line.
const KEYWORDS: [(&str, &[&str]); 6] = [
    ("product", &[
        "product", "products", "goods", "item", "items", "sku", "skus", "spu", "catalog", "category",
        "categories", "brand", "brands", "review", "reviews", "search",
    ]),
    ("order", &["order", "orders", "cart", "carts", "checkout", "trade", "trades"]),
    ("payment", &[
        "pay", "payment", "payments", "refund", "refunds", "billing", "wallet", "alipay", "wxpay", "wechatpay",
        "settlement", "transaction", "transactions",
    ]),
    ("inventory", &["inventory", "inventories", "stock", "stocks", "warehouse", "warehouses"]),
    ("user", &[
        "user", "users", "account", "accounts", "member", "members", "login", "logout", "auth", "oauth",
        "customer", "customers", "passport", "register", "profile", "profiles",
    ]),
    ("logistics", &[
        "logistics", "shipping", "shipment", "shipments", "delivery", "deliveries", "express", "waybill",
        "waybills", "freight", "tracking", "carrier",
    ]),
];

/// The keywords in an open-addressing table of their word hashes: a word that is no
/// keyword (most are: `api`, `v1`, ids) costs a probe or two and no string comparison.
struct KeywordTable {
    slots: Vec<Option<(u64, &'static str, &'static str)>>,
}

static KEYWORD_TABLE: LazyLock<KeywordTable> = LazyLock::new(|| {
    let count: usize = KEYWORDS.iter().map(|(_, words)| words.len()).sum();
    let mut slots = vec![None; (count * 4).next_power_of_two()];
    let mask = slots.len() - 1;
    for (module, words) in KEYWORDS {
        for word in words {
            let hash = word_hash(word.as_bytes());
            let mut i = hash as usize & mask;
            while slots[i].is_some() {
                i = (i + 1) & mask;
            }
            slots[i] = Some((hash, *word, module));
        }
    }
    KeywordTable { slots }
});

impl KeywordTable {
    /// The module `word` (with its [`word_hash`]) names, if it is a keyword.
    fn module(&self, word: &[u8], hash: u64) -> Option<&'static str> {
        // Keywords are 3 to 12 letters; ids and numbers (`/api/order/8841`) end here.
        if !(3..=12).contains(&word.len()) || !word[0].is_ascii_alphabetic() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut i = hash as usize & mask;
        while let Some((slot_hash, keyword, module)) = self.slots[i] {
            if slot_hash == hash && keyword.as_bytes().eq_ignore_ascii_case(word) {
                return Some(module);
            }
            i = (i + 1) & mask;
        }
        None
    }
}

#[cfg(test)]
fn word_module(word: &[u8]) -> Option<&'static str> {
    KEYWORD_TABLE.module(word, word_hash(word))
}

/// The module of the first table a statement touches (after FROM/JOIN/INTO/UPDATE/TABLE).
fn sql_module(sql: &str) -> Option<&'static str> {
    // Bytes, not chars: SQL's separators are ASCII, and this runs for every statement, a
    // table lookup per byte.
    let bytes = sql.as_bytes();
    let mut tokens = bytes.split(|b| SQL_SEPARATORS[usize::from(*b)]).filter(|t| !t.is_empty());
    while let Some(token) = tokens.next() {
        let names_table = (4..=6).contains(&token.len())
            && [&b"from"[..], b"join", b"into", b"update", b"table"].iter().any(|k| token.eq_ignore_ascii_case(k));
        if !names_table {
            continue;
        }
        let Some(table) = tokens.next() else { break };
        let table = unquote(table);
        let table = unquote(table.rsplit(|b| *b == b'.').next().unwrap_or(table));
        if let Some(module) = keyword_module_of(table) {
            return Some(module);
        }
    }
    None
}

/// What splits a statement into words: ASCII white space (as `u8::is_ascii_whitespace`),
/// parentheses' opening, commas and semicolons.
const SQL_SEPARATORS: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = (b as u8).is_ascii_whitespace() || matches!(b as u8, b'(' | b',' | b';');
        b += 1;
    }
    table
};

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
    fn remembered_names_route_as_fresh_ones_do() {
        let router = ModuleRouter::default();
        let mut memo = NameMemo::new();
        // More names than the memo has slots, so slots are taken over; each seen twice.
        let loggers: Vec<String> = (0..3 * MEMO_SLOTS)
            .map(|i| match i % 4 {
                0 => format!("com.shop.order.OrderService{i}"),
                1 => format!("com.shop.web.Controller{i}"),
                2 => format!("c.s.{i}.StockService"),
                _ => format!("com.shop.{}.PayService", "x".repeat(i % 200)),
            })
            .collect();
        for logger in loggers.iter().chain(&loggers) {
            for field in ["logger", "service"] {
                let e = event(serde_json::json!({ field: logger }), "");
                assert_eq!(router.route_remembering(&e, &mut memo), router.route(&e), "{field} {logger}");
            }
        }
        assert_eq!(
            router.route_remembering(&event(serde_json::json!({"logger": "a.b.Pay"}), ""), &mut memo),
            "payment"
        );
        // Paths: remembered up to their first id, and the rest read when that names nothing.
        let paths = [
            "/api/product/7752",
            "/api/v1/7/orders",
            "/7/pay",
            "/api/123",
            "/",
            "",
            "/api/user/profile",
            "/x/1/y/2/cart",
        ];
        for path in paths.iter().chain(&paths) {
            let e = event(serde_json::json!({ "path": path }), "");
            assert_eq!(router.route_remembering(&e, &mut memo), router.route(&e), "{path}");
        }
    }

    #[test]
    fn words_split_at_punctuation_and_humps() {
        let mut words = Vec::new();
        for_each_word(b"com.shop.HTTPClient/payService-v2", |w, hash| {
            assert_eq!(hash, word_hash(w));
            words.push(String::from_utf8(w.to_vec()).unwrap());
            true
        });
        assert_eq!(words, ["com", "shop", "HTTP", "Client", "pay", "Service", "v2"]);
        assert_eq!(keyword_module("ShipmentTracker"), Some("logistics"));
        assert_eq!(keyword_module("a-very-long-identifier-with-no-keyword"), None);
    }

    #[test]
    fn routing_fields_are_recognised_and_others_not() {
        for (name, expected) in ROUTING_FIELDS {
            assert_eq!(hint(name), Some(expected), "{name}");
        }
        for name in ["method", "status", "modules", "paths", "", "m", "client_ip", "user_agent", "query_string"] {
            assert_eq!(hint(name), None, "{name}");
        }
    }

    #[test]
    fn every_keyword_names_one_module() {
        let mut seen = std::collections::HashMap::new();
        for (module, words) in KEYWORDS {
            for word in words {
                assert!((3..=12).contains(&word.len()) && word.bytes().all(|b| b.is_ascii_lowercase()), "{word}");
                assert_eq!(seen.insert(*word, module), None, "`{word}` is listed twice");
                assert_eq!(word_module(word.to_uppercase().as_bytes()), Some(module), "{word}");
            }
        }
        assert_eq!(word_module(b"orderx"), None);
        assert_eq!(word_module(b"orde"), None);
    }

    #[test]
    fn a_service_field_outranks_the_path_whatever_the_field_order() {
        let e = event(serde_json::json!({"path": "/api/pay/confirm", "app": "order-svc"}), "");
        assert_eq!(default_module(&e), "order");
        let e = event(serde_json::json!({"service": "gateway", "app": "stock-svc"}), "");
        assert_eq!(default_module(&e), "inventory", "a service field naming no module does not stop the search");
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
