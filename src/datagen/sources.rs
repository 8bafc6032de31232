//! The source systems: each records the people it sees in its own way, with
//! its own ids, formats and mistakes. Every record is also written to the
//! ground truth with the person it really belongs to.

use std::path::Path;

use chrono::NaiveTime;
use datafusion::arrow::array::{
    BooleanBuilder, Float64Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder,
};
use rand::Rng;
use rand::seq::IndexedRandom;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Poisson};

use super::noise;
use super::person::{Person, World};
use super::table::{TableWriter, table};
use super::vocab::{JUNK_EMAILS, JUNK_PHONES, TICKET_SUBJECTS};
use crate::error::Result;

table! {
    /// The CRM: contacts keyed by contact_id, sometimes twice for one person.
    CrmContacts = "crm_contacts" {
        contact_id: StringBuilder,
        first_name: StringBuilder,
        last_name: StringBuilder,
        email: StringBuilder,
        phone: StringBuilder,
        date_of_birth: StringBuilder,
        gender: StringBuilder,
        address_line1: StringBuilder,
        address_line2: StringBuilder,
        city: StringBuilder,
        region: StringBuilder,
        postcode: StringBuilder,
        country: StringBuilder,
        loyalty_id: StringBuilder,
        social_handle: StringBuilder,
        created_at: TimestampMicrosecondBuilder,
        updated_at: TimestampMicrosecondBuilder,
    }
}

table! {
    /// Web and app events: anonymous device ids, a user id once logged in.
    WebEvents = "web_events" {
        event_id: StringBuilder,
        anonymous_id: StringBuilder,
        user_id: StringBuilder,
        event_type: StringBuilder,
        page_url: StringBuilder,
        device_type: StringBuilder,
        occurred_at: TimestampMicrosecondBuilder,
    }
}

table! {
    /// Orders, including guest checkouts that carry only an email or phone.
    Orders = "orders" {
        order_id: StringBuilder,
        contact_id: StringBuilder,
        email: StringBuilder,
        phone: StringBuilder,
        ship_name: StringBuilder,
        ship_postcode: StringBuilder,
        ordered_at: TimestampMicrosecondBuilder,
        amount: Float64Builder,
        currency: StringBuilder,
        channel: StringBuilder,
        is_returned: BooleanBuilder,
    }
}

table! {
    SupportTickets = "support_tickets" {
        ticket_id: StringBuilder,
        opened_at: TimestampMicrosecondBuilder,
        channel: StringBuilder,
        requester_name: StringBuilder,
        requester_email: StringBuilder,
        requester_phone: StringBuilder,
        order_id: StringBuilder,
        subject: StringBuilder,
        status: StringBuilder,
    }
}

table! {
    EmailSubscribers = "email_subscribers" {
        subscriber_id: StringBuilder,
        email: StringBuilder,
        first_name: StringBuilder,
        list_name: StringBuilder,
        subscribed_at: TimestampMicrosecondBuilder,
        status: StringBuilder,
        signup_source: StringBuilder,
    }
}

table! {
    SocialProfiles = "social_profiles" {
        profile_id: StringBuilder,
        platform: StringBuilder,
        handle: StringBuilder,
        display_name: StringBuilder,
        email: StringBuilder,
        followers: Int64Builder,
        linked_at: TimestampMicrosecondBuilder,
    }
}

table! {
    /// Consent events per channel: granted or revoked, and when.
    Consents = "consents" {
        consent_id: StringBuilder,
        contact_id: StringBuilder,
        email: StringBuilder,
        phone: StringBuilder,
        channel: StringBuilder,
        status: StringBuilder,
        recorded_at: TimestampMicrosecondBuilder,
        collected_via: StringBuilder,
    }
}

table! {
    /// Every source record and the person it belongs to.
    GroundTruth = "ground_truth" {
        source: StringBuilder,
        record_id: StringBuilder,
        person_id: StringBuilder,
    }
}

table! {
    /// Each simulated person's true identity and purchase-process traits.
    People = "people" {
        person_id: StringBuilder,
        first_name: StringBuilder,
        last_name: StringBuilder,
        date_of_birth: StringBuilder,
        email: StringBuilder,
        phone: StringBuilder,
        country: StringBuilder,
        household_id: StringBuilder,
        is_customer: BooleanBuilder,
        first_purchase_at: TimestampMicrosecondBuilder,
        orders: Int64Builder,
        lambda: Float64Builder,
        dropout_p: Float64Builder,
        nu: Float64Builder,
        alive_at_end: BooleanBuilder,
    }
}

/// The tables one chunk of people is written to.
pub struct Sources {
    crm: TableWriter<CrmContacts>,
    web: TableWriter<WebEvents>,
    orders: TableWriter<Orders>,
    tickets: TableWriter<SupportTickets>,
    subscribers: TableWriter<EmailSubscribers>,
    social: TableWriter<SocialProfiles>,
    consents: TableWriter<Consents>,
    truth: TableWriter<GroundTruth>,
    people: TableWriter<People>,
}

/// Rows written per table, in the order of [`TABLES`].
pub type Counts = [u64; 9];

pub const TABLES: [&str; 9] = [
    "crm_contacts",
    "web_events",
    "orders",
    "support_tickets",
    "email_subscribers",
    "social_profiles",
    "consents",
    "ground_truth",
    "people",
];

impl Sources {
    pub fn create(dir: &Path, part: usize, row_group_rows: usize) -> Result<Sources> {
        Ok(Sources {
            crm: TableWriter::create(dir, part, row_group_rows)?,
            web: TableWriter::create(dir, part, row_group_rows)?,
            orders: TableWriter::create(dir, part, row_group_rows)?,
            tickets: TableWriter::create(dir, part, row_group_rows)?,
            subscribers: TableWriter::create(dir, part, row_group_rows)?,
            social: TableWriter::create(dir, part, row_group_rows)?,
            consents: TableWriter::create(dir, part, row_group_rows)?,
            truth: TableWriter::create(dir, part, row_group_rows)?,
            people: TableWriter::create(dir, part, row_group_rows)?,
        })
    }

    pub fn close(self) -> Result<Counts> {
        Ok([
            self.crm.close()?,
            self.web.close()?,
            self.orders.close()?,
            self.tickets.close()?,
            self.subscribers.close()?,
            self.social.close()?,
            self.consents.close()?,
            self.truth.close()?,
            self.people.close()?,
        ])
    }

    fn truth(&mut self, source: &str, record_id: &str, person: &Person) -> Result<()> {
        let row = self.truth.row();
        row.source.append_value(source);
        row.record_id.append_value(record_id);
        row.person_id.append_value(&person.id);
        self.truth.end_row()
    }

    /// Records one person in every system that knows them.
    pub fn emit(&mut self, world: &World, person: &Person) -> Result<()> {
        let mut rng = world.rng("records", person.index);
        let contact_ids = self.crm(world, person, &mut rng)?;
        let order_ids = self.orders(world, person, &mut rng, contact_ids.first())?;
        // The web has a stream of its own: how it draws does not move the
        // sources after it.
        self.web(world, person, &mut world.rng("web", person.index), contact_ids.first())?;
        self.tickets(world, person, &mut rng, &order_ids)?;
        self.subscribers(world, person, &mut rng)?;
        self.social(world, person, &mut rng)?;
        self.consents(world, person, &mut rng, contact_ids.first())?;
        self.person(world, person)
    }

    /// Records a person in the CRM, if they are in it: once, or twice for a
    /// duplicate. Returns the contact ids.
    fn crm(&mut self, world: &World, p: &Person, rng: &mut ChaCha8Rng) -> Result<Vec<String>> {
        let mut ids = Vec::new();
        if !p.in_crm {
            return Ok(ids);
        }
        let records = if p.crm_duplicate { 2 } else { 1 };
        for k in 0..records {
            ids.push(self.crm_contact(world, p, rng, k)?);
        }
        Ok(ids)
    }

    /// Writes the person's `k`th CRM contact (the second is the duplicate,
    /// made later and typed more carelessly) and returns its id.
    fn crm_contact(&mut self, world: &World, p: &Person, rng: &mut ChaCha8Rng, k: u64) -> Result<String> {
        let duplicate = k == 1;
        let id = world.id("C", "crm", p.index, k);
        let created = if duplicate {
            rng.random_range(p.first_seen..world.weeks)
        } else {
            p.first_seen
        };
        // A record made before a move carries the old address.
        let address = match &p.previous_address {
            Some((old, moved)) if created < *moved => old,
            _ => &p.address,
        };
        let first = if duplicate && !p.first.nicknames.is_empty() && rng.random_bool(0.5) {
            p.first.nicknames.choose(rng).expect("non-empty").to_string()
        } else {
            p.first.name.to_string()
        };
        let first = name_noise(rng, &first, if duplicate { 0.25 } else { 0.03 });
        let last = name_noise(rng, &p.last, if duplicate { 0.2 } else { 0.03 });
        let email = crm_email(rng, p, duplicate);
        let phone = crm_phone(rng, p);
        let row = self.crm.row();
        row.contact_id.append_value(&id);
        row.first_name.append_value(&first);
        row.last_name.append_value(&last);
        row.email.append_option(email);
        row.phone.append_option(phone);
        row.date_of_birth
            .append_option(rng.random_bool(0.85).then(|| noise::date(rng, p.dob, p.us)));
        row.gender
            .append_option(rng.random_bool(0.7).then_some(if p.female { "F" } else { "M" }));
        row.address_line1.append_value(address.line1(rng));
        row.address_line2.append_option(address.line2(rng));
        row.city.append_value(address.place.city);
        row.region.append_value(address.place.region);
        row.postcode
            .append_option(rng.random_bool(0.95).then(|| address.postcode.clone()));
        row.country.append_value(country(rng, p.us));
        row.loyalty_id
            .append_option(if duplicate { None } else { p.loyalty.clone() });
        row.social_handle
            .append_option(if duplicate { None } else { p.crm_handle.clone() });
        row.created_at.append_value(micros(world, created));
        row.updated_at.append_value(micros(
            world,
            rng.random_range(created..world.weeks.max(created + 0.01)),
        ));
        self.crm.end_row()?;
        self.truth("crm_contacts", &id, p)?;
        Ok(id)
    }

    fn orders(
        &mut self,
        world: &World,
        p: &Person,
        rng: &mut ChaCha8Rng,
        contact: Option<&String>,
    ) -> Result<Vec<String>> {
        let Some(customer) = &p.customer else {
            return Ok(Vec::new());
        };
        let mut ids = Vec::with_capacity(customer.purchases.len());
        let full_name = format!("{} {}", p.first.name, p.last);
        for (k, purchase) in customer.purchases.iter().enumerate() {
            let id = world.id("O", "orders", p.index, k as u64);
            let guest = contact.is_none() || rng.random_bool(0.15);
            let (email, phone) = if guest {
                // A guest leaves an email, a phone or both.
                let roll = rng.random_range(0..10);
                let email = if roll < 8 {
                    if rng.random_bool(0.01) {
                        JUNK_EMAILS.choose(rng).map(|s| s.to_string())
                    } else if let (Some(h), true) = (&p.household, rng.random_bool(0.3)) {
                        Some(noise::email(rng, &h.email))
                    } else {
                        Some(noise::email(rng, &p.email))
                    }
                } else {
                    None
                };
                let phone = (roll >= 5).then(|| p.phone.render(rng));
                (email, phone)
            } else {
                (None, None)
            };
            let address = match &p.previous_address {
                Some((old, moved)) if purchase.week < *moved => old,
                _ => &p.address,
            };
            let row = self.orders.row();
            row.order_id.append_value(&id);
            row.contact_id
                .append_option(if guest { None } else { contact.cloned() });
            row.email.append_option(email);
            row.phone.append_option(phone);
            row.ship_name.append_value(name_noise(rng, &full_name, 0.04));
            row.ship_postcode
                .append_option(rng.random_bool(0.9).then(|| address.postcode.clone()));
            row.ordered_at.append_value(micros(world, purchase.week));
            row.amount.append_value(purchase.amount);
            row.currency.append_value(if p.us { "USD" } else { "GBP" });
            row.channel
                .append_value(*["web", "web", "app", "store"].choose(rng).expect("non-empty"));
            row.is_returned.append_value(rng.random_bool(0.05));
            self.orders.end_row()?;
            self.truth("orders", &id, p)?;
            ids.push(id);
        }
        Ok(ids)
    }

    /// Records a person's web sessions: when they start, on which device,
    /// where the person signs in, and the events of each session.
    fn web(&mut self, world: &World, p: &Person, rng: &mut ChaCha8Rng, contact: Option<&String>) -> Result<()> {
        if !p.on_web {
            return Ok(());
        }
        let starts = session_starts(world, p, rng);
        let devices = session_devices(world, p, rng, &starts);
        let sign_in = sign_ins(rng, &devices, contact.is_some());
        let mut k = 0u64;
        for (s, start) in starts.iter().enumerate() {
            let device = &devices[s];
            let logged_in = (0..=s).any(|t| sign_in[t] && &devices[t] == device);
            let (device_type, events) = session_events(rng, sign_in[s]);
            let session = Session {
                start: *start,
                device,
                device_type,
                user: if logged_in { contact } else { None },
            };
            if !self.web_events(world, p, rng, &session, &events, &mut k)? {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Writes the events of one session, numbering them on from `k`. Returns
    /// false, having stopped, once the person has 4000 events.
    fn web_events(
        &mut self,
        world: &World,
        p: &Person,
        rng: &mut ChaCha8Rng,
        session: &Session,
        events: &[&str],
        k: &mut u64,
    ) -> Result<bool> {
        for (e, event) in events.iter().enumerate() {
            if *k >= 4000 {
                return Ok(false);
            }
            let id = world.id("E", "events", p.index, *k);
            *k += 1;
            let row = self.web.row();
            row.event_id.append_value(&id);
            row.anonymous_id.append_value(session.device);
            row.user_id.append_option(session.user.cloned());
            row.event_type.append_value(event);
            row.page_url.append_value(page_for(event, rng));
            row.device_type.append_value(session.device_type);
            row.occurred_at
                .append_value(micros(world, (session.start + e as f64 * 0.0002).min(world.weeks)));
            self.web.end_row()?;
            self.truth("web_events", &id, p)?;
        }
        Ok(true)
    }

    fn tickets(&mut self, world: &World, p: &Person, rng: &mut ChaCha8Rng, orders: &[String]) -> Result<()> {
        let n = Poisson::new(0.4).expect("valid rate").sample(rng) as u64;
        for k in 0..n.min(50) {
            let id = world.id("T", "tickets", p.index, k);
            let channel = *["email", "phone", "chat", "web_form"].choose(rng).expect("non-empty");
            let name = ticket_name(rng, p);
            let email = match channel {
                "phone" => None,
                _ if rng.random_bool(0.01) => JUNK_EMAILS.choose(rng).map(|s| s.to_string()),
                _ if p.work_email.is_some() && rng.random_bool(0.3) => {
                    p.work_email.as_deref().map(|e| noise::email(rng, e))
                }
                _ => Some(noise::email(rng, &p.email)),
            };
            let phone = (channel == "phone" || rng.random_bool(0.2)).then(|| {
                if rng.random_bool(0.02) {
                    JUNK_PHONES.choose(rng).expect("non-empty").to_string()
                } else {
                    p.work_phone
                        .filter(|_| rng.random_bool(0.3))
                        .unwrap_or(p.phone)
                        .render(rng)
                }
            });
            let row = self.tickets.row();
            row.ticket_id.append_value(&id);
            row.opened_at
                .append_value(micros(world, rng.random_range(p.first_seen..world.weeks)));
            row.channel.append_value(channel);
            row.requester_name.append_option(name);
            row.requester_email.append_option(email);
            row.requester_phone.append_option(phone);
            row.order_id
                .append_option(orders.choose(rng).filter(|_| rng.random_bool(0.5)).cloned());
            row.subject
                .append_value(*TICKET_SUBJECTS.choose(rng).expect("non-empty"));
            row.status.append_value(
                *["closed", "closed", "closed", "open", "pending"]
                    .choose(rng)
                    .expect("non-empty"),
            );
            self.tickets.end_row()?;
            self.truth("support_tickets", &id, p)?;
        }
        Ok(())
    }

    fn subscribers(&mut self, world: &World, p: &Person, rng: &mut ChaCha8Rng) -> Result<()> {
        let mut emails: Vec<&str> = Vec::new();
        if rng.random_bool(0.55) {
            emails.push(&p.email);
        }
        if let (Some(work), true) = (&p.work_email, rng.random_bool(0.3)) {
            emails.push(work);
        }
        // Each member of a household may sign the shared address up.
        if let (Some(h), true) = (&p.household, rng.random_bool(0.4)) {
            emails.push(&h.email);
        }
        for (k, email) in emails.into_iter().enumerate() {
            let id = world.id("S", "subscribers", p.index, k as u64);
            let first = rng.random_bool(0.5).then(|| {
                let name = if !p.first.nicknames.is_empty() && rng.random_bool(0.2) {
                    p.first.nicknames.choose(rng).expect("non-empty")
                } else {
                    p.first.name
                };
                name_noise(rng, name, 0.05)
            });
            let row = self.subscribers.row();
            row.subscriber_id.append_value(&id);
            row.email.append_value(noise::email(rng, email));
            row.first_name.append_option(first);
            row.list_name.append_value(
                *["newsletter", "promotions", "product_updates"]
                    .choose(rng)
                    .expect("non-empty"),
            );
            row.subscribed_at
                .append_value(micros(world, rng.random_range(p.first_seen..world.weeks)));
            row.status.append_value(
                *["active", "active", "active", "unsubscribed", "bounced"]
                    .choose(rng)
                    .expect("non-empty"),
            );
            row.signup_source.append_value(
                *["popup", "checkout", "footer", "import"]
                    .choose(rng)
                    .expect("non-empty"),
            );
            self.subscribers.end_row()?;
            self.truth("email_subscribers", &id, p)?;
        }
        Ok(())
    }

    fn social(&mut self, world: &World, p: &Person, rng: &mut ChaCha8Rng) -> Result<()> {
        if !rng.random_bool(0.35) {
            return Ok(());
        }
        let platforms = ["instagram", "x", "tiktok", "facebook"];
        let count = if rng.random_bool(0.2) { 2 } else { 1 };
        for (k, platform) in platforms.choose_multiple(rng, count).enumerate() {
            let id = world.id("SP", "social", p.index, k as u64);
            let handle = if rng.random_bool(0.1) {
                p.handle.to_uppercase()
            } else {
                p.handle.clone()
            };
            let display = match rng.random_range(0..4) {
                0 => format!("{} {}.", p.first.name, &p.last[..1]),
                1 => format!("{} {}", p.first.name, p.last).to_lowercase(),
                2 => format!("{}{}", p.first.name, p.last),
                _ => format!(
                    "{} {}",
                    p.first.nicknames.first().copied().unwrap_or(p.first.name),
                    p.last
                ),
            };
            let row = self.social.row();
            row.profile_id.append_value(&id);
            row.platform.append_value(*platform);
            row.handle.append_value(format!("@{handle}"));
            row.display_name.append_value(display);
            row.email
                .append_option(rng.random_bool(0.1).then(|| noise::email(rng, &p.email)));
            row.followers
                .append_value((rng.random::<f64>().powi(3) * 20_000.0) as i64);
            row.linked_at
                .append_value(micros(world, rng.random_range(p.first_seen..world.weeks)));
            self.social.end_row()?;
            self.truth("social_profiles", &id, p)?;
        }
        Ok(())
    }

    fn consents(&mut self, world: &World, p: &Person, rng: &mut ChaCha8Rng, contact: Option<&String>) -> Result<()> {
        let mut k = 0u64;
        for channel in ["email", "sms", "phone", "ads"] {
            if !rng.random_bool(if contact.is_some() { 0.6 } else { 0.15 }) {
                continue;
            }
            let granted_at = rng.random_range(p.first_seen..world.weeks);
            let mut events = vec![("granted", granted_at)];
            if rng.random_bool(0.15) {
                events.push((
                    "revoked",
                    rng.random_range(granted_at..world.weeks.max(granted_at + 0.01)),
                ));
            }
            for (status, week) in events {
                let id = world.id("K", "consents", p.index, k);
                k += 1;
                let row = self.consents.row();
                row.consent_id.append_value(&id);
                row.contact_id.append_option(contact.cloned());
                row.email
                    .append_option((contact.is_none() || channel == "email").then(|| noise::email(rng, &p.email)));
                row.phone
                    .append_option(matches!(channel, "sms" | "phone").then(|| p.phone.render(rng)));
                row.channel.append_value(channel);
                row.status.append_value(status);
                row.recorded_at.append_value(micros(world, week));
                row.collected_via.append_value(
                    *["web_form", "checkout", "support", "preference_center"]
                        .choose(rng)
                        .expect("non-empty"),
                );
                self.consents.end_row()?;
                self.truth("consents", &id, p)?;
            }
        }
        Ok(())
    }

    fn person(&mut self, world: &World, p: &Person) -> Result<()> {
        let row = self.people.row();
        row.person_id.append_value(&p.id);
        row.first_name.append_value(p.first.name);
        row.last_name.append_value(&p.last);
        row.date_of_birth.append_value(p.dob.format("%Y-%m-%d").to_string());
        row.email.append_value(&p.email);
        row.phone.append_value(p.phone.e164());
        row.country.append_value(if p.us { "US" } else { "GB" });
        row.household_id
            .append_option(p.household.as_ref().map(|h| h.id.clone()));
        row.is_customer.append_value(p.customer.is_some());
        match &p.customer {
            Some(c) => {
                row.first_purchase_at.append_value(micros(world, c.purchases[0].week));
                row.orders.append_value(c.purchases.len() as i64);
                row.lambda.append_value(c.lambda);
                row.dropout_p.append_value(c.dropout);
                row.nu.append_value(c.nu);
                row.alive_at_end.append_value(c.alive_at_end);
            }
            None => {
                row.first_purchase_at.append_null();
                row.orders.append_value(0);
                row.lambda.append_null();
                row.dropout_p.append_null();
                row.nu.append_null();
                row.alive_at_end.append_null();
            }
        }
        self.people.end_row()
    }
}

fn micros(world: &World, week: f64) -> i64 {
    let start = world.start.and_time(NaiveTime::MIN).and_utc().timestamp_micros();
    start + (week * 7.0 * 86_400_000_000.0) as i64
}

/// The email a CRM contact carries: now and then junk, on a duplicate
/// perhaps the work email, usually the personal one, sometimes none.
fn crm_email(rng: &mut ChaCha8Rng, p: &Person, duplicate: bool) -> Option<String> {
    if rng.random_bool(0.01) {
        JUNK_EMAILS.choose(rng).map(|s| s.to_string())
    } else if duplicate && p.work_email.is_some() && rng.random_bool(0.5) {
        p.work_email.clone()
    } else if rng.random_bool(0.92) {
        Some(noise::email(rng, &p.email))
    } else {
        None
    }
}

/// The phone a CRM contact carries: now and then junk, usually the person's
/// own, sometimes none.
fn crm_phone(rng: &mut ChaCha8Rng, p: &Person) -> Option<String> {
    if rng.random_bool(0.015) {
        JUNK_PHONES.choose(rng).map(|s| s.to_string())
    } else if rng.random_bool(0.8) {
        Some(p.phone.render(rng))
    } else {
        None
    }
}

/// One web session as its events record it.
struct Session<'a> {
    /// Week the session starts.
    start: f64,
    /// The anonymous id of the device it is on.
    device: &'a String,
    device_type: &'static str,
    /// The contact id the events carry: set once the device is signed in.
    user: Option<&'a String>,
}

/// Draws how many sessions a person has and when each starts, in order.
fn session_starts(world: &World, p: &Person, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let sessions = 1 + Poisson::new(3.0).expect("valid rate").sample(rng) as usize;
    let mut starts: Vec<f64> = (0..sessions)
        .map(|_| rng.random_range(p.first_seen..world.weeks))
        .collect();
    starts.sort_by(f64::total_cmp);
    starts
}

/// Each session's device: one of the person's own, the household's shared
/// tablet, or now and then a kiosk.
fn session_devices(world: &World, p: &Person, rng: &mut ChaCha8Rng, starts: &[f64]) -> Vec<String> {
    starts
        .iter()
        .map(|_| {
            if let (Some(h), true) = (&p.household, rng.random_bool(0.15)) {
                h.device.clone()
            } else if rng.random_bool(0.01) {
                world.id("anon-", "kiosk", rng.random_range(0..world.kiosks), 0)
            } else {
                p.devices.choose(rng).expect("at least one device").clone()
            }
        })
        .collect()
}

/// The sessions an account holder signs in at. They sign in on each device
/// at one of its sessions and stay signed in there: the device's earlier
/// sessions are anonymous. Without an account, no session signs in.
fn sign_ins(rng: &mut ChaCha8Rng, devices: &[String], account: bool) -> Vec<bool> {
    let sessions = devices.len();
    let mut sign_in = vec![false; sessions];
    if account {
        for (s, device) in devices.iter().enumerate() {
            if !devices[..s].contains(device) {
                let on_device: Vec<usize> = (s..sessions).filter(|&t| &devices[t] == device).collect();
                sign_in[*on_device.choose(rng).expect("this session")] = true;
            }
        }
    }
    sign_in
}

/// Draws a session's device type and its events: a page view, the login if
/// the person signs in, some browsing, and perhaps a way down the funnel.
fn session_events(rng: &mut ChaCha8Rng, signs_in: bool) -> (&'static str, Vec<&'static str>) {
    let device_type = *["desktop", "mobile", "mobile", "tablet"]
        .choose(rng)
        .expect("non-empty");
    let mut events: Vec<&str> = vec!["page_view"];
    if signs_in {
        events.push("login");
    }
    for _ in 0..rng.random_range(0..5) {
        events.push(
            *["page_view", "product_view", "product_view", "search"]
                .choose(rng)
                .expect("non-empty"),
        );
    }
    if rng.random_bool(0.35) {
        events.push("add_to_cart");
        if rng.random_bool(0.45) {
            events.push("checkout_started");
            if rng.random_bool(0.7) {
                events.push("order_completed");
            }
        }
    }
    (device_type, events)
}

fn country(rng: &mut impl Rng, us: bool) -> &'static str {
    let options: &[&str] = if us {
        &["US", "US", "USA", "United States"]
    } else {
        &["GB", "GB", "UK", "United Kingdom"]
    };
    options.choose(rng).expect("non-empty")
}

/// A name as one system holds it: usually right, sometimes slipped or recased.
fn name_noise(rng: &mut impl Rng, name: &str, typo_rate: f64) -> String {
    let mut out = if rng.random_bool(typo_rate) {
        noise::typo(rng, name)
    } else {
        name.to_string()
    };
    out = noise::name_case(rng, &out);
    if rng.random_bool(0.02) {
        out = noise::whitespace(rng, &out);
    }
    out
}

/// How a support agent types the caller's name.
fn ticket_name(rng: &mut impl Rng, p: &Person) -> Option<String> {
    let first = if !p.first.nicknames.is_empty() && rng.random_bool(0.25) {
        p.first.nicknames.choose(rng).expect("non-empty")
    } else {
        p.first.name
    };
    let name = match rng.random_range(0..100) {
        0..50 => format!("{first} {}", p.last),
        50..65 => format!("{}, {first}", p.last),
        65..75 => format!("{}. {}", &first[..1], p.last),
        75..82 => match p.middle {
            Some(m) => format!("{first} {m}. {}", p.last),
            None => format!("{first} {}", p.last),
        },
        82..90 => first.to_string(),
        _ => return None,
    };
    Some(name_noise(rng, &name, 0.06))
}

fn page_for(event: &str, rng: &mut impl Rng) -> String {
    match event {
        "product_view" | "add_to_cart" => format!("/products/{}", rng.random_range(1000..1400)),
        "search" => format!(
            "/search?q={}",
            ["shoes", "jacket", "gift", "sale", "bag"]
                .choose(rng)
                .expect("non-empty")
        ),
        "checkout_started" => "/checkout".into(),
        "order_completed" => "/checkout/confirmation".into(),
        "login" => "/account/login".into(),
        _ => ["/", "/new", "/sale", "/about", "/stores"]
            .choose(rng)
            .expect("non-empty")
            .to_string(),
    }
}
