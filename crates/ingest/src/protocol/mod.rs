//! The wire formats log shippers push, decoded into documents and records for a source's
//! parser. Pure decoding: answering the shipper is the server's job.

pub mod bulk;
pub mod loki;
pub mod otlp;

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::{bulk, loki, otlp};

    proptest! {
        /// Whatever a client sends, decoding answers (an error is fine), never panics.
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..4096)) {
            let _ = bulk::parse(&data, Some("p"));
            for encoding in [loki::Encoding::Json, loki::Encoding::Protobuf, loki::Encoding::SnappyProtobuf] {
                let _ = loki::decode(&data, encoding, 1 << 20);
            }
            let _ = otlp::decode(&data, true);
            let _ = otlp::decode(&data, false);
        }

        /// Bulk bodies that look like bulk bodies: every action line is an item or an error.
        #[test]
        fn bulk_like_bodies_never_panic(lines in proptest::collection::vec(
            prop_oneof![
                Just("{\"index\":{}}".to_owned()),
                Just("{\"create\":{\"_index\":\"x\"}}".to_owned()),
                Just("{\"delete\":{\"_id\":\"1\"}}".to_owned()),
                "\\PC{0,40}",
                Just("{\"message\":\"m\"}".to_owned()),
            ],
            0..20,
        )) {
            let _ = bulk::parse(lines.join("\n").as_bytes(), Some("p"));
        }
    }
}
