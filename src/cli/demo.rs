//! `oneview demo`: the pipeline on the bundled sample, with no set-up.
//! Each capability adds its step here as it lands.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::args::DemoArgs;
use crate::error::{Error, Result};
use crate::exec::{Destination, OutputFormat, OutputSpec, run_sql};
use crate::project::Project;
use crate::session::{Session, SessionOptions};

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

const STEPS: &[(&str, &str)] = &[
    (
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
    (
        "One person as each system recorded them (picked with the generator's ground truth)",
        "WITH person AS (
             SELECT g.person_id FROM ground_truth g
             WHERE g.source IN ('crm_contacts', 'support_tickets', 'email_subscribers', 'social_profiles')
             GROUP BY g.person_id
             HAVING count(DISTINCT g.source) = 4
             ORDER BY g.person_id LIMIT 1
         ),
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
         LIMIT 12",
    ),
    (
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
    (
        "Orders: revenue by month (last six months of the sample)",
        "SELECT date_trunc('month', ordered_at) AS month, count(*) AS orders,
                count(DISTINCT coalesce(contact_id, email, phone)) AS buyers,
                round(sum(amount), 2) AS revenue, round(avg(amount), 2) AS avg_order
         FROM orders
         GROUP BY 1 ORDER BY 1 DESC LIMIT 6",
    ),
];

pub async fn run(args: DemoArgs, options: &SessionOptions) -> Result<()> {
    let unpacked;
    let dir = match args.dir {
        Some(dir) => {
            if !dir.join(crate::project::CONFIG_FILE).exists() {
                return Err(Error::Usage(format!("--dir {}: no oneview.toml there", dir.display())));
            }
            dir
        }
        None if !args.embedded && source_tree_dir().join(crate::project::CONFIG_FILE).exists() => source_tree_dir(),
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
    for (title, sql) in STEPS {
        say(&format!("== {title}"));
        run_sql(&session.ctx, sql, &output).await?;
    }
    say(&format!("done in {:.2}s", started.elapsed().as_secs_f64()));
    Ok(())
}
