//! The golden records of a growing run (`incremental`): the customers the
//! new records touch, whose rows are folded again from the old row, its
//! winners (`winners`) and the values the new records changed, written alone or
//! after the committed run's other customers (`customer_chain`). A value
//! the new records did not change weighs no more than the old winner did,
//! so the winner and the changed values are all a column is chosen among.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Builder, RecordBatch, StringBuilder};
use datafusion::arrow::datatypes::{Int64Type, SchemaRef};
use datafusion::common::{HashMap, HashSet};
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use url::Url;

use super::customer_chain::{self, CustomerFiles};
use super::golden;
use super::ids::format_id;
use super::outputs;
use super::state::{self, Row, Stats};
use super::winners::{self, Held, Slot, Winner};
use crate::error::{Error, Result};
use crate::project::identity::IdentityConfig;

/// A customer's rows of the state that the new records changed or may, by
/// `value_key` (in column, then value order).
pub type CustomerRows = BTreeMap<Box<str>, Row>;

/// A row's key among its customer's rows: its column and value, apart.
/// (No column name holds a NUL, which sorts first: the keys sort as the
/// pairs would.)
pub fn value_key(column: &str, value: &str) -> String {
    let mut key = String::with_capacity(column.len() + 1 + value.len());
    value_key_into(&mut key, column, value);
    key
}

/// `value_key` made in `key` (cleared first), to look a row up without
/// allocating.
pub fn value_key_into(key: &mut String, column: &str, value: &str) {
    key.clear();
    key.push_str(column);
    key.push('\0');
    key.push_str(value);
}

/// What the new records changed: per customer, its value rows (`rows`,
/// those changed marked `changed`) and its new records per source (by the
/// source's index among the configured sources' names in order); the
/// customers they joined (`joined`: per surviving customer, those it
/// absorbed), whose rows are all of theirs together, all changed, and the
/// absorbed customers' rows that are gone (`gone`: customer, column, value).
#[derive(Default)]
pub struct Changes {
    pub rows: BTreeMap<u64, CustomerRows>,
    pub sources: HashMap<(u64, usize), u64>,
    pub joined: BTreeMap<u64, Vec<u64>>,
    pub gone: Vec<(u64, String, String)>,
}

impl Changes {
    /// The winners' slots a fold of the changed customers reads: each
    /// changed column's (a joined customer's are chosen again among all
    /// its values: none).
    pub fn slots(&self, config: &IdentityConfig) -> HashSet<(u64, Slot)> {
        let columns = golden::columns(config);
        let slot_of: HashMap<&str, Slot> = columns
            .iter()
            .enumerate()
            .map(|(i, c)| (c.as_str(), i as Slot))
            .collect();
        self.rows
            .iter()
            .filter(|(c, _)| !self.joined.contains_key(c))
            .flat_map(|(c, rows)| rows.values().filter(|r| r.changed).map(move |r| (*c, &r.column)))
            .filter_map(|(c, column)| Some((c, *slot_of.get(column.as_str())?)))
            .collect()
    }
}

/// What writing the customers table gives back: its counts (customers,
/// those with several records, the largest's records) and the winners the
/// run changed; or why the run cannot grow (a customer past
/// `max_cluster_size`, found as its records are counted).
pub enum Written {
    Done {
        counts: (u64, u64, u64),
        winners: RecordBatch,
    },
    Declined(String),
}

/// The committed run's customers as a growing run needs them: the rows
/// of those it replaces (`diverted`, in the golden schema) and the counts
/// of the others (customers, those with several records, the largest's
/// records).
#[derive(Default)]
pub struct OldCustomers {
    diverted: Vec<RecordBatch>,
    counts: (u64, u64, u64),
    replaced: HashSet<String>,
}

/// How the committed run's customers reach the new file: read ahead (the
/// file then holds only the changed customers, marked so:
/// `customer_chain`), or read as the file is written, the untouched ones
/// copied before the changed ones (the table written whole).
pub enum OldRows<'a> {
    ReadAhead(OldCustomers),
    Copied(&'a CustomerFiles, &'a HashSet<u64>),
}

/// The ids of the committed run's customers a growing run replaces: those
/// its new records reach (`touched`) and those it joins (`merged`:
/// absorbed, survivor).
pub fn replaced(touched: &HashSet<u64>, merged: &[(u64, u64)]) -> HashSet<u64> {
    let joined = merged.iter().flat_map(|&(absorbed, survivor)| [absorbed, survivor]);
    touched.iter().copied().chain(joined).collect()
}

/// Reads the committed run's customers (`files`) ahead of the fold: the
/// rows of those `replaced`, the counts of the others.
pub async fn read_ahead(
    ctx: &SessionContext,
    schema: &SchemaRef,
    files: &CustomerFiles,
    replaced: &HashSet<u64>,
) -> Result<OldCustomers> {
    let started = std::time::Instant::now();
    let plan = files.scan(&ctx.state(), schema, None, &[], None).await?;
    let mut stream = datafusion::physical_plan::execute_stream(plan, ctx.task_ctx())?;
    let mut old = OldCustomers {
        replaced: replaced.iter().map(|c| format_id(*c)).collect(),
        ..OldCustomers::default()
    };
    while let Some(batch) = stream.next().await {
        let (moved, kept) = split(&batch?, &old.replaced)?;
        count(&mut old.counts, &kept)?;
        old.diverted.extend(moved.map(|m| cast_batch(&m, schema)).transpose()?);
    }
    log::debug!(
        "growing: the last run's customers read in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    Ok(old)
}

/// A batch of the committed run's customers split into the rows of those
/// `replaced` (if any) and the others.
fn split(batch: &RecordBatch, replaced: &HashSet<String>) -> Result<(Option<RecordBatch>, RecordBatch)> {
    let ids = datafusion::arrow::compute::cast(batch.column(0), &datafusion::arrow::datatypes::DataType::Utf8)?;
    let here: BooleanArray = ids
        .as_string::<i32>()
        .iter()
        .map(|id| Some(id.is_some_and(|id| replaced.contains(id))))
        .collect();
    let moved = datafusion::arrow::compute::filter_record_batch(batch, &here)?;
    let kept = datafusion::arrow::compute::filter_record_batch(batch, &datafusion::arrow::compute::not(&here)?)?;
    Ok(((moved.num_rows() > 0).then_some(moved), kept))
}

/// Writes the customers of the run: the changed customers (folded again),
/// the new ones and those linked again (`relinked`, made whole), after the
/// committed run's others when they are `Copied` (else the file holds the
/// changed ones only).
pub async fn write_customers(
    ctx: &SessionContext,
    (output, run): (&Url, &str),
    config: &IdentityConfig,
    (changes, relinked): (&Changes, &[RecordBatch]),
    held: &Held,
    old: OldRows<'_>,
) -> Result<Written> {
    let declined: Mutex<Option<String>> = Mutex::new(None);
    let written =
        write_customers_or_decline(ctx, (output, run), config, (changes, relinked), held, old, &declined).await;
    match declined.into_inner().unwrap_or_else(PoisonError::into_inner) {
        Some(why) => Ok(Written::Declined(why)),
        None => written,
    }
}

async fn write_customers_or_decline(
    ctx: &SessionContext,
    (output, run): (&Url, &str),
    config: &IdentityConfig,
    (changes, relinked): (&Changes, &[RecordBatch]),
    held: &Held,
    old: OldRows<'_>,
    declined: &Mutex<Option<String>>,
) -> Result<Written> {
    let started = std::time::Instant::now();
    let schema: SchemaRef = golden::schema(config);
    let (whole, old, kept) = match old {
        OldRows::ReadAhead(old) => (false, old, None),
        OldRows::Copied(files, replaced) => {
            let plan = files.scan(&ctx.state(), &schema, None, &[], None).await?;
            let stream = datafusion::physical_plan::execute_stream(plan, ctx.task_ctx())?;
            let old = OldCustomers {
                replaced: replaced.iter().map(|c| format_id(*c)).collect(),
                ..OldCustomers::default()
            };
            (true, old, Some(stream))
        }
    };
    let old = Mutex::new(old);
    let copied = futures::stream::iter(kept)
        .flatten()
        .map(|batch| -> Result<RecordBatch> {
            let mut old = old.lock().unwrap_or_else(PoisonError::into_inner);
            let (moved, kept) = split(&batch?, &old.replaced)?;
            count(&mut old.counts, &kept)?;
            old.diverted.extend(moved.map(|m| cast_batch(&m, &schema)).transpose()?);
            cast_batch(&kept, &schema)
        });
    let new_winners: Mutex<Option<RecordBatch>> = Mutex::new(None);
    // After the last copied row: the changed customers' rows, folded again.
    let folded = futures::stream::once(async {
        let mut old = old.lock().unwrap_or_else(PoisonError::into_inner);
        if whole {
            log::debug!(
                "growing: the untouched customers copied in {:.2} s",
                started.elapsed().as_secs_f64()
            );
        }
        let (rows, winners) = match fold(config, changes, held, &old.diverted, &schema)? {
            Folded::Rows(rows, winners) => (rows, winners),
            Folded::TooLarge(why) => {
                *declined.lock().unwrap_or_else(PoisonError::into_inner) = Some(why.clone());
                return Err(Error::Usage(why));
            }
        };
        count(&mut old.counts, &rows)?;
        for batch in relinked {
            count(&mut old.counts, batch)?;
        }
        log::debug!("growing: customers folded at {:.2} s", started.elapsed().as_secs_f64());
        *new_winners.lock().unwrap_or_else(PoisonError::into_inner) = Some(winners);
        Ok(rows)
    });
    // The customers linked again (`relink`), as their records made them.
    let all = copied
        .chain(folded)
        .chain(futures::stream::iter(relinked.iter().cloned().map(Ok)));
    let properties = (!whole).then(customer_chain::changed_properties);
    let place = (output, run, outputs::CUSTOMERS);
    outputs::write_stream_with(ctx, place, Arc::clone(&schema), Box::pin(all), properties).await?;
    let winners = new_winners
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner)
        .ok_or_else(|| Error::Usage("the customers table was written without its changed rows".into()))?;
    Ok(Written::Done {
        counts: old.into_inner().unwrap_or_else(PoisonError::into_inner).counts,
        winners,
    })
}

/// Adds a batch's customers to `counts`: customers, those with several
/// records, the largest's records.
fn count(counts: &mut (u64, u64, u64), batch: &RecordBatch) -> Result<()> {
    let records = batch
        .column_by_name("records")
        .and_then(|c| c.as_primitive_opt::<Int64Type>())
        .ok_or_else(|| Error::Usage("the customers table has no records column".into()))?;
    for n in records.iter().flatten() {
        counts.0 += 1;
        counts.1 += u64::from(n > 1);
        counts.2 = counts.2.max(n as u64);
    }
    Ok(())
}

/// A batch read back from Parquet (views of strings, maybe) as `schema`.
pub fn cast_batch(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(column, field)| datafusion::arrow::compute::cast(column, field.data_type()))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

/// A fold of the changed customers: their golden records and the winners
/// that changed, or a customer past `max_cluster_size`.
#[derive(Debug)]
enum Folded {
    Rows(RecordBatch, RecordBatch),
    TooLarge(String),
}

/// The golden records of the changed customers (in id order) and the
/// winners that changed, from their old rows (`old`, in `schema`), their
/// winners (`held`) and the changes. A joined customer's columns are
/// chosen among all its values (its rows, all changed), its records and
/// sources are those of the old rows of every customer it joined.
fn fold(
    config: &IdentityConfig,
    changes: &Changes,
    held: &Held,
    old: &[RecordBatch],
    schema: &SchemaRef,
) -> Result<Folded> {
    let columns = golden::columns(config);
    let sources: Vec<&str> = config.sources.keys().map(String::as_str).collect();
    let max = config.max_cluster_size() as u64;
    let old_rows: HashMap<&str, (usize, usize)> = old
        .iter()
        .enumerate()
        .flat_map(|(b, batch)| {
            let ids = batch.column(0).as_string::<i32>();
            (0..ids.len()).map(move |i| (ids.value(i), (b, i)))
        })
        .collect();
    let old_value = |at: Option<(usize, usize)>, column: usize| -> Option<&str> {
        let (b, i) = at?;
        let values = old[b].column(3 + column).as_string::<i32>();
        values.is_valid(i).then(|| values.value(i))
    };
    let mut id = StringBuilder::new();
    let mut records = Int64Builder::new();
    let mut names = StringBuilder::new();
    let mut values: Vec<StringBuilder> = columns.iter().map(|_| StringBuilder::new()).collect();
    let mut new_winners = winners::Rows::default();
    let slot_of: HashMap<&str, usize> = columns.iter().enumerate().map(|(j, c)| (c.as_str(), j)).collect();
    // Per golden column, the customer's changed rows (in value order),
    // gathered in one walk of its rows (kept by column and value).
    let mut changed_by_slot: Vec<Vec<(&str, &Row)>> = vec![Vec::new(); columns.len()];
    for (&customer, rows) in &changes.rows {
        changed_by_slot.iter_mut().for_each(Vec::clear);
        for row in rows.values().filter(|row| row.changed) {
            if let Some(&j) = slot_of.get(row.column.as_str()) {
                changed_by_slot[j].push((&row.value, row));
            }
        }
        let name = format_id(customer);
        let at = old_rows.get(name.as_str()).copied();
        let absorbed = changes.joined.get(&customer);
        let some_held = (0..columns.len()).any(|s| held.contains_key(&(customer, s as Slot)));
        if at.is_none() && (some_held || absorbed.is_some()) {
            return Err(inconsistent(&name));
        }
        id.append_value(&name);
        let mut olds: Vec<(&RecordBatch, usize)> = at.map(|(b, i)| (&old[b], i)).into_iter().collect();
        for other in absorbed.into_iter().flatten() {
            let other = format_id(*other);
            let (b, i) = old_rows
                .get(other.as_str())
                .copied()
                .ok_or_else(|| inconsistent(&other))?;
            olds.push((&old[b], i));
        }
        let (count, present) = source_counts(customer, changes, &olds, &sources).ok_or_else(|| inconsistent(&name))?;
        if count > max {
            return Ok(Folded::TooLarge(format!(
                "customer {name} would hold {count} records, past max_cluster_size ({max})"
            )));
        }
        records.append_value(count as i64);
        names.append_value(present.join(","));
        for (j, (column, out)) in columns.iter().zip(values.iter_mut()).enumerate() {
            let slot = j as Slot;
            // A joined customer's rows are all its values: no old pick stands.
            let was_value = old_value(at, j).filter(|_| absorbed.is_none());
            let changed = &changed_by_slot[j];
            if changed.is_empty() {
                // Nothing new: the old pick stands (its winner was not read).
                out.append_option(was_value);
                continue;
            }
            let was = held.get(&(customer, slot)).filter(|_| absorbed.is_none());
            if was.is_none() && was_value.is_some() {
                return Err(inconsistent(&name));
            }
            let mut candidates: Vec<(&str, Stats)> = Vec::new();
            if let Some(w) = was {
                let value = was_value
                    .filter(|v| state::key(column, v) == w.key)
                    .ok_or_else(|| inconsistent(&name))?;
                candidates.push((value, w.stats));
            }
            for &(value, row) in changed {
                // A changed row of the old winner holds its stats and the new records'.
                match candidates.iter_mut().find(|(v, _)| *v == value) {
                    Some(candidate) if row.stats.records < candidate.1.records => {
                        return Err(inconsistent(&name));
                    }
                    Some(candidate) => candidate.1 = row.stats,
                    None => candidates.push((value, row.stats)),
                }
            }
            let chosen = golden::choose(candidates.iter().copied(), config.survivorship(column));
            out.append_option(chosen);
            if let Some(value) = chosen {
                let stats = candidates.iter().find(|(v, _)| *v == value).map(|(_, s)| *s);
                let now = Winner {
                    key: state::key(column, value),
                    stats: stats.expect("the chosen value is a candidate"),
                };
                if was != Some(&now) {
                    new_winners.push(customer, slot, now);
                }
            }
        }
    }
    let mut arrays: Vec<ArrayRef> = vec![
        Arc::new(id.finish()),
        Arc::new(records.finish()),
        Arc::new(names.finish()),
    ];
    arrays.extend(values.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
    Ok(Folded::Rows(
        RecordBatch::try_new(Arc::clone(schema), arrays)?,
        new_winners.finish()?,
    ))
}

/// A customer's records and the names of the sources holding them (in
/// order), from its old rows (`old`: a batch of the customers table and
/// the row; none for a new customer, several for customers joined) and
/// its new records; `None` if an old row names a source that is not
/// configured.
fn source_counts<'s>(
    customer: u64,
    changes: &Changes,
    old: &[(&RecordBatch, usize)],
    sources: &[&'s str],
) -> Option<(u64, Vec<&'s str>)> {
    let mut present = vec![false; sources.len()];
    let mut count = 0;
    for &(batch, i) in old {
        count += batch.column(1).as_primitive_opt::<Int64Type>()?.value(i) as u64;
        for name in batch.column(2).as_string_opt::<i32>()?.value(i).split(',') {
            present[sources.iter().position(|s| *s == name)?] = true;
        }
    }
    for (s, flag) in present.iter_mut().enumerate() {
        if let Some(added) = changes.sources.get(&(customer, s)) {
            count += added;
            *flag = true;
        }
    }
    // The configured sources' names are in order (as the full run writes them).
    let names = sources
        .iter()
        .zip(&present)
        .filter(|(_, p)| **p)
        .map(|(s, _)| *s)
        .collect();
    Some((count, names))
}

fn inconsistent(customer: &str) -> Error {
    Error::Usage(format!(
        "the identity state and the customers table disagree on customer {customer}; run `oneview resolve --full`"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, StringArray};

    const CONFIG: &str = r#"
[sources.crm]
table = "crm"
record_id = "id"
identifiers = { user_id = "user_id", email = "email" }
attributes = { first_name = "first_name" }
[sources.web]
table = "web"
record_id = "id"
identifiers = { user_id = "user_id" }
"#;

    fn row(customer: u64, column: &str, value: &str, stats: Stats) -> Row {
        Row {
            customer,
            column: column.into(),
            value: value.into(),
            stats,
            status: None,
            others: Vec::new(),
            names: Vec::new(),
            record: None,
            changed: true,
        }
    }

    fn records(n: u64, updated: i64) -> Stats {
        Stats {
            records: n,
            ..Stats::of(updated, 1)
        }
    }

    /// Customer 7 of the committed run (first name Ann, from 2 of its 3
    /// CRM records; Anna on the third) and what the new records change:
    /// two CRM records naming Anna and a web record join it; customer 9 is
    /// new, of one web record.
    fn setup(config: &IdentityConfig) -> (Changes, Held, RecordBatch, Slot) {
        let columns = golden::columns(config);
        let first = columns.iter().position(|c| c == "first_name").unwrap() as Slot;
        let (crm, web) = (0, 1);
        let mut held = Held::default();
        let ann = Winner {
            key: state::key("first_name", "Ann"),
            stats: records(2, 10),
        };
        held.insert((7, first), ann);
        let mut changes = Changes::default();
        let anna = row(7, "first_name", "Anna", records(3, 12));
        changes
            .rows
            .entry(7)
            .or_default()
            .insert(value_key("first_name", "Anna").into(), anna);
        changes.sources.insert((7, crm), 2);
        changes.sources.insert((7, web), 1);
        let email = row(9, "email", "x@y.org", records(1, 12));
        changes
            .rows
            .entry(9)
            .or_default()
            .insert(value_key("email", "x@y.org").into(), email);
        changes.sources.insert((9, web), 1);
        let schema = golden::schema(config);
        let mut arrays: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec![format_id(7)])),
            Arc::new(Int64Array::from(vec![3])),
            Arc::new(StringArray::from(vec!["crm"])),
        ];
        arrays.extend(columns.iter().map(|c| {
            let value = match c.as_str() {
                "first_name" => Some("Ann"),
                "email" => Some("ann@x.org"),
                _ => None,
            };
            Arc::new(StringArray::from(vec![value])) as ArrayRef
        }));
        (changes, held, RecordBatch::try_new(schema, arrays).unwrap(), first)
    }

    #[test]
    fn value_keys_sort_as_their_column_and_value_pairs() {
        let pairs = [("name", "b"), ("name2", "a"), ("name", "a"), ("nam", "z"), ("name", "")];
        let mut by_pair = pairs.to_vec();
        by_pair.sort();
        let mut by_key: Vec<(String, (&str, &str))> = pairs.iter().map(|&(c, v)| (value_key(c, v), (c, v))).collect();
        by_key.sort();
        assert_eq!(by_key.into_iter().map(|(_, p)| p).collect::<Vec<_>>(), by_pair);
    }

    #[test]
    fn a_changed_value_overtakes_the_old_winner_and_sources_add_up() {
        let config: IdentityConfig = toml::from_str(CONFIG).unwrap();
        let (changes, held, old, first) = setup(&config);
        let schema = golden::schema(&config);
        let Folded::Rows(rows, new_winners) = fold(&config, &changes, &held, &[old], &schema).unwrap() else {
            panic!("no customer is past max_cluster_size");
        };
        let text = |name: &str, i: usize| {
            let column = rows.column_by_name(name).unwrap().as_string::<i32>();
            column.is_valid(i).then(|| column.value(i).to_string())
        };
        let count = rows.column(1).as_primitive::<Int64Type>();
        assert_eq!(rows.num_rows(), 2);
        assert_eq!(text("customer_id", 0), Some(format_id(7)));
        assert_eq!((count.value(0), text("sources", 0)), (6, Some("crm,web".into())));
        assert_eq!(text("first_name", 0), Some("Anna".into()), "3 records beat 2");
        assert_eq!(text("email", 0), Some("ann@x.org".into()), "an unchanged column stays");
        assert_eq!((count.value(1), text("sources", 1)), (1, Some("web".into())));
        assert_eq!(text("email", 1), Some("x@y.org".into()));
        assert_eq!(text("first_name", 1), None);

        let mut read = Held::default();
        add_rows_for_test(&new_winners, &mut read);
        assert_eq!(read[&(7, first)].key, state::key("first_name", "Anna"));
        assert_eq!(read[&(7, first)].stats.records, 3);
        assert_eq!(read.len(), 2, "customer 7's name, customer 9's email");
    }

    #[test]
    fn a_customer_past_max_cluster_size_is_found_as_its_records_add_up() {
        let config: IdentityConfig = toml::from_str(&format!("max_cluster_size = 5\n{CONFIG}")).unwrap();
        let (changes, held, old, _) = setup(&config);
        let schema = golden::schema(&config);
        let Ok(Folded::TooLarge(why)) = fold(&config, &changes, &held, &[old], &schema) else {
            panic!("customer 7's 3 old and 3 new records pass 5");
        };
        assert!(
            why.contains(&format!("customer {} would hold 6 records", format_id(7))),
            "{why}"
        );
    }

    #[test]
    fn an_old_row_naming_a_source_not_configured_is_refused() {
        let config: IdentityConfig = toml::from_str(CONFIG).unwrap();
        let (changes, held, old, _) = setup(&config);
        let mut columns = old.columns().to_vec();
        columns[2] = Arc::new(StringArray::from(vec!["crm,shop"]));
        let old = RecordBatch::try_new(old.schema(), columns).unwrap();
        let schema = golden::schema(&config);
        let Err(err) = fold(&config, &changes, &held, &[old], &schema) else {
            panic!("the source `shop` is not configured");
        };
        assert!(err.to_string().contains("disagree on customer"), "{err}");
    }

    #[test]
    fn a_winner_the_customers_table_does_not_hold_is_refused() {
        let config: IdentityConfig = toml::from_str(CONFIG).unwrap();
        let (changes, mut held, old, first) = setup(&config);
        held.get_mut(&(7, first)).unwrap().key = state::key("first_name", "Bob");
        let schema = golden::schema(&config);
        let err = fold(&config, &changes, &held, &[old], &schema).unwrap_err();
        assert!(err.to_string().contains("disagree on customer"), "{err}");
    }

    /// Customer 7 (first names Ann ×2 and Bo ×1: Ann) absorbs customer 8
    /// (Cy ×2 and Bo ×2: Cy) through a new web record, their rows put
    /// together: among all their values Bo (3 records) wins, which neither
    /// old pick was, with no old winner read; records and sources add up
    /// over both old rows and the new record, and customer 8 is no more.
    #[test]
    fn a_joined_customer_is_chosen_again_among_all_its_values() {
        let config: IdentityConfig = toml::from_str(CONFIG).unwrap();
        let columns = golden::columns(&config);
        let first = columns.iter().position(|c| c == "first_name").unwrap() as Slot;
        // No winners are read for a joined customer.
        let held = Held::default();
        let mut changes = Changes::default();
        let rows = changes.rows.entry(7).or_default();
        for (name, n) in [("Ann", 2), ("Bo", 3), ("Cy", 2)] {
            rows.insert(
                value_key("first_name", name).into(),
                row(7, "first_name", name, records(n, 10)),
            );
        }
        changes.sources.insert((7, 1), 1);
        changes.joined.insert(7, vec![8]);
        let schema = golden::schema(&config);
        let old_row = |id: u64, n: i64, sources: &str, name: &str| {
            let mut arrays: Vec<ArrayRef> = vec![
                Arc::new(StringArray::from(vec![format_id(id)])),
                Arc::new(Int64Array::from(vec![n])),
                Arc::new(StringArray::from(vec![sources])),
            ];
            arrays.extend(columns.iter().map(|c| {
                let value = (c == "first_name").then_some(name);
                Arc::new(StringArray::from(vec![value])) as ArrayRef
            }));
            RecordBatch::try_new(Arc::clone(&schema), arrays).unwrap()
        };
        let old = [old_row(7, 3, "crm", "Ann"), old_row(8, 4, "crm", "Cy")];
        let Folded::Rows(rows, new_winners) = fold(&config, &changes, &held, &old, &schema).unwrap() else {
            panic!("no customer is past max_cluster_size");
        };
        assert_eq!(rows.num_rows(), 1, "customer 8 is not written");
        let name = rows.column_by_name("first_name").unwrap().as_string::<i32>();
        assert_eq!(name.value(0), "Bo");
        assert_eq!(rows.column(1).as_primitive::<Int64Type>().value(0), 8);
        assert_eq!(rows.column(2).as_string::<i32>().value(0), "crm,web");
        let mut read = Held::default();
        add_rows_for_test(&new_winners, &mut read);
        assert_eq!(read[&(7, first)].key, state::key("first_name", "Bo"));
        assert!(
            changes.slots(&config).is_empty(),
            "a joined customer's winners are not read"
        );
        // Its absorbed customer's old row is needed.
        let err = fold(&config, &changes, &held, &old[..1], &schema).unwrap_err();
        assert!(err.to_string().contains(&format_id(8)), "{err}");
    }

    fn add_rows_for_test(batch: &RecordBatch, held: &mut Held) {
        winners::add_rows(batch, held).unwrap();
    }
}
