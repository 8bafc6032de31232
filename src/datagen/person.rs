//! The simulated people: who they really are (the ground truth) before any
//! source system records them with its own noise.

use chrono::{Duration, NaiveDate};
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::ids::{key, mix64, record_id, tag_number, uk_subscriber, us_subscriber};
use super::lifetime::{Customer, LifetimeParams, simulate};
use super::vocab::{
    FEMALE_NAMES, LAST_NAMES, MALE_NAMES, Name, Place, STREET_TYPES, STREETS, UK_DOMAINS, UK_PLACES, US_DOMAINS,
    US_PLACES, WORK_DOMAINS, Zipf,
};

/// What every person of one run shares: seed, window, keys, samplers.
pub struct World {
    pub seed: u64,
    pub people: u64,
    pub start: NaiveDate,
    /// Observation window length in weeks (start to as-of date).
    pub weeks: f64,
    pub params: LifetimeParams,
    pub kiosks: u64,
    tag_digits: u32,
    tag_offset: u64,
    phone_offset: u64,
    female: Zipf,
    male: Zipf,
    last: Zipf,
}

impl World {
    pub fn new(seed: u64, people: u64, start: NaiveDate, as_of: NaiveDate, params: LifetimeParams) -> World {
        let digits = (people.max(1) as f64).log10().ceil() as u32 + 1;
        World {
            seed,
            people,
            start,
            weeks: (as_of - start).num_days() as f64 / 7.0,
            params,
            // Library and in-store kiosks: few devices, many people each.
            kiosks: (people / 2_000).max(3),
            tag_digits: digits.max(4),
            tag_offset: key(seed, "tag") % 1_000_000,
            phone_offset: key(seed, "phone") % 1_000_000,
            female: Zipf::new(FEMALE_NAMES.len(), 6.0),
            male: Zipf::new(MALE_NAMES.len(), 6.0),
            last: Zipf::new(LAST_NAMES.len(), 12.0),
        }
    }

    /// The random stream of one person or household: independent of how the
    /// work is split into chunks, so output is identical for any thread count.
    pub fn rng(&self, purpose: &str, index: u64) -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(mix64(key(self.seed, purpose) ^ index))
    }

    pub fn id(&self, prefix: &str, purpose: &str, person: u64, k: u64) -> String {
        record_id(prefix, key(self.seed, purpose), person, k)
    }
}

#[derive(Clone)]
pub struct Address {
    pub number: u32,
    pub street: &'static str,
    pub street_type: (&'static str, &'static str),
    pub unit: Option<u32>,
    pub place: &'static Place,
    pub postcode: String,
}

impl Address {
    fn random(rng: &mut impl Rng, us: bool) -> Address {
        let place = if us {
            US_PLACES.choose(rng)
        } else {
            UK_PLACES.choose(rng)
        }
        .expect("non-empty");
        let postcode = if us {
            format!("{}{:02}", place.postcode, rng.random_range(1..99))
        } else {
            const LETTERS: &[u8] = b"ABDEFGHJLNPQRSTUWXYZ";
            format!(
                "{}{} {}{}{}",
                place.postcode,
                rng.random_range(1..20),
                rng.random_range(1..10),
                LETTERS[rng.random_range(0..LETTERS.len())] as char,
                LETTERS[rng.random_range(0..LETTERS.len())] as char
            )
        };
        Address {
            number: if rng.random_bool(0.7) {
                rng.random_range(1..400)
            } else {
                rng.random_range(400..9999)
            },
            street: STREETS.choose(rng).expect("non-empty"),
            street_type: *STREET_TYPES.choose(rng).expect("non-empty"),
            unit: rng.random_bool(0.25).then(|| rng.random_range(1..40)),
            place,
            postcode,
        }
    }

    /// The first address line, abbreviated or not: "12 Oak St" / "12 Oak Street".
    pub fn line1(&self, rng: &mut impl Rng) -> String {
        let kind = if rng.random_bool(0.6) {
            self.street_type.0
        } else {
            self.street_type.1
        };
        format!("{} {} {}", self.number, self.street, kind)
    }

    pub fn line2(&self, rng: &mut impl Rng) -> Option<String> {
        self.unit.map(|u| match rng.random_range(0..3) {
            0 => format!("Apt {u}"),
            1 => format!("Unit {u}"),
            _ => format!("#{u}"),
        })
    }
}

#[derive(Clone, Copy)]
pub enum Phone {
    Us {
        area: &'static str,
        exchange: u16,
        line: u16,
    },
    /// National significant number of a UK mobile: `7` + 9 digits.
    Uk { national: u64 },
}

impl Phone {
    pub fn e164(&self) -> String {
        match self {
            Phone::Us { area, exchange, line } => format!("+1{area}{exchange}{line:04}"),
            Phone::Uk { national } => format!("+44{national}"),
        }
    }

    pub fn render(&self, rng: &mut impl Rng) -> String {
        match self {
            Phone::Us { area, exchange, line } => super::noise::us_phone(rng, area, *exchange, *line),
            Phone::Uk { national } => super::noise::uk_phone(rng, &national.to_string()),
        }
    }
}

pub struct Household {
    pub id: String,
    pub email: String,
    pub device: String,
}

pub struct Person {
    pub index: u64,
    pub id: String,
    pub us: bool,
    pub female: bool,
    pub first: &'static Name,
    pub middle: Option<char>,
    pub last: String,
    pub dob: NaiveDate,
    pub email: String,
    pub work_email: Option<String>,
    pub phone: Phone,
    pub work_phone: Option<Phone>,
    pub address: Address,
    /// The address before a move, and the week of the move.
    pub previous_address: Option<(Address, f64)>,
    pub handle: String,
    /// The handle as the CRM recorded it, if the person gave it.
    pub crm_handle: Option<String>,
    pub loyalty: Option<String>,
    pub devices: Vec<String>,
    pub household: Option<Household>,
    /// Week the person first appears in any system.
    pub first_seen: f64,
    pub in_crm: bool,
    pub crm_duplicate: bool,
    pub on_web: bool,
    pub customer: Option<Customer>,
}

/// Generates people `2j` and `2j+1` (the second only if it exists): about one
/// pair in ten is a household sharing surname, address, an email and a device.
pub fn pair(world: &World, j: u64) -> Vec<Person> {
    let mut household_rng = world.rng("household", j);
    let first = person(world, 2 * j);
    if 2 * j + 1 >= world.people {
        return vec![first];
    }
    let mut second = person(world, 2 * j + 1);
    if household_rng.random_bool(0.10) {
        if household_rng.random_bool(0.7) {
            second.last = first.last.clone();
        }
        second.us = first.us;
        second.address = first.address.clone();
        second.previous_address = None;
        let domain = if first.us { US_DOMAINS[0] } else { UK_DOMAINS[0] };
        let tag = tag_number(2 * j, world.tag_digits, world.tag_offset + 7);
        let shared = Household {
            id: format!("H{j:09}"),
            email: format!("{}.family{tag}@{domain}", ascii_lower(&first.last)),
            device: world.id("anon-", "household-device", j, 0),
        };
        let copy = Household {
            id: shared.id.clone(),
            email: shared.email.clone(),
            device: shared.device.clone(),
        };
        let mut people = vec![first, second];
        people[0].household = Some(shared);
        people[1].household = Some(copy);
        return people;
    }
    vec![first, second]
}

fn ascii_lower(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase()
}

/// One person, drawn from their own random stream phase by phase: who they
/// are, how to write to them, where they live, their ids online, and which
/// systems know them. The phases draw in this order; changing it changes
/// every generated data set.
fn person(world: &World, index: u64) -> Person {
    let mut rng = world.rng("person", index);
    let Identity {
        us,
        female,
        first,
        middle,
        last,
        dob,
    } = identity(world, &mut rng);
    // Unique digits make every address, handle and number unique to one person.
    let stem = Stem {
        tag: tag_number(index, world.tag_digits, world.tag_offset),
        f: ascii_lower(first.name),
        l: ascii_lower(&last),
    };
    let (email, work_email) = emails(&mut rng, us, &stem);
    let Home {
        address,
        phone,
        work_phone,
        first_seen,
        previous_address,
    } = home(world, &mut rng, index, us);
    let (handle, loyalty, devices) = online(world, &mut rng, index, &stem, dob);
    let Presence {
        in_crm,
        crm_duplicate,
        on_web,
        customer,
        crm_handle,
    } = presence(world, &mut rng, first_seen, &handle);

    Person {
        index,
        id: format!("P{index:09}"),
        us,
        female,
        first,
        middle,
        last,
        dob,
        email,
        work_email,
        phone,
        work_phone,
        address,
        previous_address,
        handle,
        crm_handle,
        loyalty,
        devices,
        household: None,
        first_seen,
        in_crm,
        crm_duplicate,
        on_web,
        customer,
    }
}

/// Who a person is: country, sex, names and date of birth.
struct Identity {
    us: bool,
    female: bool,
    first: &'static Name,
    middle: Option<char>,
    last: String,
    dob: NaiveDate,
}

/// Draws a person's country, sex, names and date of birth.
fn identity(world: &World, rng: &mut ChaCha8Rng) -> Identity {
    let us = rng.random_bool(0.85);
    let female = rng.random_bool(0.5);
    let first = if female {
        &FEMALE_NAMES[world.female.pick(rng.random())]
    } else {
        &MALE_NAMES[world.male.pick(rng.random())]
    };
    let mut last = LAST_NAMES[world.last.pick(rng.random())].to_string();
    if rng.random_bool(0.03) {
        last = format!("{last}-{}", LAST_NAMES[world.last.pick(rng.random())]);
    }
    let middle = rng.random_bool(0.4).then(|| (b'A' + rng.random_range(0..26u8)) as char);
    let dob =
        NaiveDate::from_ymd_opt(1940, 1, 1).expect("valid date") + Duration::days(rng.random_range(0..(365 * 65)));
    Identity {
        us,
        female,
        first,
        middle,
        last,
        dob,
    }
}

/// What a person's emails and handles are built from: first and last name in
/// lower-case ASCII, and the person's unique tag.
struct Stem {
    tag: u64,
    f: String,
    l: String,
}

/// Draws a person's personal email and, for some, a work email.
fn emails(rng: &mut ChaCha8Rng, us: bool, stem: &Stem) -> (String, Option<String>) {
    let Stem { tag, f, l } = stem;
    let fi = &f[..1];
    let local = match rng.random_range(0..6) {
        0 => format!("{f}.{l}{tag}"),
        1 => format!("{fi}{l}{tag}"),
        2 => format!("{f}{l}{tag}"),
        3 => format!("{f}_{l}{tag}"),
        4 => format!("{l}.{f}{tag}"),
        _ => format!("{f}{tag}"),
    };
    let domains = if us { US_DOMAINS } else { UK_DOMAINS };
    let email = format!(
        "{local}@{}",
        domains[(rng.random::<f64>().powi(2) * domains.len() as f64) as usize]
    );
    let work_email = rng
        .random_bool(0.2)
        .then(|| format!("{fi}.{l}{tag}@{}", WORK_DOMAINS.choose(rng).expect("non-empty")));
    (email, work_email)
}

/// Where a person lives and can be called, when they first appear, and the
/// address they had before a move, if they moved.
struct Home {
    address: Address,
    phone: Phone,
    work_phone: Option<Phone>,
    first_seen: f64,
    previous_address: Option<(Address, f64)>,
}

/// Draws a person's address and phones, the week they first appear, and
/// perhaps a move.
fn home(world: &World, rng: &mut ChaCha8Rng, index: u64, us: bool) -> Home {
    let address = Address::random(rng, us);
    let phone = make_phone(world, rng, us, &address, index);
    let work_phone = rng
        .random_bool(0.15)
        .then(|| make_phone(world, rng, us, &address, index + world.people));
    let first_seen = rng.random_range(0.0..world.weeks * 0.9);
    let previous_address = rng
        .random_bool(0.15)
        .then(|| (Address::random(rng, us), rng.random_range(first_seen..world.weeks)));
    Home {
        address,
        phone,
        work_phone,
        first_seen,
        previous_address,
    }
}

/// Draws a person's social handle, loyalty number (for some) and devices.
fn online(
    world: &World,
    rng: &mut ChaCha8Rng,
    index: u64,
    stem: &Stem,
    dob: NaiveDate,
) -> (String, Option<String>, Vec<String>) {
    let Stem { tag, f, l } = stem;
    let fi = &f[..1];
    let handle = match rng.random_range(0..4) {
        0 => format!("{fi}{l}{tag}"),
        1 => format!("{f}_{l}_{tag}"),
        2 => {
            format!("{f}{l}{}", dob.format("%Y"))
                .chars()
                .take(20)
                .collect::<String>()
                + &tag.to_string()
        }
        _ => format!("the{f}{tag}"),
    };
    let loyalty = rng
        .random_bool(0.4)
        .then(|| format!("L{:010}", tag_number(index, 10, world.tag_offset + 3)));
    let n_devices = 1 + (rng.random::<f64>() * 2.2) as u64;
    let devices = (0..n_devices).map(|k| world.id("anon-", "device", index, k)).collect();
    (handle, loyalty, devices)
}

/// Which systems know a person, whether they buy, and the handle they gave
/// the CRM.
struct Presence {
    in_crm: bool,
    crm_duplicate: bool,
    on_web: bool,
    customer: Option<Customer>,
    crm_handle: Option<String>,
}

/// Draws whether a person is in the CRM (once or twice), browses the web,
/// buys (and their purchases), and gave the CRM their social handle.
fn presence(world: &World, rng: &mut ChaCha8Rng, first_seen: f64, handle: &str) -> Presence {
    let in_crm = rng.random_bool(0.85);
    let crm_duplicate = in_crm && rng.random_bool(0.07);
    // The web's visitors are account holders (people in the CRM), so every
    // anonymous device of theirs can sign in at some point; 82% of them
    // browse, about 70% of all people.
    let browses = rng.random_bool(0.82);
    let on_web = in_crm && browses;
    let customer = rng.random_bool(0.8).then(|| {
        let first_purchase = rng.random_range(first_seen..world.weeks);
        simulate(rng, &world.params, first_purchase, world.weeks)
    });
    // Some people give their social handle in their account profile, as
    // they type it: with or without the @, sometimes in capitals.
    let crm_handle = rng.random_bool(0.6).then(|| {
        let at = if rng.random_bool(0.5) { "@" } else { "" };
        let typed = if rng.random_bool(0.15) {
            handle.to_uppercase()
        } else {
            handle.to_string()
        };
        format!("{at}{typed}")
    });
    Presence {
        in_crm,
        crm_duplicate,
        on_web,
        customer,
        crm_handle,
    }
}

fn make_phone(world: &World, rng: &mut impl Rng, us: bool, address: &Address, slot: u64) -> Phone {
    if us {
        let area = address.place.area_codes.choose(rng).expect("non-empty");
        let (exchange, line) = us_subscriber(slot, world.phone_offset);
        Phone::Us { area, exchange, line }
    } else {
        let prefix = [74u64, 75, 77, 78, 79].choose(rng).expect("non-empty");
        Phone::Uk {
            national: prefix * 100_000_000 + u64::from(uk_subscriber(slot, world.phone_offset)),
        }
    }
}
