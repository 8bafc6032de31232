//! `oneview demo`: the pipeline on the bundled sample, with no set-up.
//! Each capability adds its step here as it lands.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::args::DemoArgs;
use crate::error::{Error, Result};
use crate::exec::run_sql;
use crate::project::{CONFIG_FILE, Project};
use crate::session::{Session, SessionOptions};
use crate::storage::{Destination, OutputFormat, OutputSpec};
use crate::{identity, reports};

/// The demo project of the source tree this binary was built from.
fn source_tree_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("datasets").join("demo")
}

/// The sample and the demo project, built into the binary so that an
/// installed `oneview demo` works without the source tree.
macro_rules! embedded {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/", $path)) as &[u8])),*]
    };
}

const EMBEDDED: &[(&str, &[u8])] = embedded![
    "demo/oneview.toml",
    "demo/segments/cart_abandoners.sql",
    "demo/segments/frequent_returners.sql",
    "demo/segments/lapsed_win_back.sql",
    "demo/segments/loyal_high_value.sql",
    "demo/segments/slipping_high_value.sql",
    "demo/segments/vip_win_back.sql",
    "demo/segments/weekly_shoppers.sql",
    "sample/generator.json",
    "sample/crm_contacts/part-00000.parquet",
    "sample/web_events/part-00000.parquet",
    "sample/orders/part-00000.parquet",
    "sample/support_tickets/part-00000.parquet",
    "sample/email_subscribers/part-00000.parquet",
    "sample/social_profiles/part-00000.parquet",
    "sample/consents/part-00000.parquet",
    "sample/ground_truth/part-00000.parquet",
    "sample/people/part-00000.parquet",
];

/// Unpacks the embedded demo into `root`; returns the project directory.
fn unpack(root: &Path) -> Result<PathBuf> {
    for (path, bytes) in EMBEDDED {
        let target = root.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(format!("cannot create {}", parent.display()), e))?;
        }
        std::fs::write(&target, bytes).map_err(|e| Error::io(format!("cannot write {}", target.display()), e))?;
    }
    Ok(root.join("demo"))
}

/// Prints to standard output; a closed pipe (`oneview demo | head`) is not an error.
fn say(text: &str) {
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}

/// The person the demo follows: the first with records in four systems.
macro_rules! person_cte {
    () => {
        "WITH person AS (
             SELECT g.person_id FROM ground_truth g
             WHERE g.source IN ('crm_contacts', 'support_tickets', 'email_subscribers', 'social_profiles')
             GROUP BY g.person_id
             HAVING count(DISTINCT g.source) = 4
             ORDER BY g.person_id LIMIT 1
         )"
    };
}

/// The demo's steps: queries, and the identity resolution between them.
enum Step {
    Sql(&'static str, &'static str),
    Resolve,
}

const STEPS: &[Step] = &[
    Step::Sql(
        "Sources: one company's customer data, scattered over seven systems",
        "SELECT 'crm_contacts' AS source, count(*) AS records FROM crm_contacts
         UNION ALL SELECT 'web_events', count(*) FROM web_events
         UNION ALL SELECT 'orders', count(*) FROM orders
         UNION ALL SELECT 'support_tickets', count(*) FROM support_tickets
         UNION ALL SELECT 'email_subscribers', count(*) FROM email_subscribers
         UNION ALL SELECT 'social_profiles', count(*) FROM social_profiles
         UNION ALL SELECT 'consents', count(*) FROM consents
         ORDER BY records DESC",
    ),
    Step::Sql(
        "One person as each system recorded them (picked with the generator's ground truth)",
        concat!(
            person_cte!(),
            ",
         records AS (
             SELECT 'crm_contacts' AS source, contact_id AS id, first_name || ' ' || last_name AS name, email, phone
               FROM crm_contacts
             UNION ALL SELECT 'support_tickets', ticket_id, requester_name, requester_email, requester_phone
               FROM support_tickets
             UNION ALL SELECT 'email_subscribers', subscriber_id, first_name, email, NULL FROM email_subscribers
             UNION ALL SELECT 'social_profiles', profile_id, display_name || ' ' || handle, email, NULL
               FROM social_profiles
             UNION ALL SELECT 'orders', order_id, ship_name, email, phone FROM orders
         )
         SELECT r.source, r.id, r.name, r.email, r.phone
         FROM records r JOIN ground_truth g ON g.record_id = r.id
         JOIN person p ON p.person_id = g.person_id
         ORDER BY r.source, r.id
         LIMIT 12"
        ),
    ),
    Step::Sql(
        "Why matching needs cleaning: how identifiers arrive",
        "SELECT 'emails not already lower-case and trimmed' AS issue, count(*) AS records
           FROM crm_contacts WHERE email <> lower(trim(email))
         UNION ALL SELECT 'junk emails (test@, null, n/a)', count(*)
           FROM crm_contacts WHERE lower(trim(email)) IN ('test@test.com', 'null', 'n/a', 'none@none.com', 'x@x.com', '')
         UNION ALL SELECT 'distinct phone formats (digits/punctuation shape)', count(DISTINCT regexp_replace(phone, '[0-9]', '9', 'g'))
           FROM crm_contacts
         UNION ALL SELECT 'guest orders without a contact id', count(*) FROM orders WHERE contact_id IS NULL
         UNION ALL SELECT 'web events from anonymous devices only', count(*) FROM web_events WHERE user_id IS NULL
         ORDER BY records DESC",
    ),
    Step::Sql(
        "Cleaning with oneview's functions: normalize_email, normalize_phone, name_key",
        "SELECT first_name, name_key(first_name) AS name_key, email, normalize_email(email) AS email_key,
                phone, normalize_phone(phone, CASE WHEN country IN ('GB', 'UK', 'United Kingdom') THEN 'GB' ELSE 'US' END) AS phone_key
         FROM crm_contacts
         WHERE email <> lower(trim(email)) AND phone IS NOT NULL AND name_key(first_name) <> lower(first_name)
         ORDER BY contact_id LIMIT 6",
    ),
    Step::Resolve,
    Step::Sql(
        "Unified customers: the golden records that gathered the most sources",
        "SELECT customer_id, records, sources, first_name, last_name, email, phone, postcode
         FROM customers ORDER BY length(sources) DESC, records DESC, customer_id LIMIT 5",
    ),
    Step::Sql(
        "The person above, resolved: their records by source and the customer each went to",
        concat!(
            person_cte!(),
            "
         SELECT l.customer_id, l.source, count(*) AS records, min(l.rule) AS linked_by
         FROM identity_links l JOIN ground_truth g USING (source, record_id)
         JOIN person p ON p.person_id = g.person_id
         GROUP BY 1, 2 ORDER BY 1, 2"
        ),
    ),
    Step::Sql(
        "Orders: revenue by month (last six months of the sample)",
        "SELECT date_trunc('month', ordered_at) AS month, count(*) AS orders,
                count(DISTINCT coalesce(contact_id, email, phone)) AS buyers,
                round(sum(amount), 2) AS revenue, round(avg(amount), 2) AS avg_order
         FROM orders
         GROUP BY 1 ORDER BY 1 DESC LIMIT 6",
    ),
    Step::Sql(
        "RFM segments per unified customer: each order keyed by the customer resolution put it in",
        "CREATE VIEW keyed_orders AS
         SELECT l.customer_id, o.ordered_at, o.amount
         FROM orders o JOIN identity_links l ON l.source = 'orders' AND l.record_id = o.order_id
         WHERE l.rule IS NOT NULL OR coalesce(o.contact_id, normalize_email(o.email),
               normalize_phone(o.phone, CASE WHEN o.currency = 'GBP' THEN 'GB' ELSE 'US' END)) IS NOT NULL;
         CREATE VIEW rfm_scores AS
         WITH customers AS (
           SELECT customer_id, max(ordered_at) AS last_order, count(*) AS orders, sum(amount) AS revenue
           FROM keyed_orders GROUP BY customer_id
         )
         SELECT customer_id, ntile(5) OVER (ORDER BY last_order, customer_id) AS r,
                ntile(5) OVER (ORDER BY orders, customer_id) AS f,
                ntile(5) OVER (ORDER BY revenue, customer_id) AS m
         FROM customers;
         SELECT rfm_segment(r, f, m) AS segment, count(*) AS customers FROM rfm_scores
         GROUP BY 1 ORDER BY customers DESC, segment",
    ),
    Step::Sql(
        "Lifetime value: BG/NBD and Gamma-Gamma fitted on the orders, in weeks (the generator used r=2, alpha=5, a=0.4, b=10, p=6, q=4, v=22.5)",
        "CREATE VIEW summary AS
         WITH days AS (
           SELECT customer_id, date_trunc('day', ordered_at) AS day, sum(amount) AS amount
           FROM keyed_orders WHERE ordered_at < TIMESTAMP '2026-01-01'
           GROUP BY customer_id, date_trunc('day', ordered_at)
         ),
         ranked AS (SELECT *, row_number() OVER (PARTITION BY customer_id ORDER BY day) AS purchase FROM days)
         SELECT customer_id, count(*) - 1 AS frequency,
                (date_part('epoch', max(day)) - date_part('epoch', min(day))) / 604800 AS recency,
                (date_part('epoch', TIMESTAMP '2026-01-01') - date_part('epoch', min(day))) / 604800 AS t,
                coalesce(sum(CASE WHEN purchase > 1 THEN amount END) / nullif(count(*) - 1, 0), 0) AS monetary
         FROM ranked GROUP BY customer_id;
         CREATE VIEW models AS
         SELECT bgnbd_fit(frequency, recency, t, 'week') AS bg, gamma_gamma_fit(frequency, monetary) AS gg FROM summary;
         SELECT round(bg['r'], 2) AS r, round(bg['alpha'], 2) AS alpha, round(bg['a'], 2) AS a, round(bg['b'], 2) AS b,
                round(gg['p'], 2) AS p, round(gg['q'], 2) AS q, round(gg['v'], 2) AS v, bg['n'] AS customers
         FROM models;
         SELECT s.customer_id, s.frequency AS repeat_days, round(s.monetary, 2) AS avg_repeat_spend,
                round(bgnbd_p_alive(m.bg, s.frequency, s.recency, s.t), 3) AS p_alive,
                round(clv(m.bg, m.gg, s.frequency, s.recency, s.t, s.monetary, '12 months', 0.01), 2) AS clv_12_months
         FROM summary s CROSS JOIN models m
         ORDER BY clv_12_months DESC LIMIT 5",
    ),
    // Segments: views of the demo project (segments/*.sql) over the built-in
    // `rfm` and `clv` views its [orders] section defines.
    Step::Sql(
        "Segments (segments/*.sql): who marketing would target, by the demo project's own definitions",
        "SELECT 'loyal_high_value' AS segment, count(*) AS customers FROM loyal_high_value
         UNION ALL SELECT 'lapsed_win_back', count(*) FROM lapsed_win_back
         UNION ALL SELECT 'vip_win_back (reads lapsed_win_back)', count(*) FROM vip_win_back
         UNION ALL SELECT 'weekly_shoppers', count(*) FROM weekly_shoppers
         UNION ALL SELECT 'slipping_high_value', count(*) FROM slipping_high_value
         UNION ALL SELECT 'cart_abandoners', count(*) FROM cart_abandoners
         UNION ALL SELECT 'frequent_returners', count(*) FROM frequent_returners
         ORDER BY customers DESC",
    ),
    Step::Sql(
        "High value but slipping away: the first few, with P(alive) from the built-in clv view",
        "SELECT * FROM slipping_high_value ORDER BY clv_12_months DESC, customer_id LIMIT 5",
    ),
];

/// Runs `job`, retrying every half second while another process holds its
/// lock: demos of one project run in parallel in the tests.
async fn waiting_for_lock<T, F, Fut>(attempts: u32, mut job: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    for _ in 0..attempts {
        match job().await {
            Err(Error::Busy(_)) => tokio::time::sleep(std::time::Duration::from_millis(500)).await,
            other => return other,
        }
    }
    job().await
}

/// Identity resolution of the sample ([identity] in the demo project), with
/// its summary and its score against the generator's ground truth.
async fn resolve(session: &Session) -> Result<()> {
    say(
        "== Identity resolution ([identity]): identifier links with guards, then Fellegi–Sunter on names, birth dates and addresses",
    );
    let project = &session.project;
    let config = identity::require(project.config.identity.as_ref())?;
    let config_file = project.config_file();
    let at = super::resolve::locations(project, &config_file);
    // Trained afresh each time: a model saved by an older oneview (the
    // source tree keeps its demo's) may no longer fit the comparisons.
    let options = identity::Options {
        train: true,
        full: true,
    };
    let identity::Resolved::Ran(summary) =
        waiting_for_lock(120, || identity::resolve(&session.ctx, config, at, options, &|_| {})).await?
    else {
        unreachable!("a full run always runs");
    };
    let records: u64 = summary.records.iter().map(|(_, n)| n).sum();
    let links: Vec<String> = summary.links.iter().map(|(rule, n)| format!("{rule} {n}")).collect();
    say(&format!(
        "{records} records from {} sources became {} customers ({} with several records, the largest {} records)",
        summary.records.len(),
        summary.customers,
        summary.multi_record_customers,
        summary.largest
    ));
    say(&format!("links by rule: {}", links.join(", ")));
    say(&format!(
        "guards fired: {} (junk values, shared devices, family emails, size caps)",
        summary.guards.total()
    ));
    let e = identity::evaluate::evaluate(&session.ctx, "ground_truth").await?;
    say(&format!(
        "against the ground truth: pairwise precision {:.4}, recall {:.4}, F1 {:.4}; B-cubed F1 {:.4}\n",
        e.precision(),
        e.recall(),
        e.f1(),
        e.bcubed_f1()
    ));
    Ok(())
}

pub async fn run(args: DemoArgs, options: &SessionOptions) -> Result<()> {
    let unpacked;
    let dir = match args.dir {
        Some(dir) => {
            if !dir.join(CONFIG_FILE).exists() {
                return Err(Error::Usage(format!("--dir {}: no oneview.toml there", dir.display())));
            }
            dir
        }
        None if !args.embedded && source_tree_dir().join(CONFIG_FILE).exists() => source_tree_dir(),
        None => {
            unpacked = tempfile::tempdir().map_err(|e| Error::io("cannot create a temporary directory", e))?;
            unpack(unpacked.path())?
        }
    };
    let project = Project::load(&dir)?;
    let session = Session::open(project, options)?;
    let started = Instant::now();
    let output = OutputSpec {
        format: OutputFormat::Table,
        destination: Destination::Stdout,
        max_rows: Some(50),
    };
    say(&format!("oneview demo — project {}\n", dir.display()));
    for step in STEPS {
        match step {
            Step::Sql(title, sql) => {
                say(&format!("== {title}"));
                run_sql(&session.ctx, sql, &output).await?;
            }
            Step::Resolve => resolve(&session).await?,
        }
    }
    say("== The weekly report ([reports.weekly_segments], scheduled for Mondays 06:00 UTC), run now");
    let state = session.state_store()?;
    let report = reports::find(&session.project.config.reports, "weekly_segments")?;
    let result = waiting_for_lock(60, || {
        reports::run(&session.ctx, &state, "weekly_segments", report, &session.project.dir)
    })
    .await;
    say(&reports::summary("weekly_segments", &result));
    result?;
    say(&format!("done in {:.2}s", started.elapsed().as_secs_f64()));
    Ok(())
}
