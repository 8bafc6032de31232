//! Identifiers that are unique by construction (bijections of the person
//! index), so that no two simulated people ever share an email, phone or id
//! by accident, while ids reveal nothing about who is who.

/// The splitmix64 finalizer: a bijection on u64 that scatters its input.
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A key per (seed, purpose), so ids differ between seeds and sources.
pub fn key(seed: u64, purpose: &str) -> u64 {
    purpose
        .bytes()
        .fold(mix64(seed ^ 0x006f_6e65_7669_6577), |acc, b| mix64(acc ^ u64::from(b)))
}

/// `PREFIX` + 16 hex digits, unique per (key, person, k) for k < 4096.
pub fn record_id(prefix: &str, key: u64, person: u64, k: u64) -> String {
    debug_assert!(k < 4096);
    format!("{prefix}{:016x}", mix64(((person << 12) | k) ^ key))
}

/// A bijection of [0, modulus) (multiplier coprime to the modulus).
pub fn scramble(x: u64, modulus: u64, offset: u64) -> u64 {
    const MULTIPLIER: u64 = 1_000_003; // prime, and no modulus used here is a multiple
    debug_assert!(!modulus.is_multiple_of(MULTIPLIER));
    ((x % modulus) * (MULTIPLIER % modulus) % modulus + offset % modulus) % modulus
}

/// US exchanges a real number may use: not N11, not 555, not service codes.
fn us_exchanges() -> &'static [u16] {
    static LIST: std::sync::LazyLock<Vec<u16>> = std::sync::LazyLock::new(|| {
        (200u16..1000)
            .filter(|e| e % 100 != 11 && !matches!(e, 555 | 950 | 958 | 959 | 976))
            .collect()
    });
    &LIST
}

/// The seven subscriber digits of a US number, unique for slot < ~7.8M.
pub fn us_subscriber(slot: u64, offset: u64) -> (u16, u16) {
    let exchanges = us_exchanges();
    let modulus = exchanges.len() as u64 * 10_000;
    let x = scramble(slot, modulus, offset);
    (exchanges[(x / 10_000) as usize], (x % 10_000) as u16)
}

/// Eight digits of a UK mobile number, unique for slot < 10^8.
pub fn uk_subscriber(slot: u64, offset: u64) -> u32 {
    scramble(slot, 100_000_000, offset) as u32
}

/// A number with `digits` digits, unique for x < 10^digits.
pub fn tag_number(x: u64, digits: u32, offset: u64) -> u64 {
    scramble(x, 10u64.pow(digits), offset)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn scramble_is_a_bijection() {
        let m = 10_000;
        let seen: HashSet<u64> = (0..m).map(|x| scramble(x, m, 77)).collect();
        assert_eq!(seen.len() as u64, m);
    }

    #[test]
    fn phone_slots_are_unique_and_valid() {
        let mut seen = HashSet::new();
        for slot in 0..50_000 {
            let (exchange, line) = us_subscriber(slot, 12345);
            assert!(exchange >= 200 && exchange % 100 != 11 && exchange != 555);
            assert!(seen.insert((exchange, line)));
        }
    }

    #[test]
    fn record_ids_do_not_collide() {
        let k = key(1, "orders");
        let ids: HashSet<String> = (0..2000u64)
            .flat_map(|p| (0..8).map(move |i| record_id("O", k, p, i)))
            .collect();
        assert_eq!(ids.len(), 16_000);
    }
}
