//! The wire formats log shippers push, decoded into documents and records for a source's
//! parser. Pure decoding: answering the shipper is the server's job.

pub mod bulk;
pub mod loki;
pub mod otlp;
