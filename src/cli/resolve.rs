//! `oneview resolve [--explain ID | --evaluate TABLE]`.

use super::args::ResolveArgs;
use crate::error::Result;
use crate::exec::{print_batch, text_batch};
use crate::identity::diagnose::{Diagnosis, Grouped, Scores};
use crate::identity::graph::GuardCounts;
use crate::identity::inputs::SourceRead;
use crate::identity::probabilistic::Outcome;
use crate::identity::{self, Locations, Resolved, Summary};
use crate::project::Project;
use crate::project::identity::LinkType;
use crate::session::Session;
use crate::storage::OutputFormat;
use crate::util::progress;
use crate::util::{Round, human};

/// Where a resolution of `project` reads and writes; `config_file` is the
/// project's (`Project::config_file`), kept by the caller.
pub(super) fn locations<'a>(project: &'a Project, config_file: &'a std::path::Path) -> Locations<'a> {
    Locations {
        dir: &project.dir,
        config_file,
        state: &project.state,
        output: &project.output,
        tables: &project.tables,
    }
}

pub async fn run(session: &Session, args: ResolveArgs) -> Result<()> {
    let project = &session.project;
    let config = identity::require(project.config.identity.as_ref())?;
    if let Some(id) = &args.explain {
        print!("{}", identity::explain::explain(&session.ctx, id).await?);
        return Ok(());
    }
    if let Some(table) = &args.evaluate {
        let e = identity::evaluate::evaluate(&session.ctx, table).await?;
        let mut rows = vec![
            ("records evaluated", e.records.to_string()),
            ("records linked", e.links.to_string()),
            ("records in truth", e.truth.to_string()),
            ("pairwise precision", format!("{:.4}", e.precision())),
            ("pairwise recall", format!("{:.4}", e.recall())),
            ("pairwise F1", format!("{:.4}", e.f1())),
            ("predicted pairs", e.predicted_pairs.to_string()),
            ("true pairs", e.true_pairs.to_string()),
            ("correct pairs", e.correct_pairs.to_string()),
            ("B-cubed precision", format!("{:.4}", e.bcubed_precision)),
            ("B-cubed recall", format!("{:.4}", e.bcubed_recall)),
            ("B-cubed F1", format!("{:.4}", e.bcubed_f1())),
        ];
        let config_file = project.config_file();
        let diagnosis =
            identity::diagnose::diagnose(&session.ctx, config, locations(project, &config_file), table).await;
        // The scores of the links stand without the model's diagnosis: a
        // model that cannot score (trained before its comparisons changed)
        // is said in its row.
        match &diagnosis {
            Ok(Some(d)) => diagnosis_rows(d, &mut rows),
            Ok(None) if config.probabilistic.is_some() => rows.push((
                "model at threshold",
                "no saved model to score with (a run trains one once it has blocked pairs)".to_string(),
            )),
            Ok(None) => {}
            Err(e) => rows.push(("model at threshold", format!("cannot score the pairs: {e}"))),
        }
        return print_rows(session, rows, args.format).await;
    }
    let bar = progress::spinner("resolving identities");
    let config_file = project.config_file();
    let at = locations(project, &config_file);
    let options = identity::Options {
        train: args.train,
        full: args.full,
    };
    let resolved = identity::resolve(&session.ctx, config, at, options, &|step| {
        bar.set_message(step.to_string())
    })
    .await;
    bar.finish_and_clear();
    let rows = match resolved? {
        Resolved::Ran(summary) => summary_rows(&summary),
        Resolved::UpToDate { run, read, elapsed } => up_to_date_rows(&run, &read, elapsed),
    };
    print_rows(session, rows, args.format).await
}

/// Nothing changed: the committed run stands.
fn up_to_date_rows(run: &str, read: &[SourceRead], elapsed: std::time::Duration) -> Rows {
    let mut rows = vec![(
        "up to date",
        format!(
            "nothing changed since run {run} (the same files, settings and model): it stands; --full resolves anyway"
        ),
    )];
    read_rows(read, &mut rows);
    rows.push(("elapsed", format!("{:.1} s", elapsed.as_secs_f64())));
    rows
}

/// Per source, the files its table read and what changed since the last run.
fn read_rows(read: &[SourceRead], rows: &mut Rows) {
    for r in read {
        let files = match r.files {
            Some(1) => "1 file".to_string(),
            Some(n) => format!("{n} files"),
            None => "read on every run (what its SQL reads cannot be listed, or it calls a function whose result can change)".to_string(),
        };
        let since = match r.changes {
            Some(c) if c.any() => format!(
                "; since the last run {} new, {} rewritten, {} deleted",
                c.new, c.changed, c.deleted
            ),
            Some(_) if r.racy => {
                ", unchanged, but changed just before the last run listed it, so read again".to_string()
            }
            Some(_) => ", unchanged".to_string(),
            None if r.files.is_some() => ", no earlier run with these settings to compare".to_string(),
            None => String::new(),
        };
        rows.push(("  read", format!("{}: {files}{since}", r.source)));
    }
}

/// The attribute model against the truth: the threshold's F1 and the best,
/// blocking recall, and the pairs blocking missed, the model missed and the
/// model linked wrongly, by their comparison levels.
fn diagnosis_rows(d: &Diagnosis, rows: &mut Rows) {
    let scores = |s: &Scores| format!("F1 {:.4} (precision {:.4}, recall {:.4})", s.f1, s.precision, s.recall);
    rows.push((
        "model at threshold",
        format!("{}: {}", d.threshold, scores(&d.at_threshold)),
    ));
    rows.push(("  best threshold", format!("{}: {}", d.best_threshold, scores(&d.best))));
    rows.push((
        "  blocking recall",
        format!("{:.4} (the recall with every blocked pair linked)", d.blocking_recall),
    ));
    let groups = |label: &'static str, grouped: &Grouped, probabilities: bool, rows: &mut Rows| {
        rows.push((
            label,
            match grouped.pairs {
                0 => "none".to_string(),
                1 => "1 pair:".to_string(),
                n => format!("{n} pairs; the largest groups by levels:"),
            },
        ));
        for g in &grouped.largest {
            let range = if probabilities {
                format!(" (p {:.3}-{:.3})", g.lowest, g.highest)
            } else {
                String::new()
            };
            let plural = if g.pairs == 1 { "" } else { "s" };
            rows.push((
                "    by levels",
                format!("{} pair{plural}{range}: {}", g.pairs, g.levels),
            ));
        }
    };
    groups("  never blocked", &d.unblocked, false, rows);
    groups("  missed (below threshold)", &d.missed, true, rows);
    groups("  wrong (at or above)", &d.wrong, true, rows);
}

/// The items of a summary, one row each, in the order they are printed.
type Rows = Vec<(&'static str, String)>;

/// What a run did: records and links, customers, guards, the probabilistic
/// model (if any), then the time taken.
fn summary_rows(s: &Summary) -> Rows {
    let mut rows = Vec::new();
    let how = if s.grew.is_some() { "only new files" } else { "in full" };
    rows.push(("sources", format!("{} read {how}: {}", s.read.len(), s.why)));
    read_rows(&s.read, &mut rows);
    record_rows(s, &mut rows);
    customer_rows(s, &mut rows);
    // A grown run's guards fired as the run it grew counted them.
    if s.grew.is_none() {
        guard_rows(&s.guards, &mut rows);
    }
    if let Some(p) = &s.probabilistic {
        model_rows(p, &mut rows);
    }
    let (held, resident) = s.memory;
    let resident = resident.map_or(String::new(), |r| {
        format!("; the process's peak resident memory {}", human(r as usize, Round::Up))
    });
    let spilled = match s.spilled {
        0 => String::new(),
        bytes => format!(
            ", {} of words a record spilled to temporary files past it",
            human(bytes, Round::Up)
        ),
    };
    rows.push((
        "memory",
        format!(
            "{} held at most (what --memory-limit bounds){spilled}{resident}",
            human(held, Round::Up)
        ),
    ));
    rows.push(("elapsed", format!("{:.1} s", s.elapsed.as_secs_f64())));
    rows
}

/// Records read per source, the link type if not the default, and links made
/// per rule.
fn record_rows(s: &Summary, rows: &mut Rows) {
    let total: u64 = s.records.iter().map(|(_, n)| n).sum();
    rows.push(("records", total.to_string()));
    for (source, n) in &s.records {
        let before = s
            .read
            .iter()
            .find(|r| &r.source == source)
            .and_then(|r| r.records_before);
        let since = match before {
            Some(b) if b != *n => format!(" ({:+} since the last run)", *n as i64 - b as i64),
            _ => String::new(),
        };
        rows.push(("  from source", format!("{source}: {n}{since}")));
    }
    match s.link_type {
        LinkType::LinkAndDedupe => {}
        LinkType::LinkOnly => rows.push(("  link type", "link_only: records link across sources only".into())),
        LinkType::DedupeOnly => rows.push((
            "  link type",
            "dedupe_only: records link within each source only".into(),
        )),
    }
    let links: u64 = s.links.iter().map(|(_, n)| n).sum();
    match &s.grew {
        None => rows.push(("links", links.to_string())),
        Some(run) => rows.push(("links", format!("{links} new (the new records'), added to run {run}'s"))),
    }
    for (rule, n) in &s.links {
        rows.push(("  by rule", format!("{rule}: {n}")));
    }
}

/// The customers found, and how their ids changed since the last run.
fn customer_rows(s: &Summary, rows: &mut Rows) {
    rows.push(("customers", s.customers.to_string()));
    rows.push(("  with several records", s.multi_record_customers.to_string()));
    rows.push(("  largest (records)", s.largest.to_string()));
    rows.push(("  new ids", s.new_ids.to_string()));
    rows.push(("  merged ids", s.merged.to_string()));
    rows.push(("  split ids", s.split.to_string()));
    rows.push((
        "  touched",
        format!(
            "{} new or changed since the last run ({} as they were); {} of the last run's gone",
            s.touched,
            s.customers - s.touched,
            s.gone
        ),
    ));
}

/// How often each guard fired, per guard and kind of value.
fn guard_rows(guards: &GuardCounts, rows: &mut Rows) {
    rows.push(("guards fired", guards.total().to_string()));
    for (kind, (records, values)) in &guards.blocked {
        rows.push((
            "  blocked value",
            format!("{kind}: {records} records, {values} distinct values"),
        ));
    }
    for ((kind, other), n) in &guards.max_distinct {
        rows.push(("  max_distinct", format!("{kind} values with too many {other}s: {n}")));
    }
    for (kind, n) in &guards.max_records {
        rows.push(("  max_records", format!("{kind} values on too many records: {n}")));
    }
    for (kind, n) in &guards.split_by_first_name {
        rows.push((
            "  split_by_first_name",
            format!("{kind} values shared by people of different first names: {n}"),
        ));
    }
    for (kind, n) in &guards.max_cluster_size {
        rows.push(("  max_cluster_size", format!("{kind} links refused: {n}")));
    }
}

/// The probabilistic model: its blocking rules, the pairs it scored, where
/// the model came from, and the links it made or refused.
fn model_rows(p: &Outcome, rows: &mut Rows) {
    rows.push(("attribute profiles", p.profiles.to_string()));
    for rule in &p.blocking {
        let largest: Vec<String> = rule.largest.iter().map(|(k, n)| format!("{k} ({n})")).collect();
        let verdict = match (rule.refused, rule.replaced) {
            (true, true) => "over max_pairs, narrower default rules used instead; ",
            (true, false) => "REFUSED: over max_pairs; ",
            _ => "",
        };
        rows.push((
            "  blocking rule",
            format!(
                "{}: {verdict}{} pairs; largest blocks: {}",
                rule.rule,
                rule.pairs,
                largest.join(", ")
            ),
        ));
    }
    rows.push(("  pairs scored", p.scored_pairs.to_string()));
    let model = p.model_file.display();
    rows.push((
        "  model",
        if p.trained && p.scored_pairs == 0 {
            "not trained: no blocked pairs to learn from (nothing saved)".to_string()
        } else if p.trained {
            format!("trained, saved to {model} (lambda = {:.5})", p.lambda)
        } else {
            format!("read from {model} (lambda = {:.5})", p.lambda)
        },
    ));
    rows.push(("  links at threshold", format!("{} (p >= {})", p.links, p.threshold)));
    rows.push(("  weak links refused", p.refused_weak.to_string()));
    rows.push(("  links over max size", p.refused_size.to_string()));
}

async fn print_rows(session: &Session, rows: Vec<(&str, String)>, format: OutputFormat) -> Result<()> {
    let batch = text_batch(vec![
        ("item", rows.iter().map(|(k, _)| Some(k.to_string())).collect()),
        ("value", rows.into_iter().map(|(_, v)| Some(v)).collect()),
    ])?;
    print_batch(&session.ctx, batch, format).await?;
    Ok(())
}
