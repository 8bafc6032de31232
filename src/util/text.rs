//! Names and positions in text the user wrote.

/// Whether `name` is a plain lower-case SQL name: a letter or underscore,
/// then letters, digits and underscores. Tables, segments, reports and
/// sources are named this way, so they never need quoting.
pub fn is_plain_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// 1-based line of a byte offset.
pub fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_identifiers_are_lower_case_sql_names() {
        assert!(is_plain_identifier("orders_2026"));
        assert!(is_plain_identifier("_staging"));
        assert!(!is_plain_identifier("Orders"));
        assert!(!is_plain_identifier("2026_orders"));
        assert!(!is_plain_identifier("web-events"));
        assert!(!is_plain_identifier(""));
    }

    #[test]
    fn lines_count_from_one() {
        assert_eq!(line_of("a\nb\nc", 0), 1);
        assert_eq!(line_of("a\nb\nc", 2), 2);
        assert_eq!(line_of("a\nb\nc", 99), 3);
    }
}
