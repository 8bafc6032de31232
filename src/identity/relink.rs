//! The customers a growing run links again (`regroup`), done: which they
//! are, worked out against the identity state (`customers`: the values
//! split by first name they hold, and who else holds those); their
//! records read back from the sources (`read_back`), linked as a full run
//! would link them (`graph::link_again`, the values a guard stopped over
//! all records told), given ids by the stable-id rules against the ids
//! they had, and their golden records, state rows, winners, links and
//! edges made by the full run's own code (`link`). The growing run writes
//! these in place of the part's old customers.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, UInt16Type, UInt64Type};
use datafusion::common::{HashMap, HashSet};
use datafusion::prelude::SessionContext;
use url::Url;

use super::budget::Budget;
use super::golden;
use super::graph::{self, ValueStatus};
use super::grow::{Before, Growth};
use super::ids::{self, Change, IdChange, Previous, format_id};
use super::kept_profiles;
use super::outputs::{self, NO_RULE, Strongest};
use super::probabilistic::model::Model;
use super::probabilistic::profiles::FIELDS;
use super::probabilistic::reach;
use super::probabilistic::{self, Decisions, decide};
use super::read_back;
use super::records::Records;
use super::regroup::{self, Part, SplitValue};
use super::state::{self, Row};
use super::winners::{self, Slot};
use super::words::Words;
use crate::error::Result;
use crate::project::identity::{IdentityConfig, ProbabilisticConfig};

/// Bytes of links read at once when they are counted.
const EDGES_READ: usize = 1 << 16;

/// Rounds of reading the state for holders of values split by first name
/// before a growing run leaves the customers to a full run.
const MAX_ROUNDS: usize = 4;

/// The customers to link again, with every row of the state they hold,
/// and the values their records carry that a guard stopped over all
/// records (as all the value's rows say: a customer's row of a value can
/// say linked from before the value's later records came).
pub struct Customers {
    pub part: Part,
    pub rows: Vec<Row>,
    pub stopped: HashSet<(String, String)>,
}

/// The part the growth regroups, with the customers of `start`, closed
/// over the values split by first name its customers hold (read from the
/// state's `files`, newest first), with their rows; or why a full run is
/// needed.
pub async fn customers(
    ctx: &SessionContext,
    files: &[Url],
    (growth, new, before): (&Growth, &Records, &Before<'_>),
    start: &Part,
) -> Result<std::result::Result<Customers, String>> {
    let mut split: HashMap<u64, Vec<SplitValue>> = HashMap::new();
    let mut rows: BTreeMap<u64, Vec<Row>> = BTreeMap::new();
    // What each identifier value the part's customers hold does, over all
    // its rows, and for one split by first name the customers holding it.
    let mut values: HashMap<(String, String), (ValueStatus, Vec<u64>)> = HashMap::new();
    for _ in 0..MAX_ROUNDS {
        let part = regroup::part(growth, new, before, start, |c| {
            split.get(&c).cloned().unwrap_or_default()
        });
        let unread: HashSet<u64> = part.old.iter().filter(|c| !rows.contains_key(c)).copied().collect();
        if unread.is_empty() {
            let stopped = values
                .into_iter()
                .filter(|(_, (status, _))| *status == ValueStatus::Stopped)
                .map(|(value, _)| value)
                .collect();
            let rows = rows.into_values().flatten().collect();
            return Ok(Ok(Customers { part, rows, stopped }));
        }
        let read = state::read_rows(ctx, files, |c, _| unread.contains(&c)).await?;
        for &c in &unread {
            rows.insert(c, Vec::new());
        }
        // Every row of each value these customers' rows say linked (or
        // linked by first name): another row of it may say more. A row that
        // says stopped or blocked settles the value on its own.
        for r in read.iter().filter(|r| r.status == Some(ValueStatus::Stopped)) {
            values.insert((r.column.clone(), r.value.clone()), (ValueStatus::Stopped, Vec::new()));
        }
        let wanted: HashSet<(String, String)> = read
            .iter()
            .filter(|r| matches!(r.status, Some(ValueStatus::Linked | ValueStatus::Split)))
            .map(|r| (r.column.clone(), r.value.clone()))
            .filter(|value| !values.contains_key(value))
            .collect();
        let keys: HashSet<u64> = wanted.iter().map(|(c, v)| state::key(c, v)).collect();
        let holders = match keys.is_empty() {
            true => Vec::new(),
            false => state::read_rows(ctx, files, |_, key| keys.contains(&key)).await?,
        };
        let mut by_value: HashMap<(String, String), Vec<&Row>> = HashMap::new();
        for r in &holders {
            let value = (r.column.clone(), r.value.clone());
            if wanted.contains(&value) {
                by_value.entry(value).or_default().push(r);
            }
        }
        for (value, held) in by_value {
            if let Some(known) = state::known(held.iter().copied()) {
                // Only a value split by first name needs its holders.
                let customers = match known.status {
                    ValueStatus::Split => held.iter().map(|r| r.customer).collect(),
                    _ => Vec::new(),
                };
                values.insert(value, (known.status, customers));
            }
        }
        for r in read.iter().filter(|r| r.status.is_some()) {
            let key = (r.column.clone(), r.value.clone());
            if let Some((ValueStatus::Split, customers)) = values.get(&key) {
                split
                    .entry(r.customer)
                    .or_default()
                    .push((key.0, key.1, customers.clone()));
            }
        }
        for r in read {
            rows.entry(r.customer).or_default().push(r);
        }
    }
    Ok(Err(format!(
        "the customers to link again hold values split by first name that other customers hold, past {MAX_ROUNDS} rounds"
    )))
}

/// The part linked again: what the growing run writes for its customers.
pub struct Linked {
    /// The golden records of the customers the part is now.
    pub customers: Vec<RecordBatch>,
    /// Their rows of the state, and the rows of the part's old customers'
    /// values they hold no more (gone).
    pub values: Vec<RecordBatch>,
    pub winners: Vec<RecordBatch>,
    pub links: Vec<RecordBatch>,
    pub edges: Vec<RecordBatch>,
    /// With the model: the part's profiles (after a row with no value for
    /// each of its old customers) and the weak links refused among them.
    pub profiles: Vec<RecordBatch>,
    pub refused: Vec<RecordBatch>,
    /// The splits (and merges) of the part's old customers, for the log.
    pub changes: Vec<IdChange>,
    /// The part's old customers joined to others (a first name that made
    /// two people one): absorbed, survivor.
    pub merged: Vec<(u64, u64)>,
    /// The part's records (source, record id): their rows of the links
    /// and edges are written again.
    pub records: Vec<(String, String)>,
    /// Links the new records among the part's made, per rule.
    pub rules: Vec<(String, u64)>,
    /// New ids given (above `highest`) and the customers the part is now.
    pub new_ids: u64,
    /// The ids of the growth's new customers (`others`; 0 for those in
    /// the part), numbered with the part's new ones.
    pub growth_ids: Vec<u64>,
    pub customers_now: u64,
    pub highest: u64,
}

/// With `[identity.probabilistic]`: the saved model, blocking's decisions
/// of the run grown, and the profiles and refusals that hold in it.
pub struct WithModel<'a> {
    pub p: &'a ProbabilisticConfig,
    pub model: &'a Model,
    pub decisions: &'a Decisions,
    pub current: &'a kept_profiles::Current,
}

impl WithModel<'_> {
    /// Whether blocking decides over the profiles as they are now (the
    /// part's old customers' replaced by the part's, `texts`) as it did:
    /// else the pairs of customers outside the part change too.
    fn same_decisions(
        &self,
        old: &BTreeSet<u64>,
        texts: impl Iterator<Item = [Option<String>; FIELDS]>,
    ) -> std::result::Result<(), String> {
        let now: Vec<[Option<String>; FIELDS]> = texts.collect();
        let kept = self
            .current
            .profiles
            .iter()
            .filter(|(c, _)| !old.contains(c))
            .map(|(_, t)| t);
        let decided = decide(&reach::profiles_of(kept.chain(&now)), self.p);
        if decided == *self.decisions {
            return Ok(());
        }
        Err(if decided.fields != self.decisions.fields {
            "the new records bring a value no profile had, which the model now compares".into()
        } else {
            "the new records change which blocking rules max_pairs refuses".into()
        })
    }
}

/// Where the part's records are: the sources' tables (`ctx`), the
/// committed run's links (`ctx`'s `identity_links`), the configuration
/// file (for errors about a source's columns).
pub struct ReadFrom<'a> {
    pub ctx: &'a SessionContext,
    pub config_file: &'a Path,
}

/// Links the part again (`customers`). New ids follow `highest`, the
/// highest the committed run gave, shared with the growth's other new
/// customers (`others`, `number_new`). `Err`: why a full run is needed
/// instead.
pub async fn link(
    from: ReadFrom<'_>,
    config: &IdentityConfig,
    (growth, new, customers): (&Growth, &Records, &Customers),
    (highest, others): (u64, &[Option<FirstRecord>]),
    with_model: Option<&WithModel<'_>>,
    budget: &mut Budget,
) -> Result<std::result::Result<Linked, String>> {
    let part = &customers.part;
    // The ids the part's old records have, and the records to read back.
    let old = old_records(from.ctx, &part.old).await?;
    let mut ids: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (source, record_id, _) in &old {
        ids.entry(source.clone()).or_default().insert(record_id.clone());
    }
    let mut new_keys: HashSet<(&str, &str)> = HashSet::new();
    for source in &new.sources {
        for row in 0..source.len {
            if part.holds(growth.homes[(source.offset + row as u32) as usize]) {
                ids.entry(source.name.clone())
                    .or_default()
                    .insert(source.record_id(row).to_string());
                new_keys.insert((&source.name, source.record_id(row)));
            }
        }
    }
    let new_here = new_keys.len();
    let Some(records) = read_back::read(from.ctx, config, from.config_file, &ids, budget).await? else {
        return Ok(Err("two identity sources read one table".into()));
    };
    if records.len as usize != old.len() + new_here {
        return Ok(Err(format!(
            "{} records of the customers to link again were read back of {}",
            records.len,
            old.len() + new_here
        )));
    }
    // What the run knows now of each value: the growth's, else the state's.
    let mut stopped = customers.stopped.clone();
    for ((kind, value), known) in &growth.values {
        let key = (kind.clone(), value.clone());
        match known.status == ValueStatus::Stopped {
            true => stopped.insert(key),
            false => stopped.remove(&key),
        };
    }
    let is_stopped = |kind: &str, value: &str| stopped.contains(&(kind.to_string(), value.to_string()));
    let mut graph = graph::link_again(&records, config, budget, &is_stopped)?;
    let past_size =
        "the customers linked again would pass max_cluster_size, whose refusals depend on the order of links";
    // Which links a full run refuses depends on the order of all links.
    if !graph.guards.max_cluster_size.is_empty() {
        return Ok(Err(past_size.into()));
    }
    let by_model = match with_model {
        None => None,
        Some(with) => {
            let linked = probabilistic::link_part(
                &records,
                &mut graph,
                config,
                with.p,
                (with.model, with.decisions),
                budget,
            )?;
            if linked.refused_size > 0 {
                return Ok(Err(past_size.into()));
            }
            if let Err(why) = with.same_decisions(&part.old, linked.kept.texts(&records)) {
                return Ok(Err(why));
            }
            Some(linked)
        }
    };
    graph.edges.finish()?;
    let n = records.len as usize;
    let mut previous = Previous::none(records.len);
    previous.highest = highest;
    previous.add_links(
        &records,
        old.iter().map(|(s, r, c)| (s.as_str(), r.as_str(), c.as_str())),
    )?;
    let mut cluster_of = Words::held(vec![0; n]);
    let numbered = ids::number_clusters(&mut graph, &mut cluster_of);
    let clusters = ids::assign(&graph, (cluster_of, numbered), &previous, Words::held(vec![0; n]))?;
    let (clusters, growth_ids) = number_new(clusters, &records, highest, others);
    let golden = golden::build(&records, &graph, &clusters, config, (true, Words::held(vec![0; n])));
    let mut kept = Vec::new();
    let customers_rows = golden
        .batches(
            |_| Ok(usize::MAX),
            |k| {
                kept.push(k);
                Ok(())
            },
        )
        .collect::<Result<Vec<_>>>()?;
    drop(golden);
    let (mut values, winners): (Vec<RecordBatch>, Vec<RecordBatch>) =
        kept.into_iter().map(|k| (k.values, k.winners)).unzip();
    values.push(gone_rows(&customers.rows, &values)?);
    let mut winners = winners;
    winners.push(no_winners(&part.old, golden::columns(config).len(), &winners)?);
    let strongest = Strongest {
        rules: Words::held(vec![NO_RULE; n]),
        probabilities: Words::held(vec![0; n]),
    };
    let links = outputs::links(&records, &graph, &clusters, strongest)?.collect::<Result<Vec<_>>>()?;
    let edges = outputs::edges(&records, &graph, &clusters)?.collect::<Result<Vec<_>>>()?;
    // The part's profiles and refusals, in place of its old customers'.
    let (profiles, refused) = match &by_model {
        None => (Vec::new(), Vec::new()),
        Some(linked) => {
            let mut profiles = vec![kept_profiles::tombstones(part.old.iter().copied())?];
            profiles.extend(kept_profiles::batches(&linked.kept, &records, &clusters).collect::<Result<Vec<_>>>()?);
            (profiles, vec![kept_profiles::refused(&linked.kept, &clusters)?])
        }
    };
    // The links the summary counts are the new records' (the old records'
    // links are made again, not new).
    let is_new = |r: u32| {
        let (source, row) = records.locate(r);
        new_keys.contains(&(source.name.as_str(), source.record_id(row)))
    };
    let mut per_rule: BTreeMap<String, u64> = BTreeMap::new();
    for chunk in graph.edges.read(EDGES_READ)? {
        for edge in chunk? {
            if is_new(edge.a) || is_new(edge.b) {
                *per_rule.entry(graph.rules[edge.rule as usize].clone()).or_default() += 1;
            }
        }
    }
    let rules = per_rule.into_iter().collect();
    let records_moved = records
        .sources
        .iter()
        .flat_map(|s| (0..s.len).map(move |row| (s.name.clone(), s.record_id(row).to_string())))
        .collect();
    let top = highest + clusters.new_ids + growth_ids.iter().filter(|&&id| id != 0).count() as u64;
    Ok(Ok(Linked {
        customers: customers_rows,
        values,
        winners,
        links,
        edges,
        profiles,
        refused,
        changes: clusters.changes.clone(),
        merged: clusters
            .changes
            .iter()
            .filter(|c| c.change == Change::Merged)
            .map(|c| (c.old, c.new))
            .collect(),
        records: records_moved,
        rules,
        new_ids: clusters.new_ids,
        growth_ids,
        customers_now: clusters.ids.len() as u64,
        highest: top,
    }))
}

/// A new customer's first record, by which a full run orders new ids: its
/// source (index among the configured ones) and record id.
pub type FirstRecord = (usize, String);

/// The part's clusters with their new ids given as a full run gives them,
/// together with the growth's other new customers (`others`, in the
/// growth's numbering, `None` for those in the part): one after another
/// from `highest`, in the order of each new customer's first record
/// (records come by source, then in record-id order). Returns the
/// clusters and the other new customers' ids (0 for those in the part).
fn number_new(
    mut clusters: ids::Clusters,
    records: &Records,
    highest: u64,
    others: &[Option<FirstRecord>],
) -> (ids::Clusters, Vec<u64>) {
    // A cluster's first record is its smallest (clusters are numbered so).
    let mut first: Vec<Option<u32>> = vec![None; clusters.ids.len()];
    for r in 0..records.len {
        let slot = &mut first[clusters.cluster_of[r as usize] as usize];
        if slot.is_none() {
            *slot = Some(r);
        }
    }
    // Ids above `highest` are new (`ids::assign` numbers them from there).
    let mut keyed: Vec<(FirstRecord, Result<usize, usize>)> = Vec::new();
    for (c, &id) in clusters.ids.iter().enumerate() {
        if let (true, Some(r)) = (id > highest, first[c]) {
            let (source, row) = records.locate(r);
            keyed.push(((records.source_of(r), source.record_id(row).to_string()), Ok(c)));
        }
    }
    for (n, key) in others.iter().enumerate() {
        if let Some(key) = key {
            keyed.push((key.clone(), Err(n)));
        }
    }
    keyed.sort();
    let mut growth_ids = vec![0; others.len()];
    let mut now: HashMap<u64, u64> = HashMap::new();
    for (i, (_, owner)) in keyed.into_iter().enumerate() {
        let id = highest + 1 + i as u64;
        match owner {
            Ok(c) => {
                now.insert(clusters.ids[c], id);
                clusters.ids[c] = id;
                clusters.names[c] = format_id(id);
            }
            Err(n) => growth_ids[n] = id,
        }
    }
    for change in &mut clusters.changes {
        if let Some(&id) = now.get(&change.new) {
            change.new = id;
        }
    }
    (clusters, growth_ids)
}

/// The committed run's records of the customers `old`: (source, record
/// id, customer id), from `identity_links`.
async fn old_records(ctx: &SessionContext, old: &BTreeSet<u64>) -> Result<Vec<(String, String, String)>> {
    if old.is_empty() {
        return Ok(Vec::new());
    }
    let list: Vec<String> = old.iter().map(|&c| format!("'{}'", format_id(c))).collect();
    let sql = format!(
        "SELECT source, record_id, customer_id FROM {} WHERE customer_id IN ({})",
        outputs::LINKS,
        list.join(", ")
    );
    let mut out = Vec::new();
    for batch in ctx.sql(&sql).await?.collect().await? {
        let text = |i: usize| datafusion::arrow::compute::cast(batch.column(i), &DataType::Utf8);
        let (s, r, c) = (text(0)?, text(1)?, text(2)?);
        let (s, r, c) = (s.as_string::<i32>(), r.as_string::<i32>(), c.as_string::<i32>());
        for i in 0..batch.num_rows() {
            out.push((s.value(i).to_string(), r.value(i).to_string(), c.value(i).to_string()));
        }
    }
    Ok(out)
}

/// Rows saying the part's old customers hold values no more: each of
/// their rows (`old`) that the new rows (`values`, as written) do not
/// hold again under the same customer.
fn gone_rows(old: &[Row], values: &[RecordBatch]) -> Result<RecordBatch> {
    let mut held: HashSet<(u64, u64)> = HashSet::new();
    for batch in values {
        let column = |name: &str| {
            batch
                .column_by_name(name)
                .and_then(|c| c.as_primitive_opt::<UInt64Type>())
        };
        if let (Some(customer), Some(key)) = (column("customer_id"), column("key")) {
            held.extend((0..batch.num_rows()).map(|i| (customer.value(i), key.value(i))));
        }
    }
    let mut gone = state::Rows::default();
    for row in old {
        if !held.contains(&(row.customer, state::key(&row.column, &row.value))) {
            gone.push_gone(row.customer, (&row.column, &row.value));
        }
    }
    gone.finish()
}

/// Rows saying the part's old customers' slots that the new winners
/// (`winners`) do not fill have no winner any more.
fn no_winners(old: &BTreeSet<u64>, slots: usize, winners: &[RecordBatch]) -> Result<RecordBatch> {
    let mut filled: HashSet<(u64, Slot)> = HashSet::new();
    for batch in winners {
        let customer = batch.column(0).as_primitive_opt::<UInt64Type>();
        let slot = batch.column(1).as_primitive_opt::<UInt16Type>();
        if let (Some(customer), Some(slot)) = (customer, slot) {
            filled.extend((0..batch.num_rows()).map(|i| (customer.value(i), slot.value(i))));
        }
    }
    let mut rows = winners::Rows::default();
    for &c in old {
        for slot in 0..slots as Slot {
            if !filled.contains(&(c, slot)) {
                winners::push_none(&mut rows, c, slot);
            }
        }
    }
    rows.finish()
}

/// The part's splits, as the merge log counts them.
pub fn splits(changes: &[IdChange]) -> u64 {
    changes.iter().filter(|c| c.change == Change::Split).count() as u64
}

/// Whether the part touches a customer the growth joins: left to a full
/// run (the joins and the splits would be worked out together there).
pub fn meets_joins(part: &Part, growth: &Growth) -> bool {
    growth
        .merged
        .iter()
        .any(|(absorbed, survivor)| part.old.contains(absorbed) || part.old.contains(survivor))
}
