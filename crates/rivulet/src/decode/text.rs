//! JSON text of the SSE and NDJSON formats, as every decoder reads it.

use serde::de::DeserializeOwned;

/// Parses `bytes` as JSON. Bytes that are not UTF-8 are read as a browser
/// reads the stream (WHATWG "UTF-8 decode"): each maximal invalid sequence
/// becomes U+FFFD, as `EventSource` and `TextDecoder` do, so that the Rust and
/// JS decoders give the same packet. Valid text, the usual case, is parsed
/// once; only a failed parse looks at the encoding.
pub(crate) fn json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, serde_json::Error> {
    match serde_json::from_slice(bytes) {
        Err(e) if std::str::from_utf8(bytes).is_err() => {
            serde_json::from_str(&String::from_utf8_lossy(bytes)).map_err(|_| e)
        }
        result => result,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn invalid_utf8_reads_as_replacement_characters() {
        let value: Value = json(b"\"caf\xe9 \xf0\x9f\x8c\"").unwrap();
        assert_eq!(value, "caf\u{fffd} \u{fffd}");
        assert!(json::<Value>(b"1\xff").is_err());
    }
}
