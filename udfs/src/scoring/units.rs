//! Time units, explicit everywhere a model meets a horizon, so that a model
//! fitted in weeks is never silently fed months.

use datafusion::common::{Result, exec_err};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Unit {
    Day,
    Week,
    Month,
    Year,
}

impl Unit {
    pub fn parse(function: &str, text: &str) -> Result<Unit> {
        // Compared without a lower-case copy: called for every row of a column.
        let word = text.trim();
        let singular = word.strip_suffix(['s', 'S']).unwrap_or(word);
        [Unit::Day, Unit::Week, Unit::Month, Unit::Year]
            .into_iter()
            .find(|unit| singular.eq_ignore_ascii_case(unit.name()))
            .map_or_else(
                || {
                    exec_err!(
                        "{function}: unknown time unit '{}'; expected day, week, month or year",
                        singular.to_ascii_lowercase()
                    )
                },
                Ok,
            )
    }

    pub fn name(self) -> &'static str {
        match self {
            Unit::Day => "day",
            Unit::Week => "week",
            Unit::Month => "month",
            Unit::Year => "year",
        }
    }

    /// Length in days; a month is a twelfth of a Julian year (30.4375 days).
    pub fn days(self) -> f64 {
        match self {
            Unit::Day => 1.0,
            Unit::Week => 7.0,
            Unit::Month => 365.25 / 12.0,
            Unit::Year => 365.25,
        }
    }

    /// How many `self` units one `other` unit is.
    pub fn per(self, other: Unit) -> f64 {
        other.days() / self.days()
    }
}

/// A horizon such as '12 months' or '1 year': a count and a unit.
pub fn parse_horizon(function: &str, text: &str) -> Result<(f64, Unit)> {
    let mut words = text.split_whitespace();
    let (Some(count), Some(unit), None) = (words.next(), words.next(), words.next()) else {
        return exec_err!("{function}: horizon '{text}' should be a count and a unit, e.g. '12 months'");
    };
    let Ok(count) = count.parse::<f64>() else {
        return exec_err!("{function}: horizon '{text}' should start with a number");
    };
    if !(count >= 0.0 && count.is_finite()) {
        return exec_err!("{function}: horizon '{text}' must not be negative");
    }
    Ok((count, Unit::parse(function, unit)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        assert_eq!(Unit::Day.per(Unit::Week), 7.0);
        assert!((Unit::Week.per(Unit::Month) - 4.348_214).abs() < 1e-6);
        assert_eq!(parse_horizon("f", "12 months").unwrap(), (12.0, Unit::Month));
        assert_eq!(parse_horizon("f", "1 year").unwrap(), (1.0, Unit::Year));
        assert!(parse_horizon("f", "12").is_err());
        assert!(parse_horizon("f", "12 fortnights").is_err());
        assert!(parse_horizon("f", "-1 week").is_err());
    }
}
