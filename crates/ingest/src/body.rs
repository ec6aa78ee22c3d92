//! Request bodies as shippers send them: maybe gzip'd, newline-delimited.

use std::io::Read;

use crate::IngestError;

/// Undoes `Content-Encoding` (gzip/deflate/identity), refusing to inflate past `limit`.
pub fn decode(body: &[u8], content_encoding: Option<&str>, limit: usize) -> Result<Vec<u8>, IngestError> {
    let encoding = content_encoding.unwrap_or("identity").trim().to_ascii_lowercase();
    let reader: Box<dyn Read + '_> = match encoding.as_str() {
        "" | "identity" => {
            if body.len() > limit {
                return Err(IngestError::TooLarge { limit });
            }
            return Ok(body.to_vec());
        }
        "gzip" | "x-gzip" => Box::new(flate2::read::MultiGzDecoder::new(body)),
        "deflate" => Box::new(flate2::read::ZlibDecoder::new(body)),
        "zstd" => Box::new(
            zstd::stream::read::Decoder::new(body)
                .map_err(|e| IngestError::BadBody(format!("cannot decode zstd body: {e}")))?,
        ),
        "snappy" => return snappy(body, limit),
        other => {
            return Err(IngestError::BadBody(format!(
                "unsupported Content-Encoding `{other}` (use gzip, zstd, snappy, deflate or identity)"
            )));
        }
    };
    let mut out = Vec::with_capacity(body.len() * 4);
    let read = reader
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| IngestError::BadBody(format!("cannot decode {encoding} body: {e}")))?;
    if read > limit {
        return Err(IngestError::TooLarge { limit });
    }
    Ok(out)
}

/// Snappy's block format, as Prometheus remote write and Loki's protobuf push use it.
pub fn snappy(body: &[u8], limit: usize) -> Result<Vec<u8>, IngestError> {
    let len =
        snap::raw::decompress_len(body).map_err(|e| IngestError::BadBody(format!("cannot decode snappy body: {e}")))?;
    if len > limit {
        return Err(IngestError::TooLarge { limit });
    }
    snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| IngestError::BadBody(format!("cannot decode snappy body: {e}")))
}

/// Lines of a body with their 1-based line numbers, skipping blank lines.
pub fn lines(body: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    body.split(|&b| b == b'\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l.strip_suffix(b"\r").unwrap_or(l)))
        .filter(|(_, l)| !l.iter().all(u8::is_ascii_whitespace))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn gzip_round_trip_and_bomb_limit() {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&vec![b'a'; 10_000]).unwrap();
        let gz = enc.finish().unwrap();
        assert_eq!(decode(&gz, Some("gzip"), 10_000).unwrap().len(), 10_000);
        assert!(matches!(decode(&gz, Some("gzip"), 9_999), Err(IngestError::TooLarge { .. })));
        assert!(matches!(decode(b"xx", Some("br"), 10), Err(IngestError::BadBody(_))));
        assert!(matches!(decode(b"not gzip", Some("gzip"), 10), Err(IngestError::BadBody(_))));
    }

    #[test]
    fn zstd_and_snappy() {
        let text = b"one line\nanother line\n".repeat(100);
        let z = zstd::encode_all(&text[..], 3).unwrap();
        assert_eq!(decode(&z, Some("zstd"), text.len()).unwrap(), text);
        assert!(matches!(decode(&z, Some("zstd"), text.len() - 1), Err(IngestError::TooLarge { .. })));
        let s = snap::raw::Encoder::new().compress_vec(&text).unwrap();
        assert_eq!(decode(&s, Some("snappy"), text.len()).unwrap(), text);
        assert!(matches!(decode(&s, Some("snappy"), 10), Err(IngestError::TooLarge { .. })));
    }

    #[test]
    fn numbered_lines() {
        let got: Vec<_> = lines(b"a\r\n\n  \nb").collect();
        assert_eq!(got, vec![(1, &b"a"[..]), (4, &b"b"[..])]);
    }
}
