//! The simulated shop behind `sluice-gen`: what each service logs, and when it misbehaves.

use std::io::Write;

use chrono::{DateTime, Duration, Utc};

/// SplitMix64: tiny, fast and the same on every machine, so generated files are reproducible.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn hex(&mut self, digits: usize) -> String {
        let mut s = format!("{:016x}{:016x}", self.next_u64(), self.next_u64());
        s.truncate(digits);
        s
    }
}

const MODULES: [&str; 6] = ["product", "order", "payment", "inventory", "user", "logistics"];
const AGENTS: [&str; 4] = [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.43",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "okhttp/4.12.0",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0 Mobile Safari/537.36",
];

pub struct Shop {
    pub rng: Rng,
    pub now: DateTime<Utc>,
    start: DateTime<Utc>,
    storm: (i64, i64),
    burst: (i64, i64),
}

/// When the injected incidents happen, in minutes after the start of each simulated day:
/// a slow-SQL storm on orders (15 minutes) and the payment gateway failing (10 minutes).
#[derive(Clone, Copy, Debug)]
pub struct Incidents {
    pub storm_at_minute: i64,
    pub burst_at_minute: i64,
}

impl Default for Incidents {
    /// 10:00 and 14:00 for a run starting at midnight.
    fn default() -> Self {
        Incidents { storm_at_minute: 10 * 60, burst_at_minute: 14 * 60 }
    }
}

impl Shop {
    pub fn new(rng: Rng, start: DateTime<Utc>, incidents: Incidents) -> Self {
        Shop {
            rng,
            now: start,
            start,
            storm: (incidents.storm_at_minute, incidents.storm_at_minute + 15),
            burst: (incidents.burst_at_minute, incidents.burst_at_minute + 10),
        }
    }

    fn minute_of_day(&self) -> i64 {
        (self.now - self.start).num_minutes() % (24 * 60)
    }

    fn in_storm(&self) -> bool {
        (self.storm.0..self.storm.1).contains(&self.minute_of_day())
    }

    fn in_burst(&self) -> bool {
        (self.burst.0..self.burst.1).contains(&self.minute_of_day())
    }

    /// Moves the clock on, never jumping over the start of an incident, so even a
    /// small sample contains both incidents.
    pub fn advance(&mut self, ms: u64) {
        let next = self.now + Duration::milliseconds(ms as i64);
        let day = self.now
            - Duration::minutes(self.minute_of_day())
            - Duration::seconds(i64::from(self.now.timestamp() as u32 % 60));
        for start in [self.storm.0, self.burst.0] {
            let at = day + Duration::minutes(start);
            if self.now < at && next > at {
                self.now = at;
                return;
            }
        }
        self.now = next;
    }

    /// Divides the gap between events: traffic triples during incidents (retries, users
    /// reloading), so they stand out in time while ordinary error rates stay ordinary.
    pub fn pace(&self) -> u64 {
        if self.in_storm() || self.in_burst() { 3 } else { 1 }
    }

    fn module(&mut self) -> &'static str {
        if self.in_burst() && self.rng.chance(60) {
            return "payment";
        }
        // Browsing dominates real traffic.
        match self.rng.below(100) {
            0..=39 => "product",
            40..=59 => "order",
            60..=69 => "payment",
            70..=79 => "inventory",
            80..=91 => "user",
            _ => "logistics",
        }
    }

    fn ip(&mut self) -> String {
        match self.rng.below(3) {
            0 => format!("10.0.{}.{}", self.rng.below(8), 1 + self.rng.below(250)),
            1 => format!("203.0.113.{}", 1 + self.rng.below(250)),
            _ => format!("198.51.100.{}", 1 + self.rng.below(250)),
        }
    }

    fn path(&mut self, module: &str) -> String {
        let id = 1000 + self.rng.below(90_000);
        let paths: &[&str] = match module {
            "product" => {
                &["/api/product/{id}", "/api/products?category=phones&page=2", "/api/product/search?q=earbuds"]
            }
            "order" => &["/api/order/create", "/api/order/{id}", "/api/cart/add"],
            "payment" => &["/api/pay/confirm", "/api/pay/callback/alipay", "/api/pay/{id}/status"],
            "inventory" => &["/api/inventory/check?sku=SKU-{id}", "/api/stock/reserve"],
            "user" => &["/api/user/login", "/api/user/profile", "/api/user/{id}/addresses"],
            _ => &["/api/logistics/track/SF{id}", "/api/shipping/quote"],
        };
        self.rng.pick(paths).replace("{id}", &id.to_string())
    }

    pub fn nginx(&mut self, out: &mut Vec<u8>) {
        let module = self.module();
        let failing = module == "payment" && self.in_burst() && self.rng.chance(80);
        let path =
            if self.rng.chance(8) { format!("/static/js/app.{}.js", self.rng.hex(8)) } else { self.path(module) };
        let method =
            if path.contains("create") || path.contains("confirm") || path.contains("add") || path.contains("login") {
                "POST"
            } else {
                "GET"
            };
        let status = if failing {
            *self.rng.pick(&[502, 504, 500])
        } else {
            *self.rng.pick(&[200, 200, 200, 200, 200, 200, 200, 304, 404, 301])
        };
        let bytes = if status == 304 { 0 } else { 200 + self.rng.below(20_000) };
        let ip = self.ip();
        let agent = *self.rng.pick(&AGENTS);
        let _ = writeln!(
            out,
            r#"{ip} - - [{}] "{method} {path} HTTP/1.1" {status} {bytes} "https://shop.example.com/" "{agent}""#,
            self.now.format("%d/%b/%Y:%H:%M:%S %z")
        );
    }

    pub fn logback(&mut self, out: &mut Vec<u8>) {
        let module = self.module();
        let class = match module {
            "product" => "ProductService",
            "order" => "OrderService",
            "payment" => "PaymentService",
            "inventory" => "StockService",
            "user" => "UserService",
            _ => "ShipmentService",
        };
        let trace = self.rng.hex(16);
        let thread = format!("http-nio-8080-exec-{}", 1 + self.rng.below(20));
        let ts = self.now.format("%Y-%m-%d %H:%M:%S%.3f");
        let logger = format!("com.shop.{module}.{class}");
        if module == "payment" && self.in_burst() && self.rng.chance(70) {
            let order = 100_000 + self.rng.below(900_000);
            let _ = writeln!(
                out,
                "{ts} [{thread}] ERROR {logger} - 支付超时 payment timeout calling gateway orderId={order} traceId={trace}\n\
                 com.shop.payment.GatewayException: upstream alipay gateway timed out after 3000 ms\n\
                 \tat com.shop.payment.GatewayClient.call(GatewayClient.java:118)\n\
                 \tat com.shop.payment.PaymentService.confirm(PaymentService.java:64)\n\
                 \tat com.shop.payment.PaymentController.confirm(PaymentController.java:41)\n\
                 Caused by: java.net.SocketTimeoutException: Read timed out\n\
                 \tat java.base/java.net.SocketInputStream.socketRead0(Native Method)\n\
                 \t... 42 more"
            );
            return;
        }
        let (level, message) = match self.rng.below(100) {
            0..=1 => ("ERROR", format!("unexpected failure handling request traceId={trace}")),
            2..=7 => ("WARN", format!("slow downstream call took {} ms traceId={trace}", 800 + self.rng.below(2000))),
            8..=15 => ("DEBUG", format!("cache hit ratio {}% traceId={trace}", 60 + self.rng.below(40))),
            _ => (
                "INFO",
                match module {
                    "order" => format!(
                        "order created orderId={} amount={}.{:02} traceId={trace}",
                        100_000 + self.rng.below(900_000),
                        self.rng.below(2000),
                        self.rng.below(100)
                    ),
                    "payment" => format!(
                        "payment confirmed orderId={} channel=alipay traceId={trace}",
                        100_000 + self.rng.below(900_000)
                    ),
                    "inventory" => format!(
                        "reserved stock sku=SKU-{} qty={} traceId={trace}",
                        1000 + self.rng.below(9000),
                        1 + self.rng.below(3)
                    ),
                    "user" => format!("user login ok userId={} traceId={trace}", self.rng.below(1_000_000)),
                    "logistics" => {
                        format!("waybill SF{} status=IN_TRANSIT traceId={trace}", 1000 + self.rng.below(90_000))
                    }
                    _ => format!("product detail served productId={} traceId={trace}", 1000 + self.rng.below(90_000)),
                },
            ),
        };
        let _ = writeln!(out, "{ts} [{thread}] {level:<5} {logger} - {message}");
        if level == "ERROR" {
            let _ = writeln!(
                out,
                "java.lang.IllegalStateException: inconsistent state\n\tat com.shop.{module}.{class}.handle({class}.java:{})\n\t... 17 more",
                20 + self.rng.below(200)
            );
        }
    }

    pub fn json(&mut self, out: &mut Vec<u8>) {
        let module = *self.rng.pick(&["logistics", "logistics", "inventory", "user"]);
        let service = match module {
            "logistics" => "logistics-tracker",
            "inventory" => "inventory-sync",
            _ => "user-profile",
        };
        let (level, msg) = match self.rng.below(100) {
            0..=2 => ("error", "carrier API returned 503"),
            3..=9 => ("warn", "retrying carrier API"),
            _ => ("info", "tracking update processed"),
        };
        let _ = writeln!(
            out,
            r#"{{"time":"{}","level":"{level}","msg":"{msg}","service":"{service}","trace_id":"{}","latency_ms":{},"waybill":"SF{}"}}"#,
            self.now.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
            self.rng.hex(32),
            5 + self.rng.below(400),
            1000 + self.rng.below(90_000)
        );
    }

    pub fn mysql(&mut self, out: &mut Vec<u8>) {
        let storm = self.in_storm() && self.rng.chance(80);
        let id = 1 + self.rng.below(900_000);
        let (db, query, secs) = if storm {
            (
                "shop",
                format!(
                    "SELECT o.*, i.sku FROM orders o JOIN order_item i ON i.order_id = o.id WHERE o.user_id = {} AND o.status IN ('PAID', 'SHIPPED') ORDER BY o.created_at DESC LIMIT 20;",
                    id
                ),
                1.5 + self.rng.below(3000) as f64 / 1000.0,
            )
        } else {
            let (q, typical_ms) = self.statement(id);
            // The slow log records everything (long_query_time = 0); a few percent are slow.
            let secs = if self.rng.chance(2) {
                0.5 + self.rng.below(2000) as f64 / 1000.0
            } else {
                (1 + self.rng.below(typical_ms)) as f64 / 1000.0
            };
            ("shop", q, secs)
        };
        let examined = if storm { 200_000 + self.rng.below(800_000) } else { self.rng.below(5000) };
        let _ = write!(
            out,
            "# Time: {}\n# User@Host: shop_app[shop_app] @ app-{} [10.0.1.{}]  Id: {:>6}\n# Query_time: {secs:.6}  Lock_time: {:.6} Rows_sent: {}  Rows_examined: {examined}\nuse {db};\nSET timestamp={};\n{query}\n",
            self.now.format("%Y-%m-%dT%H:%M:%S%.6fZ"),
            1 + self.rng.below(4),
            10 + self.rng.below(40),
            1000 + self.rng.below(9000),
            self.rng.below(300) as f64 / 1_000_000.0,
            self.rng.below(50),
            self.now.timestamp(),
        );
    }

    /// One of the shop's everyday statements (two dozen shapes, browsing-heavy like the
    /// traffic) and how many milliseconds it typically takes at most.
    fn statement(&mut self, id: u64) -> (String, u64) {
        let n = self.rng.below(900);
        let page = 20 * self.rng.below(10);
        match self.rng.below(100) {
            0..=14 => (format!("SELECT * FROM product WHERE category_id = {n} ORDER BY sales DESC LIMIT 50;"), 120),
            15..=24 => (format!("SELECT id, name, price FROM product WHERE id IN ({id}, {}, {});", id + 7, id + 19), 20),
            25..=29 => (format!("SELECT * FROM product_review WHERE product_id = {id} ORDER BY created_at DESC LIMIT {page}, 20;"), 80),
            30..=34 => (format!("SELECT COUNT(*) FROM product WHERE name LIKE '%phone%' AND price < {n};"), 300),
            35..=41 => (format!("UPDATE inventory SET stock = stock - 1 WHERE sku = 'SKU-{id}' AND stock > 0;"), 40),
            42..=44 => (format!("SELECT sku, stock FROM inventory WHERE warehouse_id = {} AND stock < 10;", n % 12), 150),
            45..=51 => (format!("INSERT INTO orders (user_id, amount, status) VALUES ({id}, {n}.00, 'NEW');"), 30),
            52..=56 => (format!("SELECT * FROM orders WHERE user_id = {id} ORDER BY created_at DESC LIMIT 20;"), 60),
            57..=59 => (format!("UPDATE orders SET status = 'PAID', paid_at = NOW() WHERE id = {id} AND status = 'NEW';"), 25),
            60..=61 => (format!("INSERT INTO order_item (order_id, sku, qty, price) VALUES ({id}, 'SKU-{n}', 1, {n}.00), ({id}, 'SKU-{}', 2, 9.90);", n + 1), 30),
            62..=66 => (format!("SELECT id, status FROM payment_record WHERE order_id = {id};"), 15),
            67..=69 => (format!("INSERT INTO payment_record (order_id, channel, amount) VALUES ({id}, 'alipay', {n}.00);"), 30),
            70..=71 => (format!("UPDATE payment_record SET status = 'REFUNDED' WHERE order_id = {id};"), 30),
            72..=77 => (format!("SELECT * FROM user_address WHERE user_id = {id};"), 15),
            78..=81 => (format!("SELECT id, nickname, level FROM user WHERE id = {id};"), 10),
            82..=83 => (format!("UPDATE user SET last_login = NOW() WHERE id = {id};"), 20),
            84..=85 => (format!("SELECT * FROM coupon WHERE user_id = {id} AND expire_at > NOW() AND used = 0;"), 50),
            86..=89 => ("SELECT COUNT(*) FROM shipment WHERE status = 'IN_TRANSIT' AND updated_at < '2026-11-19';".to_string(), 400),
            90..=93 => (format!("SELECT * FROM shipment WHERE order_id = {id};"), 20),
            94..=95 => (format!("INSERT INTO shipment_event (waybill, status, at) VALUES ('SF{id}', 'ARRIVED', NOW());"), 30),
            96 => (format!("DELETE FROM cart_item WHERE user_id = {id} AND updated_at < NOW() - INTERVAL 30 DAY;"), 200),
            97 => ("SELECT DATE(created_at), SUM(amount) FROM orders WHERE created_at > NOW() - INTERVAL 1 DAY GROUP BY 1;".to_string(), 900),
            98 => ("BEGIN;".to_string(), 2),
            _ => ("COMMIT;".to_string(), 5),
        }
    }

    pub fn postgres(&mut self, out: &mut Vec<u8>) {
        let ts = self.now.format("%Y-%m-%d %H:%M:%S%.3f UTC");
        let pid = 2000 + self.rng.below(500);
        match self.rng.below(100) {
            0..=3 => {
                let id = self.rng.below(100_000);
                let _ = write!(
                    out,
                    "{ts} [{pid}] shop@shopdb ERROR:  duplicate key value violates unique constraint \"waybill_pkey\"\n\
                     {ts} [{pid}] shop@shopdb DETAIL:  Key (id)=({id}) already exists.\n\
                     {ts} [{pid}] shop@shopdb STATEMENT:  INSERT INTO waybill (id, order_id) VALUES ({id}, {})\n",
                    self.rng.below(900_000)
                );
            }
            4..=6 => {
                let _ = writeln!(
                    out,
                    "{ts} [{pid}] LOG:  checkpoint complete: wrote {} buffers (0.{}%)",
                    self.rng.below(5000),
                    self.rng.below(99)
                );
            }
            7..=59 => {
                // The application's everyday statements, as PostgreSQL logs them.
                let id = 1 + self.rng.below(900_000);
                let (sql, typical_ms) = self.statement(id);
                let ms = if self.rng.chance(2) {
                    500.0 + self.rng.below(4000) as f64
                } else {
                    1.0 + self.rng.below(typical_ms) as f64
                } + self.rng.below(1000) as f64 / 1000.0;
                let _ = writeln!(out, "{ts} [{pid}] shop@shopdb LOG:  duration: {ms:.3} ms  statement: {sql}");
            }
            _ => {
                let ms = if self.rng.chance(2) {
                    500.0 + self.rng.below(4000) as f64
                } else {
                    20.0 + self.rng.below(480) as f64
                } + self.rng.below(1000) as f64 / 1000.0;
                let module = *self.rng.pick(&MODULES);
                let table = match module {
                    "product" => "product_review",
                    "order" => "order_snapshot",
                    "payment" => "refund",
                    "inventory" => "warehouse_stock",
                    "user" => "member_points",
                    _ => "shipment_event",
                };
                let _ = write!(
                    out,
                    "{ts} [{pid}] shop@shopdb LOG:  duration: {ms:.3} ms  statement: SELECT *\n\
                     \tFROM {table}\n\
                     \tWHERE created_at > now() - interval '1 day' AND id > {}\n",
                    self.rng.below(100_000)
                );
            }
        }
        // Keep the clock moving a little inside multi-line entries.
        self.now += Duration::microseconds(self.rng.below(1000) as i64);
    }
}

pub fn mysql_banner(out: &mut Vec<u8>) {
    let _ = write!(
        out,
        "/usr/sbin/mysqld, Version: 8.0.35 (MySQL Community Server - GPL). started with:\n\
         Tcp port: 3306  Unix socket: /var/run/mysqld/mysqld.sock\n\
         Time                 Id Command    Argument\n"
    );
}
