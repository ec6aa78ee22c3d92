//! What shippers push: Elasticsearch `_bulk`, Loki pushes (JSON, protobuf, snappy
//! protobuf) and OTLP exports (protobuf, JSON) never panic on arbitrary bytes, and the
//! body decoders never inflate past the limit (zstd and snappy too).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_ingest::body;
use sluice_ingest::protocol::{bulk, loki, otlp};

fuzz_target!(|data: &[u8]| {
    let _ = bulk::parse(data, Some("fuzz"));
    for encoding in [loki::Encoding::Json, loki::Encoding::Protobuf, loki::Encoding::SnappyProtobuf] {
        let _ = loki::decode(data, encoding, 1 << 20);
    }
    let _ = otlp::decode(data, true);
    let _ = otlp::decode(data, false);
    for encoding in ["zstd", "snappy"] {
        if let Ok(decoded) = body::decode(data, Some(encoding), 1 << 20) {
            assert!(decoded.len() <= 1 << 20);
        }
    }
});
