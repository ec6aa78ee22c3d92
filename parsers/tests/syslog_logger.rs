//! Syslog lines as a real client formats them: util-linux `logger` sends RFC 3164 and
//! RFC 5424 datagrams to a UDP socket this test holds; the syslog parser reads them.

use std::net::UdpSocket;
use std::process::Command;
use std::time::Duration;

use chrono::Utc;
use sluice_core::{Config, Event, FormatName, Level, SourceConfig};
use sluice_parsers::{ModuleRouter, Parser};

fn logger_line(socket: &UdpSocket, args: &[&str]) -> Option<String> {
    let port = socket.local_addr().unwrap().port().to_string();
    let status = Command::new("logger").args(["--udp", "--server", "127.0.0.1", "--port", &port]).args(args).status();
    match status {
        Ok(s) if s.success() => {}
        _ => {
            assert!(std::env::var("CI").as_deref() != Ok("true"), "CI needs util-linux `logger` (Debian bsdutils)");
            eprintln!("SKIPPED: no working `logger` (install util-linux/bsdutils)");
            return None;
        }
    }
    let mut buf = [0u8; 8192];
    let n = socket.recv(&mut buf).expect("logger's datagram");
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

fn parse(line: &str) -> Event {
    let source = SourceConfig::adhoc("syslog", FormatName::Syslog);
    let mut parser = Parser::for_source(&Config::default(), &source, ModuleRouter::default(), "h", Utc::now()).unwrap();
    let mut out = Vec::new();
    parser.parse_all(line.as_bytes(), &mut out);
    assert_eq!(out.len(), 1, "{line}");
    out.pop().unwrap()
}

#[test]
fn real_rfc3164_and_rfc5424_lines() {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let cases: [(&[&str], &str, Level, &str); 3] = [
        (
            &[
                "--rfc3164",
                "-t",
                "sshd",
                "-p",
                "auth.info",
                "--id=2101",
                "Accepted publickey for deploy from 10.0.0.9 port 52211 ssh2",
            ],
            "sshd",
            Level::Info,
            "Accepted publickey for deploy from 10.0.0.9 port 52211 ssh2",
        ),
        (
            &["--rfc3164", "-t", "kernel", "-p", "kern.warning", "Out of memory: Killed process 4242 (java)"],
            "kernel",
            Level::Warn,
            "Out of memory: Killed process 4242 (java)",
        ),
        (
            &[
                "--rfc5424",
                "-t",
                "payment",
                "-p",
                "local0.err",
                "--msgid",
                "TX",
                "--sd-id",
                "meta@32473",
                "--sd-param",
                "order=\"77\"",
                "card declined",
            ],
            "payment",
            Level::Error,
            "card declined",
        ),
    ];
    for (args, app, level, message) in cases {
        let Some(line) = logger_line(&socket, args) else { return };
        let event = parse(&line);
        assert!(!event.fields.contains_key("parse_error"), "{line}");
        assert_eq!(event.field_str("app"), Some(app), "{line}");
        assert_eq!(event.level, level, "{line}");
        assert_eq!(event.message, message, "{line}");
        assert!(!event.host.is_empty(), "{line}");
        let age = Utc::now() - event.timestamp;
        assert!(age.num_seconds().abs() < 300, "{line}: timestamp {}", event.timestamp);
        if args.contains(&"--id=2101") {
            assert_eq!(event.field_str("pid"), Some("2101"));
        }
        if args.contains(&"--rfc5424") {
            assert_eq!(event.field_str("msgid"), Some("TX"));
            assert!(event.field_str("structured_data").unwrap().contains("order=\"77\""), "{line}");
        }
    }
}
