//! The demo scenario: a seeded, **synthetic** election period in Kisumu County, Kenya.
//!
//! Nothing here describes real events. Places are real neighbourhoods and towns (approximate
//! centres) so the map reads naturally; incidents are drawn from a self-exciting process:
//! background reports at every place, escalation episodes at flashpoints that excite their own
//! and neighbouring areas, rumours that are later debunked, and peace meetings after episodes.
//! Same seed and end time → the same scenario. Pure: no I/O, no clock.

use chrono::{DateTime, Duration, Utc};

use crate::domain::{Category, ReportInput, Reporter, Verification};

/// Kisumu County's bounding box (approximate): the demo's deployment region.
pub const KISUMU_REGION: &str = "34.40,-0.45,35.40,0.05";

/// A place of the scenario: (name, lon, lat, flashpoint weight).
pub const PLACES: &[(&str, f64, f64, f64)] = &[
    ("Kondele", 34.7679, -0.0861, 3.0),
    ("Nyalenda", 34.7700, -0.1095, 3.0),
    ("Obunga", 34.7431, -0.0886, 2.5),
    ("Manyatta", 34.7639, -0.0986, 2.5),
    ("Kisumu CBD", 34.7617, -0.0917, 2.0),
    ("Nyamasaria", 34.8064, -0.0903, 1.5),
    ("Bandani", 34.7830, -0.0790, 1.5),
    ("Ahero", 34.9206, -0.1736, 1.0),
    ("Maseno", 34.6000, 0.0040, 0.7),
    ("Muhoroni", 35.1975, -0.1566, 0.8),
    ("Kombewa", 34.5180, -0.1044, 0.6),
    ("Katito", 34.9647, -0.2613, 0.6),
    ("Awasi", 35.0796, -0.1625, 0.6),
    ("Chemelil", 35.1417, -0.0833, 0.7),
    ("Pap Onditi", 35.0000, -0.3500, 0.5),
];

/// One generated report and the verification it ends with.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioReport {
    /// The report as a client would send it.
    pub input: ReportInput,
    /// The verification a verifier gives it later (`Unverified`: never checked).
    pub verification: Verification,
    /// The place it belongs to.
    pub place: &'static str,
}

/// Scenario knobs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScenarioParams {
    /// RNG seed.
    pub seed: u64,
    /// The scenario ends here (the demo uses now).
    pub end: DateTime<Utc>,
    /// Length in days.
    pub days: u32,
    /// Background reports per day over the whole county.
    pub background_per_day: f64,
    /// Escalation episodes over the period.
    pub episodes: u32,
}

impl ScenarioParams {
    /// The demo defaults: 21 days ending at `end`, seed 2013.
    #[must_use]
    pub fn demo(end: DateTime<Utc>) -> Self {
        Self { seed: 2013, end, days: 21, background_per_day: 45.0, episodes: 9 }
    }
}

/// SplitMix64: small, seedable, good enough for a synthetic scenario.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    #[must_use]
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// Next raw value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    #[expect(clippy::cast_precision_loss, reason = "53 bits fit an f64 mantissa")]
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u = self.unit().max(1e-12);
        let v = self.unit();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    /// Exponential with the given mean.
    pub fn exponential(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.unit()).ln()
    }

    /// Poisson count (Knuth for small means, a rounded normal approximation above 500).
    #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "counts are far below 2^32")]
    pub fn poisson(&mut self, mean: f64) -> u32 {
        if mean > 500.0 {
            return (mean + mean.sqrt() * self.normal()).round().max(0.0) as u32;
        }
        let limit = (-mean).exp();
        let (mut k, mut p) = (0u32, 1.0);
        loop {
            p *= self.unit();
            if p <= limit || k > 10_000 {
                return k;
            }
            k += 1;
        }
    }

    /// Index drawn with the given weights.
    pub fn weighted(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut x = self.unit() * total;
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        weights.len().saturating_sub(1)
    }
}

const BACKGROUND: &[(Category, f64)] = &[
    (Category::Rumour, 5.0),
    (Category::HateSpeech, 3.0),
    (Category::GangActivity, 3.0),
    (Category::StreetHarassment, 2.0),
    (Category::DrugAbuse, 2.0),
    (Category::LandDispute, 2.0),
    (Category::WaterDispute, 1.0),
    (Category::CattleRaid, 0.6),
    (Category::Assault, 2.0),
    (Category::VoteBuying, 2.0),
    (Category::VoterIntimidation, 1.5),
    (Category::InflammatoryMaterial, 1.5),
    (Category::Threat, 1.5),
    (Category::Gbv, 0.8),
    (Category::PoliceAbuse, 0.7),
];

const ESCALATION: &[(Category, f64)] = &[
    (Category::Mobilisation, 4.0),
    (Category::RallyViolence, 3.0),
    (Category::Roadblock, 3.0),
    (Category::ArmedClash, 2.0),
    (Category::ArsonProperty, 2.0),
    (Category::Assault, 2.0),
    (Category::HateSpeech, 2.0),
    (Category::Rumour, 2.0),
    (Category::SmallArms, 1.0),
    (Category::Displacement, 1.0),
    (Category::PollingDisruption, 1.0),
    (Category::Killing, 0.4),
    (Category::Abduction, 0.3),
];

const SOURCES: &[&str] = &["monitor", "hotline", "sms", "web", "media", "police", "partner"];

fn pick(rng: &mut Rng, table: &[(Category, f64)]) -> Category {
    let weights: Vec<f64> = table.iter().map(|(_, w)| *w).collect();
    table[rng.weighted(&weights)].0
}

#[expect(clippy::cast_possible_truncation, reason = "severities are small")]
fn severity(rng: &mut Rng, base: f64) -> i64 {
    (base + rng.normal() * 0.9).round().clamp(1.0, 5.0) as i64
}

fn verification(rng: &mut Rng, category: Category, severity: i64) -> Verification {
    if category == Category::Rumour && rng.unit() < 0.45 {
        return Verification::Debunked;
    }
    let p_verified = 0.35 + 0.1 * f64::from(u8::try_from(severity).unwrap_or(1));
    let x = rng.unit();
    if x < p_verified {
        Verification::Verified
    } else if x < p_verified + 0.08 {
        Verification::Disputed
    } else {
        Verification::Unverified
    }
}

struct Draft {
    place: usize,
    lon: f64,
    lat: f64,
    at: DateTime<Utc>,
    category: Category,
    severity: i64,
}

/// Generates the scenario, oldest first. Deterministic for the same parameters.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use kinga::scenario::{ScenarioParams, generate};
/// let p = ScenarioParams::demo(Utc.with_ymd_and_hms(2013, 3, 10, 0, 0, 0).unwrap());
/// let a = generate(&p);
/// assert_eq!(a, generate(&p));
/// assert!(a.len() > 500);
/// assert!(a.windows(2).all(|w| w[0].input.occurred_at <= w[1].input.occurred_at));
/// ```
#[must_use]
pub fn generate(p: &ScenarioParams) -> Vec<ScenarioReport> {
    let mut rng = Rng::new(p.seed);
    let start = p.end - Duration::days(i64::from(p.days));
    let span_h = f64::from(p.days) * 24.0;
    let weights: Vec<f64> = PLACES.iter().map(|pl| pl.3).collect();
    let mut drafts: Vec<Draft> = Vec::new();
    let hours = |h: f64| {
        #[expect(clippy::cast_possible_truncation, reason = "scenario spans are weeks")]
        let s = (h * 3600.0) as i64;
        Duration::seconds(s)
    };
    let jitter = |rng: &mut Rng, place: usize, spread_km: f64| {
        let (_, lon, lat, _) = PLACES[place];
        (lon + rng.normal() * spread_km / 111.0, lat + rng.normal() * spread_km / 111.0)
    };

    // Background: Poisson per day, places by weight, a mild election-day peak two thirds in.
    for day in 0..p.days {
        let peak = (-((f64::from(day) - f64::from(p.days) * 0.66).powi(2)) / 8.0).exp();
        for _ in 0..rng.poisson(p.background_per_day * (1.0 + 0.8 * peak)) {
            let place = rng.weighted(&weights);
            let (lon, lat) = jitter(&mut rng, place, 0.9);
            let at = start + Duration::days(i64::from(day)) + hours(rng.unit() * 24.0);
            let category = pick(&mut rng, BACKGROUND);
            let severity = severity(&mut rng, 2.2);
            drafts.push(Draft { place, lon, lat, at, category, severity });
        }
    }

    // Escalation episodes: a seed event at a flashpoint, then offspring (Hawkes-like: each event
    // has on average 0.8 children, 1–24 h later, 200–800 m away, sometimes in the next place).
    let flash: Vec<f64> = PLACES.iter().map(|pl| pl.3 * pl.3).collect();
    for e in 0..p.episodes {
        let place = rng.weighted(&flash);
        // Later episodes cluster towards the end, as tension builds before the vote.
        let frac = (f64::from(e) + rng.unit()) / f64::from(p.episodes.max(1));
        let t0 = start + hours(span_h * (0.15 + 0.8 * frac.sqrt()).min(0.995));
        let mut queue = vec![(place, t0, 0u32)];
        while let Some((place, at, generation)) = queue.pop() {
            if at > p.end {
                continue;
            }
            let (lon, lat) = jitter(&mut rng, place, 0.35);
            let category = pick(&mut rng, ESCALATION);
            let severity = severity(&mut rng, 3.2 + 0.2 * f64::from(generation.min(3)));
            drafts.push(Draft { place, lon, lat, at, category, severity });
            if generation < 6 {
                for _ in 0..rng.poisson(0.85) {
                    let next_place = if rng.unit() < 0.15 { rng.weighted(&weights) } else { place };
                    queue.push((next_place, at + hours(1.0 + rng.exponential(10.0)), generation + 1));
                }
            }
        }
        // A peace meeting follows most episodes within two days.
        if rng.unit() < 0.8 {
            let at = t0 + hours(24.0 + rng.unit() * 24.0);
            if at <= p.end {
                let (lon, lat) = jitter(&mut rng, place, 0.2);
                let category = if rng.unit() < 0.5 { Category::PeaceMeeting } else { Category::Dialogue };
                drafts.push(Draft { place, lon, lat, at, category, severity: 3 });
            }
        }
    }

    drafts.retain(|d| d.at <= p.end && d.at >= start);
    drafts.sort_by_key(|d| d.at);
    drafts
        .into_iter()
        .enumerate()
        .map(|(i, d)| {
            let (lon_min, lat_min, lon_max, lat_max) = (34.401, -0.449, 35.399, 0.049);
            let verification = verification(&mut rng, d.category, d.severity);
            let source = SOURCES[rng.weighted(&[4.0, 3.0, 3.0, 1.0, 1.0, 1.5, 1.0])];
            let uuid = uuid::Uuid::from_u64_pair(p.seed, u64::try_from(i).unwrap_or(u64::MAX));
            ScenarioReport {
                input: ReportInput {
                    id: Some(uuid.to_string()),
                    lon: (d.lon * 1e6).round() / 1e6,
                    lat: (d.lat * 1e6).round() / 1e6,
                    occurred_at: d.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    category: d.category.slug().to_string(),
                    severity: d.severity,
                    source: Some(source.to_string()),
                    description: Some(format!(
                        "SYNTHETIC demo report: {} near {}",
                        d.category.slug().replace('-', " "),
                        PLACES[d.place].0
                    )),
                    reporter: (source == "hotline").then(|| Reporter {
                        name: Some(format!("Synthetic caller {i}")),
                        phone: Some(format!("+254 700 {:06}", i % 1_000_000)),
                        contact: None,
                    }),
                    tags: vec![PLACES[d.place].0.to_lowercase().replace(' ', "-"), "synthetic".into()],
                }
                .pipe(|mut r| {
                    r.lon = r.lon.clamp(lon_min, lon_max);
                    r.lat = r.lat.clamp(lat_min, lat_max);
                    r
                }),
                verification,
                place: PLACES[d.place].0,
            }
        })
        .collect()
}

/// Applies a function to a value (keeps the builder above in one expression).
trait Pipe: Sized {
    fn pipe(self, f: impl FnOnce(Self) -> Self) -> Self {
        f(self)
    }
}

impl Pipe for ReportInput {}
