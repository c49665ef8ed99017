//! HDR histogram settings of `src/simulator/histogram.ts`: microseconds, 1 µs .. 60 s, 3 significant
//! digits; serialized as hdr-histogram-js's `encodeIntoCompressedBase64` does ("V2 compressed":
//! the V2 encoding, zlib-deflated, base64), so `decodeFromCompressedBase64` reads it and the
//! coordinator merges the workers' histograms exactly.
use base64::Engine as _;
use hdrhistogram::serialization::{Serializer, V2DeflateSerializer};
use hdrhistogram::Histogram;

pub const LOWEST_MICROS: u64 = 1;
pub const HIGHEST_MICROS: u64 = 60_000_000;

pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(LOWEST_MICROS, HIGHEST_MICROS, 3).expect("valid histogram bounds")
}

/// Record a latency, clamped into the trackable range as `recordMicros` does.
#[inline]
pub fn record_micros(h: &mut Histogram<u64>, micros: u64) {
    h.saturating_record(micros.clamp(LOWEST_MICROS, HIGHEST_MICROS));
}

/// The compressed base64 form; "" for an empty histogram (as the TypeScript tally sends).
pub fn encode(h: &Histogram<u64>, scratch: &mut Vec<u8>) -> String {
    if h.is_empty() {
        return String::new();
    }
    scratch.clear();
    V2DeflateSerializer::new()
        .serialize(h, scratch)
        .expect("serializing into memory cannot fail");
    base64::engine::general_purpose::STANDARD.encode(scratch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdrhistogram::serialization::Deserializer;

    #[test]
    fn round_trips_and_clamps() {
        let mut h = latency_histogram();
        for v in [0, 1, 150, 2_500, 1_000_000, 90_000_000] {
            record_micros(&mut h, v);
        }
        assert_eq!(h.len(), 6, "six values");
        assert_eq!(h.min(), 1, "0 is clamped to 1 µs");
        assert!(
            h.max() >= HIGHEST_MICROS && h.max() < HIGHEST_MICROS + HIGHEST_MICROS / 500,
            "90 s is clamped to 60 s: {}",
            h.max()
        );
        let mut scratch = Vec::new();
        let text = encode(&h, &mut scratch);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .expect("base64");
        let back: Histogram<u64> = Deserializer::new()
            .deserialize(&mut &bytes[..])
            .expect("decodes");
        assert_eq!(back, h, "the same counts come back");
        assert_eq!(
            encode(&latency_histogram(), &mut scratch),
            "",
            "an empty histogram is sent as an empty string"
        );
    }
}
