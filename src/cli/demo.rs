//! `oneview demo`: the pipeline on the bundled sample, with no set-up.
//! Each capability adds its step here as it lands.

use std::path::PathBuf;
use std::time::Instant;

use super::args::DemoArgs;
use crate::error::{Error, Result};
use crate::exec::{Destination, OutputFormat, OutputSpec, run_sql};
use crate::project::Project;
use crate::session::{Session, SessionOptions};

/// The demo project of the source tree this binary was built from.
fn bundled_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("datasets")
        .join("demo")
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
         UNION ALL SELECT 'web events from anonymous devices only', count(*) FROM web_events WHERE user_id IS NULL",
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
    let dir = args.dir.unwrap_or_else(bundled_dir);
    if !dir.join(crate::project::CONFIG_FILE).exists() {
        return Err(Error::Usage(format!(
            "the demo project is not at {}; pass --dir to the datasets/demo folder of a oneview checkout",
            dir.display()
        )));
    }
    let project = Project::load(&dir)?;
    let session = Session::open(project, options)?;
    let started = Instant::now();
    let output = OutputSpec {
        format: OutputFormat::Table,
        destination: Destination::Stdout,
        max_rows: Some(50),
    };
    println!("oneview demo — project {}\n", dir.display());
    for (title, sql) in STEPS {
        println!("== {title}");
        run_sql(&session.ctx, sql, &output).await?;
    }
    println!("done in {:.2}s", started.elapsed().as_secs_f64());
    Ok(())
}
