//! A run that grows the committed one: only the sources' new files are
//! read, their records placed by `grow` against what the committed run
//! kept of the values they carry (`state`), and only the customers they
//! touch get new golden records. The links, edges and state of the run are
//! the committed run's files and one more (`outputs::CHAINED`); the
//! customers table holds the changed customers only, or is written whole
//! (`customer_chain`).
//!
//! Phases: `plan` (may the run grow at all: the same settings, files only
//! added, each source reading its own table), reading the new records,
//! looking up their values in the state, `grow`, the customers new records
//! may split found and linked again from their records (`relink`), reading
//! the touched customers' rows (and every row of customers the new records
//! join, `joined`), new golden records, writing (with the ids of joined
//! customers remapped, `remap`, and the records linked again named,
//! `moved`). Whenever the result might differ from a full run's, the
//! answer is why, and a full run follows.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use datafusion::common::{HashMap, HashSet};
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, Float64Builder, RecordBatch, StringBuilder};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use url::Url;

use super::budget::Budget;
use super::customer_chain::{self, CustomerFiles};
use super::golden;
use super::graph::ValueStatus;
use super::grow::{self, Before, End, Growth, Home, Known, Outcome};
use super::grown_golden::OldRows;
use super::grown_golden::{self, Changes, CustomerRows};
use super::ids::format_id;
use super::inputs::{self, FileStamp, Inputs};
use super::joined;
use super::kept_profiles;
use super::key_filter::KeyFilter;
use super::moved;
use super::outputs;
use super::probabilistic::model::Model;
use super::probabilistic::profiles::parse_date;
use super::probabilistic::{self, profiles, reach};
use super::record_ids;
use super::records::{self, Records, attribute_index};
use super::regroup::Part;
use super::relink;
use super::remap;
use super::state::{self, Pick, Row, Stats};
use super::winners;
use crate::error::{Error, Result};
use crate::project::TableSpec;
use crate::project::identity::{IdentityConfig, ProbabilisticConfig};
use crate::storage::StateStore;

/// Runs grown one after another before the next run resolves everything,
/// which writes each chained table as one file again.
pub const MAX_CHAIN: usize = 30;

/// The budget's part for the rows of the state a growing run reads.
const STATE_ROWS: &str = "the identity state's rows read";

/// The budget's part for the winners a growing run reads, and the bytes
/// one holds (with its place in the map).
const WINNERS_READ: &str = "the golden records' winners read";
const WINNER_BYTES: usize = 64;

/// What a growing run reads: per table, its new files.
#[derive(Debug)]
pub struct Plan {
    pub new_files: BTreeMap<String, Vec<FileStamp>>,
}

/// Whether the committed run (`last`) can be grown from what the sources
/// hold `now`: only new files, each source reading its own table; else why not.
pub fn plan(config: &IdentityConfig, last: &Inputs, now: &Inputs) -> std::result::Result<Plan, String> {
    if let Some(why) = grow::cannot_grow(config) {
        return Err(why);
    }
    if last.refused {
        return Err(
            "the last run refused links past max_cluster_size, whose outcome depends on the order of links".into(),
        );
    }
    let mut new_files: BTreeMap<String, Vec<FileStamp>> = BTreeMap::new();
    for (name, source) in &config.sources {
        let table = source.table(name);
        match now.tables.get(name) {
            Some(read) if read.len() == 1 && read[0] == table => {}
            _ => return Err(format!("source `{name}` reads more than its own table")),
        }
        let (Some(Some(before)), Some(Some(files))) = (last.sources.get(name), now.sources.get(name)) else {
            return Err(format!("source `{name}` reads what cannot be listed"));
        };
        let changes = inputs::changes(before, files);
        if changes.changed > 0 {
            return Err(format!(
                "source `{name}`: {} of its files rewritten in place",
                changes.changed
            ));
        }
        if changes.deleted > 0 {
            return Err(format!("source `{name}`: {} of its files deleted", changes.deleted));
        }
        if inputs::changed_near(last, name) {
            return Err(format!(
                "source `{name}`: files changed just before the last run listed them"
            ));
        }
        let known: HashSet<&str> = before.iter().map(|f| f.path.as_str()).collect();
        let new: Vec<FileStamp> = files
            .iter()
            .filter(|f| !known.contains(f.path.as_str()))
            .cloned()
            .collect();
        // Folders named `key=value` are columns a listing adds to each row,
        // which a table over some of its files would not.
        if new
            .iter()
            .any(|f| f.path.split('/').rev().skip(1).any(|folder| folder.contains('=')))
        {
            return Err(format!("source `{name}`: its table is partitioned by folders"));
        }
        new_files.entry(table.to_string()).or_insert(new);
    }
    Ok(Plan { new_files })
}

/// What a grown run did, for its summary.
#[derive(Debug)]
pub struct Grown {
    pub run: String,
    /// The run it grew.
    pub grew: String,
    /// Per source, the new records read.
    pub records: Vec<(String, u64)>,
    /// Links the new records made, per rule.
    pub links: Vec<(String, u64)>,
    pub customers: u64,
    pub multi_record_customers: u64,
    pub largest: u64,
    pub new_ids: u64,
    /// Customers of the committed run joined to others.
    pub merged: u64,
    /// Customers split off others (linked again, `relink`).
    pub split: u64,
    pub touched: u64,
    /// The highest customer id given once the run is committed.
    pub highest: u64,
}

pub enum Growing {
    Grown(Grown),
    /// Why the run could not grow the committed one.
    Declined(String),
}

/// Where a growing run finds things.
pub struct Place<'a> {
    pub output: &'a Url,
    /// The project directory, which a relative model file is below.
    pub dir: &'a std::path::Path,
    pub config_file: &'a std::path::Path,
    pub tables: &'a [TableSpec],
    pub current: &'a str,
    /// The highest customer id ever given, and the merge log.
    pub highest: u64,
    pub merges: Vec<RecordBatch>,
}

/// Grows the committed run by the new files of `plan`: writes the run's
/// files (not committed: the caller commits), or says why it cannot.
pub async fn grow_run(
    ctx: &SessionContext,
    config: &IdentityConfig,
    plan: &Plan,
    at: Place<'_>,
    budget: &mut Budget,
    step: &dyn Fn(&str),
) -> Result<Growing> {
    let started = std::time::Instant::now();
    let mark = |what: &str| {
        let resident =
            crate::util::memory::resident_megabytes().map_or(String::new(), |mb| format!(", {mb} MB resident"));
        log::debug!(
            "growing: {what} (at {:.2} s{resident})",
            started.elapsed().as_secs_f64()
        );
    };
    let store = StateStore::at(at.output.clone(), &ctx.runtime_env())?;
    let chain = outputs::chain(&store, at.current).await?;
    if chain.len() >= MAX_CHAIN {
        return Ok(Growing::Declined(format!(
            "{} runs grew the last full one; resolving everything writes their files as one",
            chain.len() - 1
        )));
    }
    let state_files: Vec<Url> = chain
        .iter()
        .rev()
        .map(|r| outputs::run_location(at.output, state::VALUES, Some(r)))
        .collect();
    let winner_files: Vec<Url> = chain
        .iter()
        .rev()
        .map(|r| outputs::run_location(at.output, winners::WINNERS, Some(r)))
        .collect();
    let id_files: Vec<Url> = chain
        .iter()
        .map(|r| outputs::run_location(at.output, record_ids::IDS, Some(r)))
        .collect();
    let base = format!("identity/{}/run-{}.parquet", state::VALUES, chain[0]);
    if store.modified(&base).await?.is_none() {
        return Ok(Growing::Declined(
            "the committed run kept no identity state (an earlier version made it)".into(),
        ));
    }

    step("reading the new files");
    let new = read_new(ctx, config, plan, &at, budget).await?;
    mark("new records read");
    // A repeated id is rare: the hashes first, the ids only if one is met.
    let new_ids: HashSet<u64> = new
        .sources
        .iter()
        .flat_map(|s| (0..s.len).map(|row| record_ids::hash(&s.name, s.record_id(row))))
        .collect();
    if record_ids::any_of(ctx, &id_files, &new_ids).await?
        && let Some(why) = repeated_record_id(ctx, &new).await?
    {
        return Ok(Growing::Declined(why));
    }
    mark("record ids checked");
    step("looking up the new records' values");
    let keys = identifier_keys(&new);
    let hashed: HashSet<u64> = keys
        .iter()
        .flat_map(|(kind, values)| values.iter().map(|v| state::key(kind, v)))
        .collect();
    // One pass over the state's hashes picks the rows of the identifier
    // values the new records carry (where they may go), and notes where
    // the rows of the attribute values they carry are (what they may
    // change): of those, only the rows of the customers the records join
    // are wanted (a common city's rows are many, its touched customers'
    // few). Each read decodes most of the state's pages, so the rows of
    // the customers holding a record's identifiers are read with the
    // identifiers' rows, and after placing only those of customers a
    // record reached otherwise (through another new record).
    let attributes = attribute_keys(&new, config);
    let carried: HashSet<u64> = attributes.iter().flatten().copied().collect();
    let state_keys = KeyFilter::new(hashed.iter().chain(&carried).copied(), hashed.len() + carried.len());
    let mut picked = state::pick(ctx, &state_files, |_, key| {
        if !state_keys.may_contain(key) {
            Pick::No
        } else if hashed.contains(&key) {
            Pick::Now
        } else if carried.contains(&key) {
            Pick::Later
        } else {
            Pick::No
        }
    })
    .await?;
    let likely = likely_attribute_keys(&new, &attributes, &picked.now);
    picked.promote(|c, key| likely.contains(&state::customer_key(c, key)));
    mark(&format!("{} rows of the identity state picked", picked.rows()));
    let batches = state::read(&picked).await?;
    budget.set(STATE_ROWS, batches.iter().map(RecordBatch::get_array_memory_size).sum())?;
    mark("state rows read");
    let mut found: Vec<Row> = rows_where(&batches, |_, key| hashed.contains(&key))?;
    // Picked by hash, kept by value (two values could share a hash).
    found.retain(|r| keys.get(&r.column).is_some_and(|values| values.contains(&r.value)));
    mark(&format!(
        "{} rows of the new records' identifier values made",
        found.len()
    ));
    let values = known_values(&found);
    mark("what each value did known");
    // The last run refused nothing (`plan`).
    let before = Before {
        values: &values,
        refused: false,
    };
    let mut growth = match grow::grow(&new, config, &before)? {
        Outcome::Grown(growth) => growth,
        Outcome::Resolve(why) => return Ok(Growing::Declined(why)),
    };
    mark("placed on identifiers");
    // With the model, the customers the new records reach on attributes.
    let scoring = match &config.probabilistic {
        None => None,
        Some(p) => {
            let most = config.max_share_linked_again.unwrap_or(MAX_SHARE_LINKED_AGAIN);
            if let Some(why) = too_many_to_link_again(ctx, &growth, most).await? {
                return Ok(Growing::Declined(why));
            }
            step("scoring the new records' attributes");
            match scoring(ctx, p, (&at, &chain), &new, budget).await? {
                Ok(scoring) => Some(scoring),
                Err(why) => return Ok(Growing::Declined(why)),
            }
        }
    };
    mark("the customers reached on attributes found");
    let again = match (&scoring, growth.regroup.first()) {
        (None, None) => None,
        (None, Some(first)) => {
            step("linking customers again");
            log::info!("{}: the customers holding it are linked again", first.why);
            let start = Part::default();
            let customers = match relink::customers(ctx, &state_files, (&growth, &new, &before), &start).await? {
                Ok(customers) => customers,
                Err(why) => return Ok(Growing::Declined(why)),
            };
            if relink::meets_joins(&customers.part, &growth) {
                return Ok(Growing::Declined(format!(
                    "{}, and new records join customers it may split",
                    first.why
                )));
            }
            Some(customers)
        }
        (Some(scoring), _) => {
            step("linking the customers reached again");
            match reached_part(ctx, &state_files, (&growth, &new, &before), scoring).await? {
                Ok(customers) => {
                    // Their joins are the part's (`relink` gives the ids).
                    growth.merged.clear();
                    Some(customers)
                }
                Err(why) => return Ok(Growing::Declined(why)),
            }
        }
    };
    if let Some(customers) = &again {
        mark(&format!(
            "{} customers to link again found",
            customers.part.old.len() + customers.part.new.len()
        ));
    }
    let growth = growth;
    let part = again.as_ref().map(|c| c.part.clone()).unwrap_or_default();
    let in_part = |home: Home| part.holds(home);
    // Keyed by the found rows' texts, which move to their customers below.
    drop(values);
    step("placing the new records");
    let touched: HashSet<u64> = growth
        .homes
        .iter()
        .filter(|&&h| !in_part(h))
        .filter_map(|h| match h {
            Home::Customer(c) => Some(*c),
            Home::New(_) => None,
        })
        .collect();
    mark("placed");
    // The last run's customers are read while the records are added and
    // the winners read (unless the table is to be written whole, when
    // they are copied as it is written).
    let mut replaced = grown_golden::replaced(&touched, &growth.merged);
    replaced.extend(part.old.iter().copied());
    let remapped = remap::read(&store, at.current).await?;
    let customer_files = Arc::new(CustomerFiles::read(&ctx.runtime_env(), at.output, &chain, &remapped).await?);
    let whole = customer_chain::write_whole(&customer_files, replaced.len() + growth.new_customers as usize);
    let mut ahead = (!whole).then(|| {
        let (ctx, files, replaced) = (ctx.clone(), Arc::clone(&customer_files), replaced.clone());
        let schema = golden::schema(config);
        ReadAhead(tokio::spawn(async move {
            grown_golden::read_ahead(&ctx, &schema, &files, &replaced).await
        }))
    });
    // Of each customer the new records join, the rows of their attribute
    // values (a record can reach a customer through another new record,
    // holding none of its values: only now is it known where each went).
    let brought = brought_attribute_keys(&new, &attributes, &growth);
    let brought_here = |c, key| brought.contains(&state::customer_key(c, key));
    // The records the new records' links end at, kept before the rows
    // they are in move to their customers (the others are dropped).
    let holders = link_holders(&growth, &new.kinds, &found);
    let mut rows: Vec<Row> = found;
    rows.retain(|r| touched.contains(&r.customer));
    rows.extend(rows_where(&batches, |c, key| {
        !hashed.contains(&key) && brought_here(c, key)
    })?);
    drop(batches);
    mark(&format!(
        "the attribute rows brought gathered ({} rows kept for later)",
        picked.later_rows()
    ));
    let missing = picked.later(brought_here);
    if missing.rows() > 0 {
        rows.extend(rows_where(&state::read(&missing).await?, |_, _| true)?);
    }
    mark(&format!(
        "{} rows of the attribute values brought read after placing",
        missing.rows()
    ));
    budget.set(STATE_ROWS, rows.iter().map(Row::memory_size).sum())?;
    let mut changes = Changes {
        rows: by_customer(rows.into_iter()),
        ..Changes::default()
    };
    mark("the touched customers' rows gathered");
    if !growth.merged.is_empty() {
        step("joining customers");
        join_customers(ctx, &state_files, &growth.merged, &mut changes, budget).await?;
        mark(&format!("{} customers joined to others", growth.merged.len()));
    }
    let linked = match &again {
        None => None,
        Some(customers) => {
            let from = relink::ReadFrom {
                ctx,
                config_file: at.config_file,
            };
            let others = first_records(&new, &growth, &part);
            let numbering = (at.highest, &others[..]);
            let with_model = scoring.as_ref().map(|s| relink::WithModel {
                p: s.p,
                model: &s.model,
                decisions: &s.reach.decisions,
                current: &s.current,
            });
            match relink::link(
                from,
                config,
                (&growth, &new, customers),
                numbering,
                with_model.as_ref(),
                budget,
            )
            .await?
            {
                Ok(linked) => Some(linked),
                Err(why) => return Ok(Growing::Declined(why)),
            }
        }
    };
    // The kept profiles are done with once the part is linked again.
    let by_model = scoring.is_some();
    drop(scoring);
    budget.set(PROFILES_READ, 0)?;
    // New customers' ids in the order of their first records; with
    // customers linked again, numbered with theirs (`relink`).
    let ids: Vec<u64> = match &linked {
        Some(linked) => linked.growth_ids.clone(),
        None => (1..=u64::from(growth.new_customers)).map(|n| at.highest + n).collect(),
    };
    let given = at.highest + ids.iter().filter(|&&id| id != 0).count() as u64;
    let home_id = |home: Home| match home {
        Home::Customer(c) => c,
        Home::New(n) => ids[n as usize],
    };
    add_new_records(&new, config, &growth, (&home_id, &in_part), &mut changes);
    // The part's customers are written from their records linked again.
    changes.rows.retain(|c, _| !part.old.contains(c));
    if let Some(linked) = &linked {
        mark(&format!(
            "{} customers linked again into {}",
            part.old.len() + part.new.len(),
            linked.customers_now
        ));
    }
    // A joined customer's every row is written again, under its survivor.
    for survivor in changes.joined.keys() {
        if let Some(rows) = changes.rows.get_mut(survivor) {
            rows.values_mut().for_each(|row| row.changed = true);
        }
    }
    mark("records added");
    let slots = changes.slots(config);
    let slot_key = |c, slot: winners::Slot| state::customer_key(c, u64::from(slot));
    let winner_slots = KeyFilter::new(slots.iter().map(|&(c, slot)| slot_key(c, slot)), slots.len());
    let held = winners::read(ctx, &winner_files, |c, slot| {
        winner_slots.may_contain(slot_key(c, slot)) && slots.contains(&(c, slot))
    })
    .await?;
    budget.set(WINNERS_READ, held.len() * WINNER_BYTES)?;
    mark(&format!("{} winners read", held.len()));

    step("writing the identity tables");
    let run = outputs::run_id(chrono::Utc::now());
    replaced_as_folded(&changes, &replaced, (&growth.merged, &part.old), at.highest)?;
    // The customers table (the changed ones, or a copy of most of the old
    // one) is written while the new records' links and state rows are:
    // neither needs the other, and the reading leaves a core idle at times.
    let customers = async {
        let old = match ahead.as_mut() {
            Some(ReadAhead(task)) => OldRows::ReadAhead(
                task.await
                    .map_err(|e| Error::Usage(format!("reading the last run's customers stopped: {e}")))??,
            ),
            None => OldRows::Copied(&customer_files, &replaced),
        };
        let relinked = linked.as_ref().map_or(&[][..], |l| &l.customers[..]);
        let written =
            grown_golden::write_customers(ctx, (at.output, &run), config, (&changes, relinked), &held, old).await;
        mark("customers written");
        written
    };
    let links_and_state = async {
        let placed = Placed {
            growth: &growth,
            home_id: &home_id,
            in_part: &in_part,
        };
        let links = write_links(ctx, (at.output, &run), &new, placed, &holders, linked.as_ref()).await?;
        mark("links written");
        let relinked = linked.as_ref().map_or(&[][..], |l| &l.values[..]);
        write_state(ctx, at.output, &run, &changes, relinked).await?;
        let ids = record_ids::batches(&new);
        outputs::write(ctx, at.output, &run, record_ids::IDS, record_ids::schema(), ids).await?;
        Ok::<_, Error>(links)
    };
    let (written, links) = futures::join!(customers, links_and_state);
    // A customer past max_cluster_size says why a full run follows, even
    // when the links beside it failed (nothing of the run is committed).
    let (counts, new_winners) = match written? {
        grown_golden::Written::Done { counts, winners } => (counts, winners),
        grown_golden::Written::Declined(why) => return Ok(Growing::Declined(why)),
    };
    let links = links?;
    outputs::write(
        ctx,
        at.output,
        &run,
        winners::WINNERS,
        winners::schema(),
        std::iter::once(new_winners)
            .chain(linked.iter().flat_map(|l| l.winners.iter().cloned()))
            .map(Ok),
    )
    .await?;
    if by_model {
        let (profiles, refused) = linked
            .as_ref()
            .map_or((&[][..], &[][..]), |l| (&l.profiles[..], &l.refused[..]));
        let (profiles, refused) = (profiles.iter().cloned().map(Ok), refused.iter().cloned().map(Ok));
        outputs::write(
            ctx,
            at.output,
            &run,
            kept_profiles::PROFILES,
            kept_profiles::schema(),
            profiles,
        )
        .await?;
        outputs::write(
            ctx,
            at.output,
            &run,
            kept_profiles::REFUSED,
            kept_profiles::refused_schema(),
            refused,
        )
        .await?;
    }
    mark("state written");
    let mut merges = at.merges;
    if !growth.merged.is_empty() {
        merges.push(outputs::merges(
            &joined::merges(&growth, &new.kinds),
            chrono::Utc::now(),
        )?);
    }
    if let Some(linked) = linked.as_ref().filter(|l| !l.changes.is_empty()) {
        merges.push(outputs::merges(&linked.changes, chrono::Utc::now())?);
    }
    outputs::write(
        ctx,
        at.output,
        &run,
        outputs::MERGES,
        outputs::merges_schema(),
        merges.into_iter().map(Ok),
    )
    .await?;
    let mut runs = chain.clone();
    runs.push(run.clone());
    outputs::write_chain(&store, &run, &runs).await?;
    // The committed run's remap, read once placing was done.
    let mut ids_now = remapped;
    remap::extend(&mut ids_now, &growth.merged);
    // The records linked again are read from this run's links and edges
    // alone; the chain's earlier runs' moved records carried along.
    let mut moved_now = moved::read(&store, at.current).await?;
    if let Some(linked) = &linked {
        remap::extend(&mut ids_now, &linked.merged);
        moved_now.extend(linked.records.iter().map(|record| (record.clone(), run.clone())));
    }
    remap::write(&store, &run, &ids_now).await?;
    moved::write(&store, &run, &moved_now).await?;
    // New customers of the growth in the part took no id of theirs.
    let new_ids = (given - at.highest) + linked.as_ref().map_or(0, |l| l.new_ids);
    let (pieces, splits, joins) = linked.as_ref().map_or((0, 0, 0), |l| {
        (l.customers_now, relink::splits(&l.changes), l.merged.len() as u64)
    });
    let highest = given.max(at.highest);
    Ok(Growing::Grown(Grown {
        grew: at.current.to_string(),
        records: new.sources.iter().map(|s| (s.name.clone(), s.len as u64)).collect(),
        links,
        customers: counts.0,
        multi_record_customers: counts.1,
        largest: counts.2,
        new_ids,
        merged: growth.merged.len() as u64 + joins,
        split: splits,
        touched: touched.len() as u64 + (new_ids - linked.as_ref().map_or(0, |l| l.new_ids)) + pieces,
        highest: linked.as_ref().map_or(highest, |l| l.highest.max(highest)),
        run,
    }))
}

/// What a growing run with `[identity.probabilistic]` scores with: the
/// saved model, the profiles and refusals that hold in the committed run,
/// and what the new records' profiles reach.
struct Scoring<'a> {
    p: &'a ProbabilisticConfig,
    model: Model,
    current: kept_profiles::Current,
    reach: reach::Reach,
}

/// The saved model, the committed run's profiles and refusals, and the
/// old customers the new records' profiles match; or why the run cannot
/// grow.
async fn scoring<'a>(
    ctx: &SessionContext,
    p: &'a ProbabilisticConfig,
    (at, chain): (&Place<'_>, &[String]),
    new: &Records,
    budget: &mut Budget,
) -> Result<std::result::Result<Scoring<'a>, String>> {
    let model = match probabilistic::model_to_grow(at.dir, p)? {
        Ok(model) => model,
        Err(why) => return Ok(Err(why)),
    };
    let files = |name| -> Vec<Url> {
        chain
            .iter()
            .rev()
            .map(|r| outputs::run_location(at.output, name, Some(r)))
            .collect()
    };
    let current = kept_profiles::read(ctx, &files(kept_profiles::PROFILES), &files(kept_profiles::REFUSED)).await?;
    budget.set(PROFILES_READ, current.memory_size())?;
    let mut texts: HashSet<[Option<String>; profiles::FIELDS]> = HashSet::new();
    profiles::for_each_profiled(new, |_, _, t| {
        texts.insert(t);
    });
    let texts: Vec<_> = texts.into_iter().collect();
    let threshold = p.threshold.unwrap_or(probabilistic::DEFAULT_THRESHOLD);
    let reach = reach::reached(&current.profiles, &texts, p, &model, threshold);
    Ok(Ok(Scoring {
        p,
        model,
        current,
        reach,
    }))
}

/// The budget's part for the profiles and refusals the state keeps, read
/// by a growing run with the model (the profiles blocked against them are
/// made from them, about as large again).
const PROFILES_READ: &str = "the kept profiles read";

/// The share of the committed run's customers past which a growing run
/// with the model resolves everything instead (`max_share_linked_again`):
/// it links every customer the new records touch again from their records
/// read back. At 100k people (2026-12-08) a day touching 0.44% of the
/// customers took a third of a full run, one touching 19% 1.6-2.0 times
/// one: about 0.3 of a full run and 0.08 more for each percent.
const MAX_SHARE_LINKED_AGAIN: f64 = 0.02;

/// Why a growing run with the model should leave the new records to a
/// full run: they touch more customers than linking again pays for.
async fn too_many_to_link_again(ctx: &SessionContext, growth: &Growth, most: f64) -> Result<Option<String>> {
    let mut touched: HashSet<u64> = growth
        .homes
        .iter()
        .filter_map(|h| match h {
            Home::Customer(c) => Some(*c),
            Home::New(_) => None,
        })
        .collect();
    touched.extend(growth.merged.iter().flat_map(|&(a, b)| [a, b]));
    let sql = format!("SELECT count(*) FROM {}", outputs::CUSTOMERS);
    let batches = ctx.sql(&sql).await?.collect().await?;
    let all = batches
        .first()
        .and_then(|b| {
            b.column(0)
                .as_primitive_opt::<datafusion::arrow::datatypes::Int64Type>()
        })
        .map_or(0, |c| c.value(0).max(0) as u64);
    let share = touched.len() as f64 / all.max(1) as f64;
    Ok((share > most).then(|| {
        format!(
            "the new records touch {} of {all} customers, whom a run with [identity.probabilistic] links again whole: past {}% (max_share_linked_again) a full run is faster",
            touched.len(),
            most * 100.0
        )
    }))
}

/// Rounds of adding the customers on the other side of a refused weak
/// link before a growing run leaves the part to a full run.
const REFUSAL_ROUNDS: usize = 4;

/// With the model, the customers a growing run links again: every one the
/// new records reach, on identifiers (joined ones included) or on
/// attributes (`reach`), and every new customer; closed over values split
/// by first name (`relink::customers`) and over the weak links the
/// committed run refused (which depend on the clusters on both sides).
async fn reached_part(
    ctx: &SessionContext,
    state_files: &[Url],
    (growth, new, before): (&Growth, &Records, &Before<'_>),
    scoring: &Scoring<'_>,
) -> Result<std::result::Result<relink::Customers, String>> {
    let mut start = Part::default();
    for &home in &growth.homes {
        start.add(home);
    }
    start.new.extend(0..growth.new_customers);
    for &(absorbed, survivor) in &growth.merged {
        start.old.extend([absorbed, survivor]);
    }
    start.old.extend(scoring.reach.customers.iter().copied());
    for _ in 0..REFUSAL_ROUNDS {
        let customers = match relink::customers(ctx, state_files, (growth, new, before), &start).await? {
            Ok(customers) => customers,
            Err(why) => return Ok(Err(why)),
        };
        let old = &customers.part.old;
        let across: Vec<u64> = scoring
            .current
            .refused
            .iter()
            .filter(|(a, b)| old.contains(a) != old.contains(b))
            .flat_map(|&(a, b)| [a, b])
            .collect();
        if across.is_empty() {
            return Ok(Ok(customers));
        }
        start = customers.part;
        start.old.extend(across);
    }
    Ok(Err(format!(
        "the customers to link again meet weak links the last run refused, past {REFUSAL_ROUNDS} rounds"
    )))
}

/// The first record of each of the growth's new customers (`None` for
/// those linked again): the records come by source, in record-id order.
fn first_records(new: &Records, growth: &Growth, part: &Part) -> Vec<Option<relink::FirstRecord>> {
    let mut first: Vec<Option<relink::FirstRecord>> = vec![None; growth.new_customers as usize];
    for r in 0..new.len {
        if let Home::New(n) = growth.homes[r as usize]
            && !part.new.contains(&n)
            && first[n as usize].is_none()
        {
            let (source, row) = new.locate(r);
            first[n as usize] = Some((new.source_of(r), source.record_id(row).to_string()));
        }
    }
    first
}

/// Whether the old customers the run takes out of `customers`
/// (`replaced`) are those it folds again (`changes.rows`), those it
/// absorbed (`merged`) and those it links again (`relinked`), no more and
/// no fewer: one changed but not read
/// would be folded without its old row, one read but not changed would
/// be lost from a table written whole.
fn replaced_as_folded(
    changes: &Changes,
    replaced: &HashSet<u64>,
    (merged, relinked): (&[(u64, u64)], &BTreeSet<u64>),
    highest: u64,
) -> Result<()> {
    let absorbed: HashSet<u64> = merged
        .iter()
        .map(|&(absorbed, _)| absorbed)
        .chain(relinked.iter().copied())
        .collect();
    let unread = changes.rows.keys().find(|&&c| c <= highest && !replaced.contains(&c));
    let unfolded = replaced
        .iter()
        .find(|c| !changes.rows.contains_key(*c) && !absorbed.contains(*c));
    match (unread, unfolded) {
        (Some(c), _) => Err(Error::Usage(format!(
            "customer {} changed, but its old row was not read",
            format_id(*c)
        ))),
        (_, Some(c)) => Err(Error::Usage(format!(
            "customer {} was read to be changed, but nothing changed it",
            format_id(*c)
        ))),
        _ => Ok(()),
    }
}

/// The last run's customers being read on a task of their own, which
/// stops if the run does (declining, or failing) before it is awaited.
struct ReadAhead(tokio::task::JoinHandle<Result<grown_golden::OldCustomers>>);

impl Drop for ReadAhead {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The new files' records: each source's table restricted to its new files
/// in a session of its own, read as a full run reads a source.
async fn read_new(
    ctx: &SessionContext,
    config: &IdentityConfig,
    plan: &Plan,
    at: &Place<'_>,
    budget: &mut Budget,
) -> Result<Records> {
    let new_ctx = SessionContext::new_with_config_rt(ctx.copied_config(), ctx.runtime_env());
    oneview_udfs::register_all(&new_ctx);
    let state = new_ctx.state();
    for (table, files) in &plan.new_files {
        let spec = at
            .tables
            .iter()
            .find(|t| &t.name == table)
            .ok_or_else(|| Error::Usage(format!("the identity source table `{table}` is not declared")))?;
        let schema = ctx.table_provider(table.as_str()).await?.schema();
        let provider: Arc<dyn datafusion::catalog::TableProvider> = if files.is_empty() {
            Arc::new(MemTable::try_new(Arc::clone(&schema), vec![vec![]])?)
        } else {
            let urls: Vec<String> = files.iter().map(|f| file_url(&spec.url, &f.path)).collect();
            spec.open_files(&state, &urls, schema)?
        };
        new_ctx.register_table(table.as_str(), provider)?;
    }
    records::read(&new_ctx, config, at.config_file, budget).await
}

/// Why not, if a new record has the id of a record of the committed run
/// (its source's, as `identity_links` holds them): a full run refuses a
/// source whose record ids repeat, and says which.
async fn repeated_record_id(ctx: &SessionContext, new: &Records) -> Result<Option<String>> {
    let (mut sources, mut ids) = (StringBuilder::new(), StringBuilder::new());
    for source in &new.sources {
        for row in 0..source.len {
            sources.append_value(&source.name);
            ids.append_value(source.record_id(row));
        }
    }
    let batch = RecordBatch::try_from_iter([
        ("source", Arc::new(sources.finish()) as ArrayRef),
        ("record_id", Arc::new(ids.finish()) as ArrayRef),
    ])?;
    let session = SessionContext::new_with_config_rt(ctx.copied_config(), ctx.runtime_env());
    session.register_table(
        "new_ids",
        Arc::new(MemTable::try_new(batch.schema(), vec![vec![batch]])?),
    )?;
    session.register_table(outputs::LINKS, ctx.table_provider(outputs::LINKS).await?)?;
    let found = session
        .sql(&format!(
            "SELECT n.source, n.record_id FROM new_ids n JOIN {} l ON l.source = n.source AND l.record_id = n.record_id LIMIT 1",
            outputs::LINKS
        ))
        .await?
        .collect()
        .await?;
    let Some(batch) = found.iter().find(|b| b.num_rows() > 0) else {
        return Ok(None);
    };
    let text = |i: usize| -> Result<String> {
        let column = datafusion::arrow::compute::cast(batch.column(i), &datafusion::arrow::datatypes::DataType::Utf8)?;
        Ok(column.as_string::<i32>().value(0).to_string())
    };
    Ok(Some(format!(
        "source `{}`: a new file repeats the record id `{}` of an earlier one",
        text(0)?,
        text(1)?
    )))
}

/// The URL of a listed file (its path in the store) of a table at `table`.
fn file_url(table: &Url, path: &str) -> String {
    let mut url = table.clone();
    url.set_path(&format!("/{}", path.trim_start_matches('/')));
    url.to_string()
}

/// Per identifier kind, the distinct values the new records carry.
fn identifier_keys(new: &Records) -> HashMap<String, HashSet<String>> {
    new.kinds
        .iter()
        .zip(&new.values)
        .map(|(kind, values)| (kind.clone(), values.iter().map(str::to_string).collect()))
        .collect()
}

/// The rows of the state's `batches` that `keep` says (by customer and
/// key), the batches on every core.
fn rows_where(batches: &[RecordBatch], keep: impl Fn(u64, u64) -> bool + Sync) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for part in crate::util::parallel::map(batches.len(), |i| state::rows_of(&batches[i], &keep)) {
        rows.extend(part?);
    }
    Ok(rows)
}

/// Each new record's values of the golden columns that are attributes,
/// as `state::key`s (by record).
fn attribute_keys(new: &Records, config: &IdentityConfig) -> Vec<Vec<u64>> {
    let columns = golden::columns(config);
    let this_year = chrono::Datelike::year(&chrono::Utc::now());
    let mut keys = Vec::with_capacity(new.len as usize);
    for source in &new.sources {
        for row in 0..source.len {
            let values = attribute_values(new, (&columns, this_year), source, row);
            keys.push(values.iter().map(|(column, value)| state::key(column, value)).collect());
        }
    }
    keys
}

/// A record's customers to be: those holding its identifier values
/// (`holders`, by `state::key`), unless more than this many.
const LIKELY_HOMES: usize = 64;

/// The attribute values each new record would bring to the customers that
/// hold its identifier values (`held`: the customer and key of the
/// identifier values' rows), as `state::customer_key`s: where most records
/// go, known before they are placed.
fn likely_attribute_keys(new: &Records, attributes: &[Vec<u64>], held: &[(u64, u64)]) -> HashSet<u64> {
    let mut holders: HashMap<u64, Vec<u64>> = HashMap::new();
    for &(customer, key) in held {
        holders.entry(key).or_default().push(customer);
    }
    let mut keys = HashSet::new();
    let mut homes: Vec<u64> = Vec::new();
    for source in &new.sources {
        for row in 0..source.len {
            let attributes = &attributes[(source.offset as usize) + row];
            if attributes.is_empty() {
                continue;
            }
            homes.clear();
            for (kind, values) in new.kinds.iter().zip(&source.identifiers) {
                if let Some(value) = records::value(values, row)
                    && let Some(customers) = holders.get(&state::key(kind, value))
                {
                    homes.extend(customers);
                }
            }
            homes.sort_unstable();
            homes.dedup();
            if homes.len() > LIKELY_HOMES {
                continue;
            }
            for c in &homes {
                keys.extend(attributes.iter().map(|key| state::customer_key(*c, *key)));
            }
        }
    }
    keys
}

/// What the state's rows say of each identifier value they hold (a
/// value's rows grouped by sorting: most values have one).
fn known_values(rows: &[Row]) -> HashMap<(&str, &str), Known> {
    let mut held: Vec<&Row> = rows.iter().filter(|r| r.status.is_some()).collect();
    held.sort_by(|a, b| (&a.column, &a.value).cmp(&(&b.column, &b.value)));
    held.chunk_by(|a, b| a.column == b.column && a.value == b.value)
        .filter_map(|same| {
            let known = state::known(same.iter().copied())?;
            Some(((same[0].column.as_str(), same[0].value.as_str()), known))
        })
        .collect()
}

/// The attribute values the new records bring to the customers of the
/// committed run they were placed in, as `state::customer_key`s.
fn brought_attribute_keys(new: &Records, attributes: &[Vec<u64>], growth: &Growth) -> HashSet<u64> {
    let mut keys = HashSet::new();
    for (home, attributes) in growth.homes.iter().zip(attributes).take(new.len as usize) {
        if let Home::Customer(c) = home {
            keys.extend(attributes.iter().map(|key| state::customer_key(*c, *key)));
        }
    }
    keys
}

/// A record's values of the golden columns that are attributes, as the
/// golden records hold them.
fn attribute_values<'a>(
    new: &'a Records,
    (columns, this_year): (&'a [String], i32),
    source: &'a records::SourceRecords,
    row: usize,
) -> Vec<(&'a str, Cow<'a, str>)> {
    record_values(new, (columns, this_year), source, row)
        .into_iter()
        .filter(|(_, _, identifier)| !identifier)
        .map(|(column, value, _)| (column, value))
        .collect()
}

/// A record's values of the golden columns as the golden records hold them
/// (dates of birth in one form where they can be read), each with whether
/// the column is an identifier kind.
fn record_values<'a>(
    new: &'a Records,
    (columns, this_year): (&'a [String], i32),
    source: &'a records::SourceRecords,
    row: usize,
) -> Vec<(&'a str, Cow<'a, str>, bool)> {
    let dob = attribute_index("date_of_birth");
    let mut values = Vec::new();
    for column in columns {
        let column = column.as_str();
        match new.kind_index(column) {
            Some(k) => {
                if let Some(value) = records::value(&source.identifiers[k], row) {
                    values.push((column, Cow::Borrowed(value), true));
                }
            }
            None => {
                let a = attribute_index(column);
                if let Some(value) = records::value(&source.attributes[a], row) {
                    let value = match a == dob {
                        true => parse_date(value, this_year).map_or(Cow::Borrowed(value), Cow::Owned),
                        false => Cow::Borrowed(value),
                    };
                    values.push((column, value, false));
                }
            }
        }
    }
    values
}

/// The budget's part for the joined customers' rows.
const JOINED_ROWS: &str = "the joined customers' rows of the identity state";

/// Reads every row of the customers the new records join (`merged`:
/// absorbed, survivor) and puts them in `changes` under their survivors,
/// in place of the rows gathered for them; the absorbed ones' rows gone.
async fn join_customers(
    ctx: &SessionContext,
    state_files: &[Url],
    merged: &[(u64, u64)],
    changes: &mut Changes,
    budget: &mut Budget,
) -> Result<()> {
    let joined = joined::read(ctx, state_files, merged).await?;
    let held = joined
        .rows
        .values()
        .flat_map(|rows| rows.values())
        .map(Row::memory_size)
        .sum();
    budget.set(JOINED_ROWS, held)?;
    for &(absorbed, _) in merged {
        changes.rows.remove(&absorbed);
    }
    changes.rows.extend(joined.rows);
    changes.joined = joined::by_survivor(merged);
    changes.gone = joined.gone;
    Ok(())
}

fn by_customer(rows: impl Iterator<Item = Row>) -> BTreeMap<u64, CustomerRows> {
    let mut out: BTreeMap<u64, CustomerRows> = BTreeMap::new();
    for row in rows {
        out.entry(row.customer)
            .or_default()
            .insert(grown_golden::value_key(&row.column, &row.value).into(), row);
    }
    out
}

/// Adds each new record (but those linked again, `in_part`) to its customer's rows: its source's count, and
/// each golden column's value with what survivorship weighs of it and, for
/// an identifier, what the value is now (`grow`'s).
fn add_new_records(
    new: &Records,
    config: &IdentityConfig,
    growth: &Growth,
    (home_id, in_part): (&dyn Fn(Home) -> u64, &dyn Fn(Home) -> bool),
    changes: &mut Changes,
) {
    let now_known: HashMap<(&str, &str), &Known> = growth
        .values
        .iter()
        .map(|((k, v), known)| ((k.as_str(), v.as_str()), known))
        .collect();
    let columns = golden::columns(config);
    let this_year = chrono::Datelike::year(&chrono::Utc::now());
    // A row's key made in one buffer: a value met again costs no allocation.
    let mut key = String::new();
    for source in &new.sources {
        let index = config
            .sources
            .keys()
            .position(|k| *k == source.name)
            .expect("the records' sources are configured sources");
        for row in 0..source.len {
            let r = source.offset + row as u32;
            if in_part(growth.homes[r as usize]) {
                continue;
            }
            let customer = home_id(growth.homes[r as usize]);
            let rows = changes.rows.entry(customer).or_default();
            let one = Stats::of(source.updated(row), source.priority);
            *changes.sources.entry((customer, index)).or_default() += 1;
            let name = source.first_name(row);
            for (column, value, identifier) in record_values(new, (&columns, this_year), source, row) {
                grown_golden::value_key_into(&mut key, column, &value);
                if !rows.contains_key(key.as_str()) {
                    let new_row = Row {
                        customer,
                        column: column.to_string(),
                        value: value.to_string(),
                        stats: Stats::NONE,
                        status: None,
                        others: Vec::new(),
                        names: Vec::new(),
                        record: identifier.then(|| (source.name.clone(), source.record_id(row).to_string())),
                        changed: true,
                    };
                    rows.insert(key.as_str().into(), new_row);
                }
                let entry = rows.get_mut(key.as_str()).expect("inserted above");
                // An earlier record of this run set its status and guard counts.
                let again = entry.changed && entry.status.is_some();
                entry.changed = true;
                entry.stats.add(one);
                if identifier && let Some(known) = now_known.get(&(column, &*value)) {
                    now_is(entry, known, name, again);
                }
            }
        }
    }
}

/// An identifier value's row as the value is now (`known`), a record of
/// first name `name` among its records; `again` if an earlier record of
/// the run set it so (its guard counts are known's already).
fn now_is(row: &mut Row, known: &Known, name: Option<&str>, again: bool) {
    row.status = Some(known.status);
    let others = || {
        known
            .others
            .iter()
            .flat_map(|(kind, values)| values.iter().map(move |v| format!("{kind}={v}")))
            .collect()
    };
    match known.status {
        ValueStatus::Linked if !again => {
            row.others = others();
            row.names = known.names.clone();
        }
        ValueStatus::Linked => {}
        // Each customer's row keeps the names of its records.
        ValueStatus::Split => {
            if !again {
                row.others = others();
            }
            if let Some(name) = name
                && !row.names.iter().any(|n| n == name)
            {
                row.names.push(name.to_string());
                row.names.sort_unstable();
            }
        }
        ValueStatus::Stopped | ValueStatus::Blocked => {
            row.others.clear();
            row.names.clear();
        }
    }
}

/// Per linked value of a committed customer that new records link to (its
/// customer, kind and value), the record of that customer holding it.
type Holders<'a> = HashMap<(u64, &'a str, &'a str), (String, String)>;

/// The holders of the values the new records' links end at, from the
/// state's rows of the values they carry (`found`).
fn link_holders<'a>(growth: &'a Growth, kinds: &'a [String], found: &[Row]) -> Holders<'a> {
    // Each key maps to itself: a lookup by a row's texts gives the key
    // borrowed from the links, which outlives the rows.
    let wanted: HashMap<(u64, &str, &str), (u64, &str, &str)> = growth
        .links
        .iter()
        .filter_map(|link| match &link.to {
            End::Value { value, customer } => {
                let key = (*customer, kinds[link.kind].as_str(), value.as_str());
                Some((key, key))
            }
            End::Record(_) => None,
        })
        .collect();
    found
        .iter()
        .filter(|r| matches!(r.status, Some(ValueStatus::Linked | ValueStatus::Split)))
        .filter_map(|r| {
            let key = *wanted.get(&(r.customer, r.column.as_str(), r.value.as_str()))?;
            Some((key, r.record.clone()?))
        })
        .collect()
}

/// Where the growth put the new records: their homes, the homes' ids, and
/// which homes are linked again (`relink`).
struct Placed<'a> {
    growth: &'a Growth,
    home_id: &'a dyn Fn(Home) -> u64,
    in_part: &'a dyn Fn(Home) -> bool,
}

/// Writes the new records' links and edges (files added to the chain),
/// those linked again (`linked`) as that made them. Returns the links
/// made, per rule.
async fn write_links(
    ctx: &SessionContext,
    (output, run): (&Url, &str),
    new: &Records,
    placed: Placed<'_>,
    holder: &Holders<'_>,
    linked: Option<&relink::Linked>,
) -> Result<Vec<(String, u64)>> {
    let Placed {
        growth,
        home_id,
        in_part,
    } = placed;
    let again = |r: u32| in_part(growth.homes[r as usize]);
    let mut best: Vec<Option<usize>> = vec![None; new.len as usize];
    let mut per_rule: BTreeMap<String, u64> = BTreeMap::new();
    let mut edges = outputs::EdgeRows::default();
    let name_of = |r: u32| {
        let (source, row) = new.locate(r);
        (source.name.as_str(), source.record_id(row))
    };
    for link in growth.links.iter().filter(|link| !again(link.record)) {
        let kind = &new.kinds[link.kind];
        let (s, id) = name_of(link.record);
        let (value_text, other) = match &link.to {
            End::Record(r) => {
                let slot = &mut best[*r as usize];
                *slot = Some(slot.map_or(link.kind, |k| k.min(link.kind)));
                let (source, row) = new.locate(*r);
                let v = records::value(&source.identifiers[link.kind], row)
                    .unwrap_or_default()
                    .to_string();
                let (os, oid) = name_of(*r);
                (v, (os.to_string(), oid.to_string()))
            }
            End::Value { value: v, customer } => {
                let Some(held) = holder.get(&(*customer, kind.as_str(), v.as_str())) else {
                    return Err(Error::Usage(format!(
                        "the identity state names no record holding `{kind}` value {v}; run `oneview resolve --full`"
                    )));
                };
                (v.clone(), (*held).clone())
            }
        };
        let slot = &mut best[link.record as usize];
        *slot = Some(slot.map_or(link.kind, |k| k.min(link.kind)));
        let customer = format_id(home_id(growth.homes[link.record as usize]));
        let ends = ((s, id), (other.0.as_str(), other.1.as_str()));
        edges.push(&customer, ends, kind, Some(&value_text), 1.0);
        *per_rule.entry(kind.clone()).or_default() += 1;
    }
    let edges = edges.finish()?;
    let edges_again = linked.iter().flat_map(|l| l.edges.iter().cloned());
    outputs::write(
        ctx,
        output,
        run,
        outputs::EDGES,
        outputs::edges_schema(),
        std::iter::once(edges).chain(edges_again).map(Ok),
    )
    .await?;
    for (rule, n) in linked.iter().flat_map(|l| &l.rules) {
        *per_rule.entry(rule.clone()).or_default() += n;
    }

    let (mut source, mut record_id, mut customer, mut rule, mut probability) = (
        StringBuilder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
        Float64Builder::new(),
    );
    for s in &new.sources {
        for row in 0..s.len {
            let r = s.offset + row as u32;
            if again(r) {
                continue;
            }
            source.append_value(&s.name);
            record_id.append_value(s.record_id(row));
            customer.append_value(format_id(home_id(growth.homes[r as usize])));
            match best[r as usize] {
                Some(k) => {
                    rule.append_value(&new.kinds[k]);
                    probability.append_value(1.0);
                }
                None => {
                    rule.append_null();
                    probability.append_null();
                }
            }
        }
    }
    let links: Vec<ArrayRef> = vec![
        Arc::new(source.finish()),
        Arc::new(record_id.finish()),
        Arc::new(customer.finish()),
        Arc::new(rule.finish()),
        Arc::new(probability.finish()),
    ];
    let links = RecordBatch::try_new(outputs::links_schema(), links)?;
    let links_again = linked.iter().flat_map(|l| l.links.iter().cloned());
    outputs::write(
        ctx,
        output,
        run,
        outputs::LINKS,
        outputs::links_schema(),
        std::iter::once(links).chain(links_again).map(Ok),
    )
    .await?;
    Ok(per_rule.into_iter().collect())
}

/// Writes the state rows the run changed (a file added to the chain), and
/// those of the customers linked again (`relinked`, as written).
async fn write_state(
    ctx: &SessionContext,
    output: &Url,
    run: &str,
    changes: &Changes,
    relinked: &[RecordBatch],
) -> Result<()> {
    let mut rows = state::Rows::default();
    for (customer, held) in &changes.rows {
        for row in held.values().filter(|r| r.changed) {
            let others = row.others.clone();
            let names: Vec<&str> = row.names.iter().map(String::as_str).collect();
            let identifier = match (row.status, &row.record) {
                (Some(status), Some(record)) => Some(state::Identifier {
                    status,
                    others: &others,
                    names: &names,
                    record: (&record.0, &record.1),
                }),
                _ => None,
            };
            rows.push(*customer, (&row.column, &row.value), row.stats, identifier);
        }
    }
    for (customer, column, value) in &changes.gone {
        rows.push_gone(*customer, (column, value));
    }
    let batch = rows.finish()?;
    let batches = std::iter::once(batch).chain(relinked.iter().cloned()).map(Ok);
    outputs::write(ctx, output, run, state::VALUES, state::schema(), batches).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The old customers taken out of `customers` are exactly those folded
    /// again, those absorbed and those linked again: one folded but not
    /// read, or read but neither folded, absorbed nor linked again, stops
    /// the run.
    #[test]
    fn the_customers_replaced_are_those_folded_absorbed_and_linked_again() {
        let mut changes = Changes::default();
        for c in [1, 2, 9] {
            changes.rows.insert(c, Default::default());
        }
        let merged: &[(u64, u64)] = &[(3, 2)];
        let relinked: BTreeSet<u64> = [4].into();
        let none = BTreeSet::new();
        // 9 is a new customer (past the highest old id, 5): nothing to read.
        let replaced: HashSet<u64> = [1, 2, 3].into_iter().collect();
        assert!(replaced_as_folded(&changes, &replaced, (merged, &none), 5).is_ok());
        let unread: HashSet<u64> = [2, 3].into_iter().collect();
        let err = replaced_as_folded(&changes, &unread, (merged, &none), 5)
            .unwrap_err()
            .to_string();
        assert!(err.contains("its old row was not read"), "{err}");
        let extra: HashSet<u64> = [1, 2, 3, 4].into_iter().collect();
        let err = replaced_as_folded(&changes, &extra, (merged, &none), 5)
            .unwrap_err()
            .to_string();
        assert!(err.contains("nothing changed it"), "{err}");
        assert!(replaced_as_folded(&changes, &extra, (merged, &relinked), 5).is_ok());
    }
}
