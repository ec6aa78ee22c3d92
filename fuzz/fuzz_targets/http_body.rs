//! Request bodies as shippers send them: decoding (gzip, deflate) and line splitting never
//! panic and never inflate past the limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_ingest::body;

fuzz_target!(|data: &[u8]| {
    for encoding in [None, Some("gzip"), Some("deflate"), Some("br")] {
        if let Ok(decoded) = body::decode(data, encoding, 1 << 20) {
            assert!(decoded.len() <= 1 << 20);
            for (n, line) in body::lines(&decoded) {
                assert!(n >= 1 && !line.contains(&b'\n'));
            }
        }
    }
});
