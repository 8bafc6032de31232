//! The process's memory as the system tells it (Linux's `/proc/self/status`;
//! elsewhere, nothing).

/// The resident memory now, in megabytes.
pub fn resident_megabytes() -> Option<u64> {
    status_kilobytes("VmRSS:").map(|kb| kb / 1024)
}

/// The peak resident memory so far, in bytes.
pub fn peak_resident() -> Option<u64> {
    status_kilobytes("VmHWM:").map(|kb| kb * 1024)
}

/// A figure of the process's status in kilobytes.
fn status_kilobytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
