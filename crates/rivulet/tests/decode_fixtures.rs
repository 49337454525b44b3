//! The decoder against the recorded streams in `fixtures/`: every split of the
//! bytes gives the same packets, and every cut of a stream is an error.

use std::path::PathBuf;

use proptest::prelude::*;
use rivulet::Format;
use rivulet::decode::{DecodeError, Decoder, Event};

struct Fixture {
    name: String,
    format: Format,
    bytes: Vec<u8>,
    events: Vec<Event>,
}

fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

/// Every recorded stream, with its expected packets.
fn fixtures() -> Vec<Fixture> {
    let mut all = Vec::new();
    let mut names: Vec<String> = std::fs::read_dir(fixtures_dir())
        .expect("fixtures/ exists")
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".events.json").map(str::to_owned)
        })
        .collect();
    names.sort();
    assert!(names.len() >= 5, "fixtures are missing: {names:?}");
    for name in names {
        let dir = fixtures_dir();
        let events: Vec<Event> = serde_json::from_slice(
            &std::fs::read(dir.join(format!("{name}.events.json"))).unwrap(),
        )
        .unwrap();
        for format in Format::ALL {
            let bytes = std::fs::read(dir.join(format!("{name}.{}", format.name()))).unwrap();
            all.push(Fixture {
                name: format!("{name}.{format}"),
                format,
                bytes,
                events: events.clone(),
            });
        }
    }
    all
}

/// Decodes `bytes` fed in pieces cut at `cuts` (sorted offsets).
fn decode_split(format: Format, bytes: &[u8], cuts: &[usize]) -> Result<Vec<Event>, DecodeError> {
    let mut decoder = Decoder::new(format);
    let mut out = Vec::new();
    let mut start = 0;
    for &cut in cuts.iter().chain(std::iter::once(&bytes.len())) {
        decoder.feed(&bytes[start..cut], &mut out)?;
        start = cut;
    }
    decoder.finish(&mut out)?;
    Ok(out)
}

#[test]
fn every_two_way_split_decodes_the_same() {
    for f in fixtures() {
        for cut in 0..=f.bytes.len() {
            let got = decode_split(f.format, &f.bytes, &[cut])
                .unwrap_or_else(|e| panic!("{} cut at {cut}: {e}", f.name));
            assert_eq!(got, f.events, "{} cut at {cut}", f.name);
        }
    }
}

#[test]
fn byte_by_byte_decodes_the_same() {
    for f in fixtures() {
        let cuts: Vec<usize> = (1..f.bytes.len()).collect();
        assert_eq!(
            decode_split(f.format, &f.bytes, &cuts).unwrap(),
            f.events,
            "{}",
            f.name
        );
    }
}

/// Line ends other than LF, and a byte order mark, change nothing in the text
/// formats.
#[test]
fn line_end_variants_and_bom_decode_the_same() {
    for f in fixtures()
        .into_iter()
        .filter(|f| f.format != Format::Legacy)
    {
        let text = String::from_utf8(f.bytes.clone()).unwrap();
        let mut variants = vec![text.replace('\n', "\r\n"), format!("\u{feff}{text}")];
        if f.format == Format::Sse {
            variants.push(text.replace('\n', "\r"));
        }
        for variant in variants {
            let bytes = variant.as_bytes();
            for cut in 0..=bytes.len() {
                assert_eq!(
                    decode_split(f.format, bytes, &[cut]).unwrap(),
                    f.events,
                    "{} variant cut at {cut}",
                    f.name
                );
            }
        }
    }
}

/// A stream cut at any byte is an error, never a `done`: the decoder waits for a
/// packet's terminator (SSE, NDJSON) or finds its JSON unfinished (legacy final).
#[test]
fn every_cut_is_an_error() {
    for f in fixtures() {
        for end in 0..f.bytes.len() {
            let cut = &f.bytes[..end];
            match Decoder::decode_all(f.format, cut) {
                Err(_) => {}
                Ok(events) => panic!("{} cut at {end} decoded as {events:?}", f.name),
            }
        }
    }
}

#[test]
fn a_packet_over_the_limit_is_refused_without_buffering_it() {
    for format in Format::ALL {
        let mut decoder = Decoder::with_max_packet_bytes(format, 1024);
        let mut out = Vec::new();
        let head: &[u8] = match format {
            Format::Sse => b"data: \"",
            Format::Ndjson => b"{\"progress\":\"",
            Format::Legacy => b"100000\0s",
        };
        let result = decoder.feed(head, &mut out).and_then(|()| {
            for _ in 0..100 {
                decoder.feed(&[b'x'; 64], &mut out)?;
            }
            Ok(())
        });
        assert!(
            matches!(result, Err(DecodeError::TooLarge { limit: 1024 })),
            "{format}: {result:?}"
        );
    }
}

#[test]
fn malformed_input_is_an_error() {
    let cases: &[(Format, &[u8])] = &[
        (Format::Sse, b"data: {not json}\n\n"),
        (
            Format::Sse,
            b"event: error\ndata: \"not an error object\"\n\n",
        ),
        (Format::Ndjson, b"{\"progress\":1,\"done\":2}\n"),
        (Format::Ndjson, b"[1,2]\n"),
        (Format::Ndjson, b"{\"surprise\":1}\n"),
        (Format::Legacy, b"zz\0sabc"),
        (Format::Legacy, b"3\0xabc"),
        (Format::Legacy, b"\0q{}"),
        (Format::Legacy, b"\0e{\"no\":\"error\"}"),
    ];
    for (format, bytes) in cases {
        assert!(
            Decoder::decode_all(*format, bytes).is_err(),
            "{format}: {:?} decoded",
            String::from_utf8_lossy(bytes)
        );
    }
}

/// One stream of `fixtures/invalid/`, with what decoding it must give.
#[derive(serde::Deserialize)]
struct Expected {
    /// `ok`, or the kind of error: `truncated`, `json`, `malformed`, `too_large`.
    outcome: String,
    /// The packets delivered before the outcome.
    events: Vec<Event>,
    max_packet_bytes: Option<usize>,
}

/// The outcome's name for a decoder's result, as `fixtures/invalid/expected.json`
/// and the JavaScript `ParseError.kind` write it.
fn outcome(result: &Result<(), DecodeError>) -> &'static str {
    match result {
        Ok(()) => "ok",
        Err(DecodeError::Truncated) => "truncated",
        Err(DecodeError::Json(_)) => "json",
        Err(DecodeError::Malformed(_)) => "malformed",
        Err(DecodeError::TooLarge { .. }) => "too_large",
        Err(other) => panic!("a decode error without a fixture name: {other:?}"),
    }
}

/// Decodes `bytes` fed in two pieces cut at `cut`: the packets delivered and
/// how the stream ended.
fn decode_two(
    format: Format,
    limit: usize,
    bytes: &[u8],
    cut: usize,
) -> (Vec<Event>, &'static str) {
    let mut decoder = Decoder::with_max_packet_bytes(format, limit);
    let mut out = Vec::new();
    let result = decoder
        .feed(&bytes[..cut], &mut out)
        .and_then(|()| decoder.feed(&bytes[cut..], &mut out))
        .and_then(|()| decoder.finish(&mut out));
    (out, outcome(&result))
}

/// The streams of `fixtures/invalid/` (and valid ones with CR or CRLF line
/// ends), which `js/test/parser.test.js` replays too: split at every offset,
/// each gives the packets and the outcome `expected.json` names.
#[test]
fn invalid_fixtures_decode_as_expected_at_every_split() {
    let dir = fixtures_dir().join("invalid");
    let expected: std::collections::BTreeMap<String, Expected> =
        serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap();
    assert!(expected.len() >= 20, "invalid fixtures are missing");
    for (name, want) in &expected {
        let format: Format = name.rsplit('.').next().unwrap().parse().unwrap();
        let bytes = std::fs::read(dir.join(name)).unwrap();
        let limit = want
            .max_packet_bytes
            .unwrap_or(rivulet::DEFAULT_MAX_PACKET_BYTES);
        for cut in 0..=bytes.len() {
            let (events, got) = decode_two(format, limit, &bytes, cut);
            assert_eq!(got, want.outcome, "{name} split at {cut}");
            assert_eq!(events, want.events, "{name} split at {cut}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Any number of cuts anywhere, including inside multi-byte characters.
    #[test]
    fn any_split_decodes_the_same(seed_cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..40)) {
        for f in fixtures() {
            let mut cuts: Vec<usize> = seed_cuts.iter().map(|i| i.index(f.bytes.len() + 1)).collect();
            cuts.sort_unstable();
            prop_assert_eq!(decode_split(f.format, &f.bytes, &cuts).unwrap(), f.events.clone(), "{}", f.name);
        }
    }
}

/// How many inputs the fuzz run tries: 2,000 in the test suite;
/// `RIVULET_FUZZ_CASES=1000000` for a long run (docs/reliability.md).
fn fuzz_cases() -> u32 {
    std::env::var("RIVULET_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000)
}

/// Bytes that look like the protocol: field names, separators, digits, NULs,
/// JSON punctuation, multi-byte characters and random bytes, in any order.
fn hostile_bytes() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        Just(b"data: ".to_vec()),
        Just(b"event: done\n".to_vec()),
        Just(b"event: error\n".to_vec()),
        Just(b"id: 7\n".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\0".to_vec()),
        Just(b"{\"progress\":".to_vec()),
        Just(b"{\"done\":".to_vec()),
        Just(b"{\"error\":{\"message\":\"m\",\"status\":500}}".to_vec()),
        Just(b"\"\xC3\xA9\xF0\x9F\x8C\x8A\"".to_vec()),
        Just(b"ff".to_vec()),
        Just(b"a".to_vec()),
        Just(b"s".to_vec()),
        Just(b"e".to_vec()),
        Just(b"}".to_vec()),
        proptest::collection::vec(any::<u8>(), 1..8),
    ];
    proptest::collection::vec(token, 0..64).prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(fuzz_cases()))]

    /// Hostile input never panics any decoder, whatever the split, and a decoder
    /// that reports `done` saw a final packet last.
    #[test]
    fn hostile_bytes_never_panic(bytes in hostile_bytes(), cut in any::<prop::sample::Index>()) {
        for format in Format::ALL {
            let cut = cut.index(bytes.len() + 1);
            if let Ok(events) = decode_split(format, &bytes, &[cut]) {
                prop_assert!(events.last().is_some_and(Event::is_final));
                prop_assert_eq!(events.iter().filter(|e| e.is_final()).count(), 1);
            }
        }
    }
}
