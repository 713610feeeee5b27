//! Ids and times that look like the service's: UUIDs from a counter (random-looking, yet the same from
//! run to run) and ISO 8601 timestamps, without a date crate.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::calendar::civil_from_days;

/// A bijective 64-bit mix, so that ids look random but repeat from run to run.
pub(super) fn splitmix(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A version-4-shaped UUID from a counter.
pub(super) fn uuid(n: u64) -> String {
    let (a, b) = (splitmix(n), splitmix(!n));
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | ((b >> 48) & 0x3fff),
        b & 0xffff_ffff_ffff
    )
}

pub(super) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// An ISO 8601 UTC timestamp with the service's seven fractional digits.
pub(super) fn timestamp(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let (days, secs) = (since.as_secs() / 86_400, since.as_secs() % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:07}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60,
        since.subsec_nanos() / 100
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_ids() {
        let id = uuid(1);
        assert_eq!(id.len(), 36);
        assert_eq!(id.as_bytes()[14], b'4');
        assert_ne!(uuid(1), uuid(2));
        assert!(timestamp(UNIX_EPOCH).starts_with("1970-01-01T00:00:00.0000000Z"));
    }
}
