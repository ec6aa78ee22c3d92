//! Real shippers and clients push into a real `sluice serve` over a real socket:
//! syslog-ng tailing a file into `_bulk` (its `elasticsearch-http()` destination), rsyslog
//! doing the same with `imfile` and `omelasticsearch` (which reads the version `GET /`
//! reports), the
//! official Python `elasticsearch` client's bulk helper, the OpenTelemetry SDKs' OTLP/HTTP
//! log exporters (Python's sends protobuf, JavaScript's JSON), and a Loki push in both
//! encodings (JSON, and snappy protobuf built by Google's protobuf runtime from Loki's
//! push.proto field numbers).
//! `.ci/run` installs them; without them (outside CI) the tests say what they skipped.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::{Server, eventually, python_with};

/// A served data dir with a config naming the sources the clients push as.
fn serve(dir: &Path) -> Server {
    let config = dir.join("sluice.toml");
    std::fs::write(
        &config,
        r#"
[[sources]]
name = "shop-app"          # syslog-ng's index: its lines are logback text
format = "logback"

[[sources]]
name = "shop-web"          # rsyslog's index: nginx access lines
format = "nginx"
"#,
    )
    .unwrap();
    Server::start(dir, &["--config", config.to_str().unwrap(), "--data-dir", dir.join("data").to_str().unwrap()])
}

fn count(server: &Server, query: &str) -> u64 {
    server.search(query, "&aggs=false&limit=1")["total"].as_u64().unwrap()
}

/// Waits until `query` matches `expected` events (or gives up and reports what it saw).
fn wait_for_count(server: &Server, query: &str, expected: u64) -> u64 {
    eventually(Duration::from_secs(60), || (count(server, query) == expected).then_some(expected))
        .unwrap_or_else(|| count(server, query))
}

fn run_python(python: &str, script: &str, args: &[&str]) -> String {
    let output = Command::new(python).arg("-c").arg(script).args(args).output().expect("run python");
    assert!(
        output.status.success(),
        "python client failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

const ELASTICSEARCH_CLIENT: &str = r#"
import sys
from elasticsearch import Elasticsearch, helpers

es = Elasticsearch(sys.argv[1], request_timeout=60)
info = es.info()
assert info["tagline"] == "You Know, for Search", info

def actions():
    for i in range(3000):
        yield {
            "_index": "checkout-2026.11.20",
            "_source": {
                "@timestamp": "2026-11-20T14:%02d:%02dZ" % (i // 60 % 60, i % 60),
                "message": "payment gateway timeout esbulk order=%d" % i,
                "log": {"level": "error" if i % 10 == 0 else "info"},
                "service": "payment-svc",
                "order_id": i,
            },
        }

ok, errors = helpers.bulk(es, actions(), chunk_size=500, raise_on_error=False)
print(ok, len(errors))
print(es.index(index="orders", document={"message": "single esdoc", "service": "order"}, refresh="wait_for")["result"])
"#;

#[test]
fn elasticsearch_python_client_bulk_helper() {
    let Some(python) = python_with("elasticsearch") else { return };
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path());
    let out = run_python(&python, ELASTICSEARCH_CLIENT, &[&format!("http://{}", server.addr)]);
    assert_eq!(out.lines().collect::<Vec<_>>(), ["3000 0", "created"], "{out}");
    // `index(refresh="wait_for")` answered: everything before it is searchable too.
    assert_eq!(count(&server, "esbulk"), 3000);
    assert_eq!(count(&server, "esbulk AND level:error"), 300);
    assert_eq!(count(&server, "esbulk AND module:payment AND source:checkout"), 3000);
    assert_eq!(count(&server, "order_id:>=2990"), 10);
    assert_eq!(count(&server, "esdoc AND module:order"), 1);
}

const OTEL_SDK: &str = r#"
import logging, sys
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

provider = LoggerProvider(resource=Resource.create({"service.name": "inventory-svc", "host.name": "inv-7"}))
exporter = OTLPLogExporter(endpoint=sys.argv[1] + "/v1/logs", compression=Compression.Gzip)
provider.add_log_record_processor(BatchLogRecordProcessor(exporter))
log = logging.getLogger("shop.inventory")
log.addHandler(LoggingHandler(level=logging.DEBUG, logger_provider=provider))
log.setLevel(logging.DEBUG)
log.propagate = False
for i in range(500):
    log.warning("stock low otelsdk sku=%d", i, extra={"sku": "A%d" % i})
log.error("reservation failed otelsdk-error")
provider.shutdown()
print("sent")
"#;

#[test]
fn opentelemetry_python_sdk_exports_logs() {
    let Some(python) = python_with("opentelemetry.exporter.otlp.proto.http") else { return };
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path());
    run_python(&python, OTEL_SDK, &[&format!("http://{}", server.addr)]);
    assert_eq!(wait_for_count(&server, "otelsdk", 501), 501);
    assert_eq!(count(&server, "otelsdk AND level:warn AND source:inventory-svc AND module:inventory"), 500);
    let hit = &server.search("sku:A7", "&aggs=false")["hits"][0];
    assert_eq!(hit["host"], "inv-7");
    assert_eq!(hit["fields"]["service.name"], "inventory-svc");
    assert_eq!(hit["fields"]["otel.scope.name"], "shop.inventory");
    let error = &server.search("otelsdk-error", "&aggs=false")["hits"][0];
    assert_eq!(error["level"], "error");
}

const OTEL_JS_SDK: &str = r#"
const { LoggerProvider, BatchLogRecordProcessor } = require('@opentelemetry/sdk-logs');
const { OTLPLogExporter } = require('@opentelemetry/exporter-logs-otlp-http');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const exporter = new OTLPLogExporter({ url: process.argv[1] + '/v1/logs' });
const provider = new LoggerProvider({
  resource: resourceFromAttributes({ 'service.name': 'checkout-web', 'host.name': 'web-9' }),
  processors: [new BatchLogRecordProcessor({ exporter })],
});
const logger = provider.getLogger('shop.checkout');
for (let i = 0; i < 300; i++) {
  const failed = i % 3 === 0;
  logger.emit({
    severityNumber: failed ? 17 : 9,
    severityText: failed ? 'ERROR' : 'INFO',
    body: `cart submit nodeotlp ${i}`,
    attributes: { 'http.response.status_code': failed ? 502 : 200, cart: `c${i}`, retry: i % 2 === 0, ratio: 0.5 },
  });
}
provider.shutdown().then(() => console.log('sent'), (e) => { console.error(e); process.exit(1); });
"#;

/// The OpenTelemetry JavaScript SDK's exporter sends OTLP/JSON (`$SLUICE_NODE_PATH`: the
/// node_modules `.ci/run` installs it into).
#[test]
fn opentelemetry_js_sdk_exports_logs_as_json() {
    let Some(modules) = std::env::var_os("SLUICE_NODE_PATH") else {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "CI must not skip: SLUICE_NODE_PATH is not set");
        eprintln!("SKIPPED: set SLUICE_NODE_PATH to a node_modules with @opentelemetry/sdk-logs (see .ci/run)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path());
    let output = Command::new("node")
        .args(["-e", OTEL_JS_SDK, &format!("http://{}", server.addr)])
        .env("NODE_PATH", modules)
        .output()
        .expect("run node");
    assert!(output.status.success(), "node exporter failed: {}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(wait_for_count(&server, "nodeotlp", 300), 300);
    assert_eq!(count(&server, "nodeotlp AND level:error AND http.response.status_code:502"), 100);
    assert_eq!(count(&server, "nodeotlp AND source:checkout-web AND module:order"), 300);
    let hit = &server.search("cart:c7", "&aggs=false")["hits"][0];
    assert_eq!((hit["host"].as_str(), hit["fields"]["retry"].as_bool()), (Some("web-9"), Some(false)));
    assert_eq!(hit["fields"]["ratio"], 0.5);
}

const LOKI_PUSH: &str = r#"
import gzip, json, sys, time, urllib.request
import cramjam
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

url = sys.argv[1] + "/loki/api/v1/push"
now = time.time_ns()

def post(body, headers):
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request) as response:
        assert response.status == 204, response.status

# JSON, gzip'd, as Grafana Alloy sends it.
streams = [{"stream": {"job": "edge-nginx", "env": "prod"},
            "values": [[str(now + i), '10.0.0.%d - - [20/Nov/2026:14:00:00 +0000] "POST /api/pay/confirm HTTP/1.1" 502 9 "-" "curl"' % (i % 250)]
                       for i in range(200)]}]
post(gzip.compress(json.dumps({"streams": streams}).encode()),
     {"Content-Type": "application/json", "Content-Encoding": "gzip"})

# Protobuf: logproto.PushRequest as Loki's push.proto numbers its fields, snappy block-compressed.
T = descriptor_pb2.FieldDescriptorProto
f = descriptor_pb2.FileDescriptorProto(name="push.proto", package="logproto", syntax="proto3")
def message(name, fields):
    m = f.message_type.add(name=name)
    for number, (field, kind, label, type_name) in enumerate(fields, 1):
        m.field.add(name=field, number=number, type=kind, label=label, type_name=type_name)
O, R = T.LABEL_OPTIONAL, T.LABEL_REPEATED
message("Timestamp", [("seconds", T.TYPE_INT64, O, None), ("nanos", T.TYPE_INT32, O, None)])
message("LabelPairAdapter", [("name", T.TYPE_STRING, O, None), ("value", T.TYPE_STRING, O, None)])
message("EntryAdapter", [("timestamp", T.TYPE_MESSAGE, O, ".logproto.Timestamp"), ("line", T.TYPE_STRING, O, None),
                         ("structuredMetadata", T.TYPE_MESSAGE, R, ".logproto.LabelPairAdapter")])
message("StreamAdapter", [("labels", T.TYPE_STRING, O, None), ("entries", T.TYPE_MESSAGE, R, ".logproto.EntryAdapter"),
                          ("hash", T.TYPE_UINT64, O, None)])
message("PushRequest", [("streams", T.TYPE_MESSAGE, R, ".logproto.StreamAdapter")])
pool = descriptor_pool.DescriptorPool()
pool.Add(f)
PushRequest = message_factory.GetMessageClass(pool.FindMessageTypeByName("logproto.PushRequest"))
push = PushRequest()
stream = push.streams.add(labels='{service_name="order-svc", level="error"}')
for i in range(300):
    entry = stream.entries.add(line="order %d lokipb failed" % i)
    entry.timestamp.seconds, entry.timestamp.nanos = divmod(now + i, 10**9)
    entry.structuredMetadata.add(name="trace_id", value="t%04d" % i)
post(bytes(cramjam.snappy.compress_raw(push.SerializeToString())), {"Content-Type": "application/x-protobuf"})
print("pushed")
"#;

#[test]
fn loki_push_in_both_encodings() {
    let Some(python) = python_with("cramjam") else { return };
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path());
    run_python(&python, LOKI_PUSH, &[&format!("http://{}", server.addr)]);
    assert_eq!(wait_for_count(&server, "status:502 AND source:edge-nginx AND module:payment", 200), 200);
    assert_eq!(wait_for_count(&server, "lokipb AND level:error AND source:order-svc AND module:order", 300), 300);
    assert_eq!(count(&server, "trace_id:t0042"), 1);
    assert_eq!(server.search("status:502", "&aggs=false&limit=1")["hits"][0]["fields"]["env"], "prod");
}

/// syslog-ng follows a file that a writer keeps appending to and ships every line to
/// `_bulk`; the index name is a configured logback source, so each line is parsed.
#[test]
fn syslog_ng_tails_a_file_into_bulk() {
    if Command::new("syslog-ng").arg("--version").output().is_err() {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "CI must not skip: syslog-ng is not installed");
        eprintln!(
            "SKIPPED: syslog-ng is not installed (apt-get install syslog-ng-core syslog-ng-mod-http syslog-ng-scl)"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path());
    let log = dir.path().join("app.log");
    std::fs::write(&log, "").unwrap();
    let conf = dir.path().join("syslog-ng.conf");
    std::fs::write(
        &conf,
        format!(
            r#"@version: 3.38
@include "scl.conf"
options {{ stats_freq(0); }};
source s_app {{ file("{log}" follow-freq(0.1) flags(no-parse)); }};
destination d_sluice {{
  elasticsearch-http(url("http://{addr}/_bulk") index("shop-app") type("") batch_lines(100) batch_timeout(200) workers(2));
}};
log {{ source(s_app); destination(d_sluice); }};
"#,
            log = log.display(),
            addr = server.addr
        ),
    )
    .unwrap();
    let mut shipper = Command::new("syslog-ng")
        .args(["-F", "--no-caps", "-f"])
        .arg(&conf)
        .arg(format!("--persist-file={}", dir.path().join("syslog-ng.persist").display()))
        .arg(format!("--pidfile={}", dir.path().join("syslog-ng.pid").display()))
        .arg(format!("--control={}", dir.path().join("syslog-ng.ctl").display()))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start syslog-ng");

    let lines = 2000;
    let mut file = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    for i in 0..lines {
        use std::io::Write;
        let (level, logger) = if i % 50 == 0 {
            ("ERROR", "com.shop.payment.PayService")
        } else {
            ("INFO", "com.shop.order.OrderService")
        };
        writeln!(
            file,
            "2026-11-20 14:{:02}:{:02}.{:03} [http-nio-8080-exec-{}] {level} {logger} - shipped-by-syslogng seq={i}",
            i / 60 % 60,
            i % 60,
            i % 1000,
            i % 8
        )
        .unwrap();
        if i % 100 == 99 {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    drop(file);
    let got = wait_for_count(&server, "shipped-by-syslogng", lines);
    let _ = shipper.kill();
    let output = shipper.wait_with_output().unwrap();
    assert_eq!(got, lines, "syslog-ng said:\n{}", String::from_utf8_lossy(&output.stderr));
    // Exactly once, parsed as logback, routed by logger.
    assert_eq!(count(&server, "\"seq=1234\""), 1);
    assert_eq!(count(&server, "shipped-by-syslogng AND level:error AND module:payment AND source:shop-app"), 40);
    let hit = &server.search("\"seq=7\"", "&aggs=false")["hits"][0];
    assert_eq!(hit["fields"]["logger"], "com.shop.order.OrderService");
    assert_eq!(hit["fields"]["thread"], "http-nio-8080-exec-7");
}

/// rsyslog follows a file with `imfile` and ships it with `omelasticsearch` in bulk mode.
#[test]
fn rsyslog_tails_a_file_into_bulk() {
    // Debian's rsyslog and syslog-ng packages conflict, so `.ci/run` unpacks rsyslog's
    // into a folder of its own: `$SLUICE_RSYSLOGD` and `$SLUICE_RSYSLOG_MODULES`.
    let rsyslogd = std::env::var("SLUICE_RSYSLOGD").unwrap_or_else(|_| "/usr/sbin/rsyslogd".into());
    if !Command::new(&rsyslogd).arg("-v").output().is_ok_and(|o| o.status.success()) {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "CI must not skip: {rsyslogd} does not run");
        eprintln!("SKIPPED: no rsyslogd (apt-get install rsyslog rsyslog-elasticsearch, or set SLUICE_RSYSLOGD)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path());
    let (host, port) = server.addr.rsplit_once(':').unwrap();
    let log = dir.path().join("access.log");
    std::fs::write(&log, "").unwrap();
    let work = dir.path().join("rsyslog");
    std::fs::create_dir_all(&work).unwrap();
    let conf = dir.path().join("rsyslog.conf");
    std::fs::write(
        &conf,
        format!(
            r#"global(workDirectory="{work}")
module(load="imfile")
module(load="omelasticsearch")
input(type="imfile" File="{log}" Tag="web" ruleset="ship")
template(name="doc" type="list" option.json="on") {{
  constant(value="{{\"@timestamp\":\"") property(name="timereported" dateFormat="rfc3339")
  constant(value="\",\"message\":\"") property(name="msg")
  constant(value="\",\"host\":\"") property(name="hostname")
  constant(value="\"}}")
}}
ruleset(name="ship") {{
  action(type="omelasticsearch" server="{host}" serverport="{port}" template="doc" searchIndex="shop-web"
         bulkmode="on" queue.type="linkedlist" queue.dequeuebatchsize="200" action.resumeretrycount="-1"
         errorfile="{work}/es-errors.json")
}}
"#,
            work = work.display(),
            log = log.display(),
        ),
    )
    .unwrap();
    let mut shipper = Command::new(&rsyslogd);
    if let Ok(modules) = std::env::var("SLUICE_RSYSLOG_MODULES") {
        shipper.arg("-M").arg(modules);
    }
    let mut shipper = shipper
        .args(["-n", "-f"])
        .arg(&conf)
        .arg("-i")
        .arg(work.join("rsyslogd.pid"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start rsyslogd");
    let lines = 1000;
    let mut file = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    for i in 0..lines {
        use std::io::Write;
        let status = if i % 10 == 0 { 502 } else { 200 };
        writeln!(
            file,
            r#"10.0.{}.{} - - [20/Nov/2026:14:{:02}:{:02} +0000] "POST /api/pay/confirm?ship=rsyslog-{i} HTTP/1.1" {status} 31 "-" "okhttp/4.12.0""#,
            i / 250,
            i % 250,
            i / 60 % 60,
            i % 60
        )
        .unwrap();
        if i % 100 == 99 {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    drop(file);
    let got = wait_for_count(&server, "source:shop-web", lines);
    let _ = shipper.kill();
    let output = shipper.wait_with_output().unwrap();
    let errors = std::fs::read_to_string(work.join("es-errors.json")).unwrap_or_default();
    assert_eq!(got, lines, "rsyslog said:\n{}\nerror file: {errors}", String::from_utf8_lossy(&output.stderr));
    assert!(errors.is_empty(), "rsyslog recorded failed requests: {errors}");
    // Parsed as nginx lines (the document's `message`), routed by path, exactly once.
    assert_eq!(count(&server, "source:shop-web AND status:502 AND module:payment"), 100);
    assert_eq!(count(&server, "\"rsyslog-123\""), 1);
    assert_eq!(count(&server, "source:shop-web AND parse_error:*"), 0);
}
