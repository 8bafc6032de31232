//! Sizes as people write them in flags and configuration.

/// Parses sizes such as `512M`, `2G`, `1.5GB` or a plain number of bytes.
pub fn parse_size(text: &str) -> Result<usize, String> {
    let t = text.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size; expected a number with an optional unit such as 512M or 2G"))?;
    let factor: f64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1.0,
        "K" | "KB" | "KIB" => 1024.0,
        "M" | "MB" | "MIB" => 1024.0 * 1024.0,
        "G" | "GB" | "GIB" => 1024.0 * 1024.0 * 1024.0,
        "T" | "TB" | "TIB" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        other => {
            return Err(format!("`{other}` is not a size unit; expected K, M, G or T"));
        }
    };
    let bytes = number * factor;
    if bytes < 1.0 {
        return Err(format!("`{text}` is too small for a memory limit"));
    }
    Ok(bytes as usize)
}

/// Which way `human` rounds: a limit down, a need up.
#[derive(Clone, Copy)]
pub enum Round {
    Up,
    Down,
}

/// A size as people read it: `2 KB`, `310 MB`, `4.7 GB`. A limit is
/// rounded down and a need up, so that a need just past a limit never
/// reads as the limit itself.
pub fn human(bytes: usize, round: Round) -> String {
    const KB: usize = 1 << 10;
    const MB: usize = 1 << 20;
    const GB: usize = 1 << 30;
    let (unit, name) = match bytes {
        b if b >= GB => (GB as f64 / 10.0, "GB"),
        b if b >= MB => (MB as f64, "MB"),
        _ => (KB as f64, "KB"),
    };
    let units = bytes as f64 / unit;
    let units = match round {
        Round::Up => units.ceil(),
        Round::Down => units.floor(),
    } as u64;
    if name == "GB" {
        format!("{}.{} GB", units / 10, units % 10)
    } else {
        format!("{units} {name}")
    }
}

#[cfg(test)]
mod tests {
    use super::{Round, human, parse_size};

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512M").unwrap(), 512 << 20);
        assert_eq!(parse_size("2G").unwrap(), 2 << 30);
        assert_eq!(parse_size("1.5GB").unwrap(), 3 << 29);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert!(parse_size("lots").is_err());
        assert!(parse_size("3X").is_err());
    }

    #[test]
    fn a_need_past_the_limit_never_reads_as_the_limit() {
        const GB: usize = 1 << 30;
        assert_eq!(human(4 * GB, Round::Up), "4.0 GB");
        assert_eq!(human(4 * GB + 1, Round::Up), "4.1 GB");
        // --memory-limit 4.25G against a need just above it.
        let limit = 4 * GB + GB / 4;
        assert_eq!(human(limit, Round::Down), "4.2 GB");
        assert_eq!(human(limit + 1, Round::Up), "4.3 GB");
        assert_eq!(human(310 << 20, Round::Up), "310 MB");
        assert_eq!(human((310 << 20) + 1, Round::Up), "311 MB");
        assert_eq!(human((310 << 20) + 1, Round::Down), "310 MB");
        assert_eq!(human(2048, Round::Up), "2 KB");
    }
}
