//! `[identity]` in `oneview.toml`: the sources, what their columns are, the
//! guards and the survivorship rules. Parsed with serde; checked against the
//! project's tables here and against their columns when the records are read.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::util::is_plain_identifier;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityConfig {
    /// The tables whose records are resolved, by source name.
    pub sources: BTreeMap<String, SourceConfig>,
    /// Settings per identifier kind (`email`, `phone`, `user_id`, …).
    #[serde(default)]
    pub identifiers: BTreeMap<String, IdentifierConfig>,
    /// Region for phone numbers without a country code (default `US`).
    pub default_region: Option<String>,
    /// Gmail's equivalences for emails (dots, googlemail.com; default true).
    pub gmail_rules: Option<bool>,
    /// Records one customer may hold; a link that would make a bigger
    /// cluster is refused and counted (default 5000).
    pub max_cluster_size: Option<usize>,
    /// Patterns for junk values of every identifier, checked after
    /// normalization, in addition to the defaults unless `default_blocked = false`.
    #[serde(default)]
    pub blocked_patterns: Vec<String>,
    pub default_blocked: Option<bool>,
    /// Attribute → rule for the golden record: `most_recent`,
    /// `most_frequent` or `source_priority` (default `most_frequent`).
    #[serde(default)]
    pub survivorship: BTreeMap<String, Survivorship>,
    /// Which records may link directly: within and across sources (the
    /// default), across sources only, or within each source only.
    pub link_type: Option<LinkType>,
    /// Fellegi–Sunter matching on the attributes, after the deterministic links.
    pub probabilistic: Option<ProbabilisticConfig>,
    /// Whether a run keeps what a later run with only new files needs to
    /// grow it instead of resolving everything (default true).
    pub incremental: Option<bool>,
    /// With `probabilistic`: the share of the customers a growing run may
    /// link again before it resolves everything instead, which is then
    /// faster (default 0.02).
    pub max_share_linked_again: Option<f64>,
}

/// Splink's link types: which pairs of records are compared and linked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkType {
    /// Every pair: duplicates within a source are found, and sources are linked.
    #[default]
    LinkAndDedupe,
    /// Only pairs of records from different sources: each source is taken
    /// as free of duplicates (two registries, a CRM and a list).
    LinkOnly,
    /// Only pairs of records from one source: each source deduplicated alone.
    DedupeOnly,
}

impl LinkType {
    pub fn name(self) -> &'static str {
        match self {
            LinkType::LinkAndDedupe => "link_and_dedupe",
            LinkType::LinkOnly => "link_only",
            LinkType::DedupeOnly => "dedupe_only",
        }
    }
}

/// `[identity.probabilistic]`: blocking, comparisons, threshold and guards.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbabilisticConfig {
    /// OR-ed blocking rules: each a list of keys (`BLOCKING_KEYS`) whose
    /// values must be equal for a pair to be scored, e.g. `[["last_name", "postcode"]]`
    /// (default: `DEFAULT_BLOCKING`).
    pub blocking: Option<Vec<Vec<String>>>,
    /// The comparisons scored (default: every one some source can feed).
    pub compare: Option<Vec<String>>,
    /// Match probability from which a pair is linked (default 0.9).
    pub threshold: Option<f64>,
    /// Pairs one blocking rule may make; a rule that would make more is
    /// refused and reported, a default one replaced by narrower rules
    /// (default 20,000,000).
    pub max_pairs: Option<u64>,
    /// Comparisons whose agreement on a value is weighted by the value's
    /// frequency: exact names or date, the city for `location` (default
    /// first_name, last_name, location).
    pub term_frequency: Option<Vec<String>>,
    /// Random pairs drawn to estimate u (default 1,000,000).
    pub sample_pairs: Option<usize>,
    /// The trained model, a JSON file in the project (default
    /// `identity_model.json`); reused when present, made by the first run
    /// or by `oneview resolve --train`.
    pub model: Option<String>,
    /// A link below this probability is weak (default 0.99): it may not join
    /// two clusters that both already hold more than `max_weak_join`
    /// records (default 20), which stops chains of weak links.
    pub strong_link: Option<f64>,
    pub max_weak_join: Option<usize>,
}

/// What the probabilistic model compares, after normalization; `location`
/// is address, postcode, city and region together.
pub const COMPARISONS: &[&str] = &["first_name", "last_name", "date_of_birth", "location"];

/// What blocking rules may require to be equal.
pub const BLOCKING_KEYS: &[&str] = &[
    "first_name",
    "last_name",
    "date_of_birth",
    "postcode",
    "address",
    "city",
    // First and last name in either order.
    "names",
    "region",
    // The sounds (Double Metaphone) of the first and last name in either order.
    "name_sounds",
];

/// The blocking rules when none are configured: each key alone where it is
/// cheap (its blocks make no more than `max_pairs` pairs), with narrower
/// rules — the key with another — in its place where it is not; the given
/// name with the city, which finds the duplicates whose surname, date of
/// birth and postcode all changed; and the names in either order, which
/// finds those whose first and last names were swapped; and the sounds of
/// the names, which finds those whose names were both mistyped (and whose
/// date of birth and place changed too). A rule over a key no source maps
/// is left out.
pub const DEFAULT_BLOCKING: &[(&[&str], &[&[&str]])] = &[
    (
        &["last_name"],
        &[
            &["last_name", "first_name"],
            &["last_name", "postcode"],
            &["last_name", "date_of_birth"],
        ],
    ),
    (
        &["date_of_birth"],
        &[&["date_of_birth", "first_name"], &["date_of_birth", "postcode"]],
    ),
    (&["postcode"], &[&["postcode", "first_name"], &["postcode", "address"]]),
    (&["address"], &[&["address", "last_name"]]),
    (&["first_name", "city"], &[]),
    (&["names"], &[]),
    (&["name_sounds"], &[&["name_sounds", "city"]]),
];

/// A blocking rule: the keys that must be equal, and the narrower rules
/// used in its place when it would make more than `max_pairs` pairs
/// (none for a configured rule, which is refused then).
#[derive(Debug, Clone, PartialEq)]
pub struct BlockingRule {
    pub keys: Vec<String>,
    pub fallbacks: Vec<Vec<String>>,
    /// A default rule, left out where no source maps one of its keys (a
    /// configured rule is reported with no pairs instead).
    pub default: bool,
}

impl ProbabilisticConfig {
    /// The configured rules, or the default ones (`DEFAULT_BLOCKING`).
    pub fn blocking_rules(&self) -> Vec<BlockingRule> {
        let owned = |keys: &[&str]| keys.iter().map(|k| k.to_string()).collect::<Vec<_>>();
        match &self.blocking {
            Some(rules) => rules
                .iter()
                .map(|keys| BlockingRule {
                    keys: keys.clone(),
                    fallbacks: Vec::new(),
                    default: false,
                })
                .collect(),
            None => DEFAULT_BLOCKING
                .iter()
                .map(|(keys, fallbacks)| BlockingRule {
                    keys: owned(keys),
                    fallbacks: fallbacks.iter().map(|f| owned(f)).collect(),
                    default: true,
                })
                .collect(),
        }
    }
}

/// `[identity.sources.NAME]`: one table and the meaning of its columns.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// The project table (default: the source's name).
    pub table: Option<String>,
    /// Column or expression identifying a record within the source.
    pub record_id: String,
    /// Identifier kind → column or SQL expression.
    #[serde(default)]
    pub identifiers: BTreeMap<String, String>,
    /// Attribute → column or SQL expression (names, date of birth, address …).
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// Region of this source's phone numbers: a quoted code (`'GB'`) or an
    /// expression per row (default: `[identity] default_region`).
    pub phone_region: Option<String>,
    /// When a record was last updated, for `most_recent` survivorship.
    pub updated_at: Option<String>,
    /// Rank for `source_priority` survivorship: lower wins (default 100).
    pub priority: Option<u32>,
}

/// `[identity.identifiers.KIND]`: guards and priority of one identifier kind.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentifierConfig {
    /// Values that never link (compared after normalization).
    #[serde(default)]
    pub blocked: Vec<String>,
    /// Patterns of values that never link.
    #[serde(default)]
    pub blocked_patterns: Vec<String>,
    /// Kind → most distinct values of that kind the records sharing one value
    /// may carry; more, and the value does not link (a device used by many
    /// logged-in people, an email shared across accounts).
    #[serde(default)]
    pub max_distinct: BTreeMap<String, usize>,
    /// Records one value may link; more, and it does not link.
    pub max_records: Option<usize>,
    /// A value whose records carry clearly different first names (not
    /// equal, nicknames, close spellings or an initial) is shared by several
    /// people, such as a family email: it links only records whose first
    /// names agree, and records without a first name not at all.
    #[serde(default)]
    pub split_by_first_name: bool,
    /// Lower links first, so a capped cluster keeps its strongest links.
    pub priority: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Survivorship {
    MostRecent,
    MostFrequent,
    SourcePriority,
}

/// The attributes a source may map, in the golden record's column order.
pub const ATTRIBUTES: &[&str] = &[
    "first_name",
    "last_name",
    "full_name",
    "date_of_birth",
    "gender",
    "address",
    "city",
    "region",
    "postcode",
    "country",
];

pub const DEFAULT_MAX_CLUSTER_SIZE: usize = 5000;
pub const DEFAULT_SOURCE_PRIORITY: u32 = 100;

/// The default order in which identifier kinds link: the most specific first.
pub fn default_priority(kind: &str) -> u32 {
    match kind {
        "user_id" => 10,
        "national_id" => 15,
        "loyalty_id" => 20,
        "email" => 30,
        "phone" => 40,
        "handle" => 50,
        "anonymous_id" => 90,
        _ => 60,
    }
}

impl SourceConfig {
    fn maps_a_first_name(&self) -> bool {
        self.attributes.contains_key("first_name") || self.attributes.contains_key("full_name")
    }
}

impl IdentityConfig {
    /// Whether attributes are normalized for comparison: for the
    /// probabilistic model, and for first names that split shared values.
    pub fn compares_attributes(&self) -> bool {
        self.probabilistic.is_some() || self.identifiers.values().any(|i| i.split_by_first_name)
    }

    pub fn identifier(&self, kind: &str) -> IdentifierConfig {
        self.identifiers.get(kind).cloned().unwrap_or_default()
    }

    pub fn priority(&self, kind: &str) -> u32 {
        self.identifiers
            .get(kind)
            .and_then(|c| c.priority)
            .unwrap_or_else(|| default_priority(kind))
    }

    /// Every identifier kind some source maps, in linking order.
    pub fn kinds(&self) -> Vec<String> {
        let mut kinds: Vec<String> = self
            .sources
            .values()
            .flat_map(|s| s.identifiers.keys().cloned())
            .collect();
        kinds.sort();
        kinds.dedup();
        kinds.sort_by_key(|k| self.priority(k));
        kinds
    }

    pub fn link_type(&self) -> LinkType {
        self.link_type.unwrap_or_default()
    }

    pub fn max_cluster_size(&self) -> usize {
        self.max_cluster_size.unwrap_or(DEFAULT_MAX_CLUSTER_SIZE)
    }

    pub fn survivorship(&self, attribute: &str) -> Survivorship {
        self.survivorship
            .get(attribute)
            .copied()
            .unwrap_or(Survivorship::MostFrequent)
    }
}

impl SourceConfig {
    pub fn table<'a>(&'a self, name: &'a str) -> &'a str {
        self.table.as_deref().unwrap_or(name)
    }
}

impl IdentityConfig {
    /// Checks `[identity]` against the project's tables; one sentence naming the key.
    pub fn validate(&self, tables: &[&str]) -> Result<(), String> {
        if self.sources.is_empty() {
            return Err(
                "[identity] has no sources; expected at least one [identity.sources.NAME] with a table and its identifier columns"
                    .into(),
            );
        }
        if self.link_type() == LinkType::LinkOnly && self.sources.len() < 2 {
            return Err(
                "key `identity.link_type` is \"link_only\", which links records of different sources, but [identity] has one source; expected two or more, or \"link_and_dedupe\" to deduplicate one table"
                    .into(),
            );
        }
        for (name, source) in &self.sources {
            source.validate(name, tables)?;
        }
        let kinds = self.kinds();
        for (kind, config) in &self.identifiers {
            config.validate(kind, &kinds, self)?;
        }
        for pattern in &self.blocked_patterns {
            regex::Regex::new(pattern).map_err(|e| {
                format!("key `identity.blocked_patterns`: `{pattern}` is not a regular expression ({e})")
            })?;
        }
        if self.max_share_linked_again.is_some_and(|s| !(0.0..=1.0).contains(&s)) {
            return Err("key `identity.max_share_linked_again` is not between 0 and 1; expected a share of the customers, e.g. 0.02".into());
        }
        if self.max_cluster_size.is_some_and(|n| n < 2) {
            return Err("key `identity.max_cluster_size` is below 2; expected at least 2 records per customer".into());
        }
        for attribute in self.survivorship.keys() {
            if !ATTRIBUTES.contains(&attribute.as_str()) && !kinds.contains(attribute) {
                return Err(format!(
                    "key `identity.survivorship.{attribute}` is neither a mapped identifier nor an attribute; expected one of: {}, {}",
                    kinds.join(", "),
                    ATTRIBUTES.join(", ")
                ));
            }
        }
        if let Some(p) = &self.probabilistic {
            validate_probabilistic(p)?;
        }
        if let Some(region) = &self.default_region
            && !oneview_udfs::normalize::is_phone_region(region)
        {
            return Err(format!(
                "key `identity.default_region` is `{region}`; expected a two-letter region code such as US or GB"
            ));
        }
        Ok(())
    }
}

impl SourceConfig {
    /// Checks one source's table and mappings.
    fn validate(&self, name: &str, tables: &[&str]) -> Result<(), String> {
        if !is_plain_identifier(name) {
            return Err(format!(
                "source name `{name}` in [identity.sources.{name}] is not a plain name; expected lower-case letters, digits and underscores"
            ));
        }
        let table = self.table(name);
        if !tables.contains(&table) {
            let key = if self.table.is_some() {
                format!("key `identity.sources.{name}.table`")
            } else {
                format!("source `{name}` (no `table` key, so its own name)")
            };
            return Err(format!(
                "{key} names `{table}`, which is not a table of the project; expected one of: {}",
                if tables.is_empty() {
                    "(no tables declared)".to_string()
                } else {
                    tables.join(", ")
                }
            ));
        }
        if self.record_id.trim().is_empty() {
            return Err(format!(
                "key `identity.sources.{name}.record_id` is empty; expected the column that identifies a record"
            ));
        }
        if self.identifiers.is_empty() && self.attributes.is_empty() {
            return Err(format!(
                "[identity.sources.{name}] maps no columns; expected `identifiers` (email, phone, user_id, …) or `attributes` (names, date_of_birth, …)"
            ));
        }
        for (kind, expr) in &self.identifiers {
            if !is_plain_identifier(kind) {
                return Err(format!(
                    "identifier kind `{kind}` in [identity.sources.{name}.identifiers] is not a plain name; expected e.g. email, phone, user_id, anonymous_id"
                ));
            }
            if ["customer_id", "records", "sources"].contains(&kind.as_str()) || ATTRIBUTES.contains(&kind.as_str()) {
                return Err(format!(
                    "identifier kind `{kind}` in [identity.sources.{name}.identifiers] is taken by a column of the golden record or an attribute; choose another name, e.g. crm_id"
                ));
            }
            if expr.trim().is_empty() {
                return Err(format!(
                    "key `identity.sources.{name}.identifiers.{kind}` is empty; expected a column or SQL expression"
                ));
            }
        }
        for (attribute, expr) in &self.attributes {
            if !ATTRIBUTES.contains(&attribute.as_str()) {
                return Err(format!(
                    "key `identity.sources.{name}.attributes.{attribute}` is not an attribute oneview knows; expected one of: {}",
                    ATTRIBUTES.join(", ")
                ));
            }
            if expr.trim().is_empty() {
                return Err(format!(
                    "key `identity.sources.{name}.attributes.{attribute}` is empty; expected a column or SQL expression"
                ));
            }
        }
        Ok(())
    }
}

impl IdentifierConfig {
    /// Checks one identifier kind's guards against the kinds sources map.
    fn validate(&self, kind: &str, kinds: &[String], identity: &IdentityConfig) -> Result<(), String> {
        if !kinds.iter().any(|k| k == kind) {
            return Err(format!(
                "[identity.identifiers.{kind}] configures `{kind}`, which no source maps; expected one of: {}",
                kinds.join(", ")
            ));
        }
        for pattern in &self.blocked_patterns {
            regex::Regex::new(pattern).map_err(|e| {
                format!(
                    "key `identity.identifiers.{kind}.blocked_patterns`: `{pattern}` is not a regular expression ({e})"
                )
            })?;
        }
        for (other, limit) in &self.max_distinct {
            if !kinds.contains(other) {
                return Err(format!(
                    "key `identity.identifiers.{kind}.max_distinct.{other}` names `{other}`, which no source maps; expected one of: {}",
                    kinds.join(", ")
                ));
            }
            if *limit == 0 {
                return Err(format!(
                    "key `identity.identifiers.{kind}.max_distinct.{other}` is 0; expected at least 1"
                ));
            }
        }
        if self.split_by_first_name && !identity.sources.values().any(|s| s.maps_a_first_name()) {
            return Err(format!(
                "key `identity.identifiers.{kind}.split_by_first_name` is true, but no source maps a first_name or full_name attribute; expected one that does"
            ));
        }
        if self.max_records.is_some_and(|n| n < 2) {
            return Err(format!(
                "key `identity.identifiers.{kind}.max_records` is below 2; expected at least 2 records to link"
            ));
        }
        Ok(())
    }
}

fn validate_probabilistic(p: &ProbabilisticConfig) -> Result<(), String> {
    let known = |key: &str, name: &str| -> Result<(), String> {
        let names = if key == "blocking" { BLOCKING_KEYS } else { COMPARISONS };
        if names.contains(&name) {
            Ok(())
        } else {
            Err(format!(
                "key `identity.probabilistic.{key}` names `{name}`, which is not a {}; expected one of: {}",
                if key == "blocking" {
                    "blocking key"
                } else {
                    "comparison"
                },
                names.join(", ")
            ))
        }
    };
    if let Some(rules) = &p.blocking
        && (rules.is_empty() || rules.iter().any(Vec::is_empty))
    {
        return Err(
            "key `identity.probabilistic.blocking` needs at least one non-empty rule, e.g. [[\"last_name\", \"postcode\"]] (or leave it out for the default rules)"
                .into(),
        );
    }
    for rule in p.blocking.iter().flatten() {
        for name in rule {
            known("blocking", name)?;
        }
    }
    for name in p.compare.iter().flatten() {
        known("compare", name)?;
    }
    for name in p.term_frequency.iter().flatten() {
        known("term_frequency", name)?;
    }
    for (key, value) in [("threshold", p.threshold), ("strong_link", p.strong_link)] {
        if let Some(v) = value
            && !(v > 0.0 && v < 1.0)
        {
            return Err(format!(
                "key `identity.probabilistic.{key}` is {v}; expected a probability between 0 and 1, e.g. 0.95"
            ));
        }
    }
    if p.sample_pairs.is_some_and(|n| n < 1000) {
        return Err(
            "key `identity.probabilistic.sample_pairs` is below 1000; expected enough random pairs to estimate u"
                .into(),
        );
    }
    Ok(())
}
