//! `[orders]`: the transactions RFM and lifetime value are computed from,
//! with its validation and the readers of its dates and horizon.

use serde::Deserialize;

/// `[orders]`: the transactions RFM and lifetime value are computed from.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrdersConfig {
    /// The table holding one row per order.
    pub table: String,
    /// Column or SQL expression giving the customer key.
    pub customer: String,
    /// Column or SQL expression giving when the order was placed.
    #[serde(default = "default_ordered_at")]
    pub ordered_at: String,
    /// Column or SQL expression giving the order's value.
    pub amount: String,
    /// The date the scores are computed at (`2026-01-01` or an RFC 3339
    /// timestamp); orders after it are ignored. Default: now.
    pub as_of: Option<String>,
    /// The time unit of recency, T and the BG/NBD model (default week).
    #[serde(default)]
    pub unit: OrdersUnit,
    /// The horizon of expected purchases and CLV, with its unit (default `12 months`).
    pub horizon: Option<String>,
    /// Discount rate per period of the horizon's unit (default 0.01).
    pub discount_rate: Option<f64>,
    /// Key orders by their resolved customer when `[identity]` reads the
    /// orders table (default true).
    #[serde(default = "yes")]
    pub use_identity: bool,
}

fn default_ordered_at() -> String {
    "ordered_at".into()
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrdersUnit {
    Day,
    #[default]
    Week,
    Month,
}

impl OrdersUnit {
    pub fn name(self) -> &'static str {
        match self {
            OrdersUnit::Day => "day",
            OrdersUnit::Week => "week",
            OrdersUnit::Month => "month",
        }
    }

    /// Seconds per unit; a month is a twelfth of a Julian year, as in the udfs crate.
    pub fn seconds(self) -> f64 {
        match self {
            OrdersUnit::Day => 86_400.0,
            OrdersUnit::Week => 7.0 * 86_400.0,
            OrdersUnit::Month => 365.25 / 12.0 * 86_400.0,
        }
    }
}

impl OrdersConfig {
    /// Checks the section against the project's tables; one sentence naming the key.
    pub fn validate(&self, tables: &[&str]) -> Result<(), String> {
        if !tables.contains(&self.table.as_str()) {
            return Err(format!(
                "key `orders.table` names `{}`, which is not a table of the project; expected one of: {}",
                self.table,
                if tables.is_empty() {
                    "(no tables declared)".to_string()
                } else {
                    tables.join(", ")
                }
            ));
        }
        for (key, value) in [
            ("customer", &self.customer),
            ("ordered_at", &self.ordered_at),
            ("amount", &self.amount),
        ] {
            if value.trim().is_empty() {
                return Err(format!(
                    "key `orders.{key}` is empty; expected a column name or SQL expression"
                ));
            }
        }
        if let Some(as_of) = &self.as_of {
            parse_as_of(as_of).map_err(|e| format!("key `orders.as_of`: {e}"))?;
        }
        if let Some(horizon) = &self.horizon {
            parse_horizon(horizon).map_err(|e| format!("key `orders.horizon`: {e}"))?;
        }
        if let Some(rate) = self.discount_rate
            && !(0.0..1.0).contains(&rate)
        {
            return Err(format!(
                "key `orders.discount_rate` is {rate}; expected a rate per period from 0 to below 1, e.g. 0.01"
            ));
        }
        Ok(())
    }
}

/// `2026-01-01` (midnight UTC) or an RFC 3339 timestamp.
pub fn parse_as_of(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    let text = text.trim();
    if let Ok(date) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(date.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc());
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|_| format!("`{text}` is not a date; expected YYYY-MM-DD or an RFC 3339 timestamp"))
}

/// `12 months`, `52 weeks`, `1 year`: a count and a unit, as a number of
/// days (a month is a twelfth of a Julian year, as in the udfs crate).
pub fn parse_horizon(text: &str) -> Result<f64, String> {
    let bad = || format!("`{text}` is not a horizon; expected a number and a unit such as `12 months` or `52 weeks`");
    let mut parts = text.split_whitespace();
    let (Some(count), Some(unit), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    let count: f64 = count.parse().map_err(|_| bad())?;
    if !(count > 0.0 && count.is_finite()) {
        return Err(bad());
    }
    let days = match unit.to_ascii_lowercase().trim_end_matches('s') {
        "day" => 1.0,
        "week" => 7.0,
        "month" => 365.25 / 12.0,
        "year" => 365.25,
        _ => return Err(bad()),
    };
    Ok(count * days)
}
