//! The professional-equality plan that HR follows: its five axes, its period, its actions,
//! its indicators (automatic ones described declaratively, manual ones typed in by HR),
//! breakdowns that never expose a person, and the monthly snapshots trends are read from.
//! Plain functions here; SQL in `store.rs`, use cases in `flow.rs`, pages in `routes.rs`,
//! the JSON API in `api.rs`, the trend chart in `chart.rs`, the committee report in
//! `report.rs`.
//!
//! This capability reads obligations, completions, certificates, shared-training
//! attendance and the directory; it never changes them.

pub mod api;
pub mod chart;
pub mod flow;
pub mod report;
pub mod routes;
pub mod store;

use std::collections::BTreeMap;

use chrono::{Datelike, Months, NaiveDate};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::catalog::{Audience, EQUALITY_AXES};

/// A plan lasts three years at most.
pub const MAX_PLAN_YEARS: u32 = 3;
/// Action owners hear of an action this many days before its end date.
pub const DUE_SOON_DAYS: i64 = 30;
/// Late actions are recalled to their owner every this many days.
pub const LATE_EVERY_DAYS: i64 = 7;

/// One axis of the plan (`E1`…`E5`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Axis {
    pub code: String,
    pub number: usize,
    pub title: String,
}

/// The five axes, present from the start (the national agreement of 30 November 2018).
pub fn axes() -> Vec<Axis> {
    EQUALITY_AXES
        .iter()
        .enumerate()
        .map(|(i, t)| Axis {
            code: format!("E{}", i + 1),
            number: i + 1,
            title: (*t).to_string(),
        })
        .collect()
}

/// The axis of a code (`E3`, `e3`), `None` for anything else.
pub fn axis(code: &str) -> Option<Axis> {
    let code = code.trim().to_uppercase();
    axes().into_iter().find(|a| a.code == code)
}

/// Checks the plan's period: it ends after it starts, three years at most.
pub fn check_period(starts_on: NaiveDate, ends_on: NaiveDate) -> Result<(), String> {
    if ends_on <= starts_on {
        return Err("La fin du plan doit suivre son début.".into());
    }
    let limit = starts_on
        .checked_add_months(Months::new(12 * MAX_PLAN_YEARS))
        .unwrap_or(NaiveDate::MAX);
    if ends_on > limit {
        return Err(format!(
            "Un plan dure {MAX_PLAN_YEARS} ans au plus : il ne peut pas finir après le {}.",
            crate::certificates::pdf::french_date(limit)
        ));
    }
    Ok(())
}

/// Where an action stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionStatus {
    NotStarted,
    InProgress,
    Done,
    Abandoned,
}

impl ActionStatus {
    pub const ALL: [ActionStatus; 4] = [
        ActionStatus::NotStarted,
        ActionStatus::InProgress,
        ActionStatus::Done,
        ActionStatus::Abandoned,
    ];

    pub fn code(self) -> &'static str {
        match self {
            ActionStatus::NotStarted => "not_started",
            ActionStatus::InProgress => "in_progress",
            ActionStatus::Done => "done",
            ActionStatus::Abandoned => "abandoned",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            ActionStatus::NotStarted => "Non commencée",
            ActionStatus::InProgress => "En cours",
            ActionStatus::Done => "Réalisée",
            ActionStatus::Abandoned => "Abandonnée",
        }
    }

    pub fn parse(code: &str) -> Option<ActionStatus> {
        ActionStatus::ALL.into_iter().find(|s| s.code() == code)
    }

    /// Still to be carried out.
    pub fn open(self) -> bool {
        matches!(self, ActionStatus::NotStarted | ActionStatus::InProgress)
    }
}

impl TryFrom<String> for ActionStatus {
    type Error = String;
    fn try_from(s: String) -> Result<ActionStatus, String> {
        ActionStatus::parse(&s).ok_or_else(|| format!("unknown action status {s:?}"))
    }
}

/// An action of the plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Action {
    pub id: Uuid,
    pub axis: String,
    pub title: String,
    pub description: String,
    pub owner_id: Uuid,
    pub owner_name: String,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    pub status: ActionStatus,
    pub progress: u8,
    /// Linked e-learning modules (slugs) and shared-training offers.
    pub modules: Vec<String>,
    pub offers: Vec<Uuid>,
}

impl Action {
    /// Past its end date and still open.
    pub fn late(&self, today: NaiveDate) -> bool {
        self.status.open() && self.ends_on < today
    }

    /// Open and ending within [`DUE_SOON_DAYS`].
    pub fn due_soon(&self, today: NaiveDate) -> bool {
        self.status.open()
            && self.ends_on >= today
            && (self.ends_on - today).num_days() <= DUE_SOON_DAYS
    }
}

/// The checks of an action's fields, every problem in French.
pub fn check_action(
    title: &str,
    starts_on: NaiveDate,
    ends_on: NaiveDate,
    progress: i64,
) -> Result<(), String> {
    let len = title.trim().chars().count();
    if !(3..=200).contains(&len) {
        return Err("Le titre de l'action compte de 3 à 200 caractères.".into());
    }
    if ends_on < starts_on {
        return Err("Une action ne peut pas finir avant de commencer.".into());
    }
    if !(0..=100).contains(&progress) {
        return Err("L'avancement est un pourcentage entre 0 et 100.".into());
    }
    Ok(())
}

/// How an indicator's value reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// A share of people, 0 to 100.
    Percent,
    /// A number of people or of cases.
    Count,
    /// An average (a quiz score out of 100).
    Mean,
    /// A figure typed in by HR, within its bounds.
    Number,
}

impl Unit {
    pub fn code(self) -> &'static str {
        match self {
            Unit::Percent => "percent",
            Unit::Count => "count",
            Unit::Mean => "mean",
            Unit::Number => "number",
        }
    }

    pub fn parse(code: &str) -> Option<Unit> {
        [Unit::Percent, Unit::Count, Unit::Mean, Unit::Number]
            .into_iter()
            .find(|u| u.code() == code)
    }

    /// A value as French readers write it: « 42,5 % », « 12 », « 71,3 ».
    pub fn format(self, value: f64) -> String {
        let rounded = (value * 10.0).round() / 10.0;
        let text = if rounded.fract() == 0.0 {
            format!("{rounded:.0}")
        } else {
            format!("{rounded:.1}").replace('.', ",")
        };
        match self {
            Unit::Percent => format!("{text} %"),
            _ => text,
        }
    }
}

/// Whether a target is a floor or a ceiling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    AtLeast,
    AtMost,
}

impl Direction {
    pub fn code(self) -> &'static str {
        match self {
            Direction::AtLeast => "at_least",
            Direction::AtMost => "at_most",
        }
    }

    pub fn parse(code: &str) -> Option<Direction> {
        match code {
            "at_least" => Some(Direction::AtLeast),
            "at_most" => Some(Direction::AtMost),
            _ => None,
        }
    }

    pub fn symbol(self) -> &'static str {
        match self {
            Direction::AtLeast => "≥",
            Direction::AtMost => "≤",
        }
    }
}

/// Whether a value meets its target.
pub fn on_target(value: f64, target: f64, direction: Direction) -> bool {
    match direction {
        Direction::AtLeast => value >= target - 1e-9,
        Direction::AtMost => value <= target + 1e-9,
    }
}

/// Who an automatic indicator counts: active people of the directory, narrowed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Population {
    /// Any of these audiences; empty: everyone.
    #[serde(default)]
    pub audiences: Vec<Audience>,
    /// Only people with a management duty (the directory's `encadrement` column, or the
    /// audience of managers).
    #[serde(default)]
    pub managers_only: bool,
    /// `city` (the city's own staff), `partners` (partner staff) or `all`.
    #[serde(default = "all_staff")]
    pub staff: String,
    /// Any of these categories (A, B, C, contractuel); empty: every category.
    #[serde(default)]
    pub categories: Vec<String>,
}

fn all_staff() -> String {
    "all".into()
}

/// What an automatic indicator measures over its population.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Measure {
    /// Share holding a valid (unrevoked, unexpired) certificate of a module.
    ValidCertificate { module: String },
    /// Share who completed a module (any module when none) since the plan started.
    Completed { module: Option<String> },
    /// Share of the obligation cycles due since the plan started that were completed by
    /// their due date (a module tied to a recruitment panel: trained before the panel).
    OnTime { module: Option<String> },
    /// Number of obligations overdue today.
    Overdue { module: Option<String> },
    /// Average of the best quiz score per person and module since the plan started.
    AverageScore { module: Option<String> },
    /// Number of people who attended a shared-training session since the plan started.
    SharedTrained { offer: Option<Uuid> },
    /// Share of the marked half-days where the person was present.
    AttendanceRate { offer: Option<Uuid> },
}

impl Measure {
    pub fn unit(&self) -> Unit {
        match self {
            Measure::ValidCertificate { .. }
            | Measure::Completed { .. }
            | Measure::OnTime { .. }
            | Measure::AttendanceRate { .. } => Unit::Percent,
            Measure::Overdue { .. } | Measure::SharedTrained { .. } => Unit::Count,
            Measure::AverageScore { .. } => Unit::Mean,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Measure::ValidCertificate { .. } => "valid_certificate",
            Measure::Completed { .. } => "completed",
            Measure::OnTime { .. } => "on_time",
            Measure::Overdue { .. } => "overdue",
            Measure::AverageScore { .. } => "average_score",
            Measure::SharedTrained { .. } => "shared_trained",
            Measure::AttendanceRate { .. } => "attendance_rate",
        }
    }

    /// The measures HR picks from, with their French names.
    pub const KINDS: [(&'static str, &'static str); 7] = [
        (
            "valid_certificate",
            "Part des personnes titulaires d'une attestation valide d'un module",
        ),
        (
            "completed",
            "Part des personnes ayant suivi un module depuis le début du plan",
        ),
        (
            "on_time",
            "Part des obligations de formation suivies avant leur échéance",
        ),
        ("overdue", "Nombre d'obligations en retard"),
        ("average_score", "Score moyen aux quiz"),
        (
            "shared_trained",
            "Nombre de personnes formées en session partagée",
        ),
        ("attendance_rate", "Taux de présence aux sessions partagées"),
    ];

    /// Builds a measure from a kind and its optional module or offer.
    pub fn build(
        kind: &str,
        module: Option<String>,
        offer: Option<Uuid>,
    ) -> Result<Measure, String> {
        Ok(match kind {
            "valid_certificate" => Measure::ValidCertificate {
                module: module.ok_or("Cette mesure porte sur un module : choisissez-le.")?,
            },
            "completed" => Measure::Completed { module },
            "on_time" => Measure::OnTime { module },
            "overdue" => Measure::Overdue { module },
            "average_score" => Measure::AverageScore { module },
            "shared_trained" => Measure::SharedTrained { offer },
            "attendance_rate" => Measure::AttendanceRate { offer },
            other => return Err(format!("Mesure inconnue : « {other} ».")),
        })
    }

    pub fn module(&self) -> Option<&str> {
        match self {
            Measure::ValidCertificate { module } => Some(module),
            Measure::Completed { module }
            | Measure::OnTime { module }
            | Measure::Overdue { module }
            | Measure::AverageScore { module } => module.as_deref(),
            _ => None,
        }
    }

    pub fn offer(&self) -> Option<Uuid> {
        match self {
            Measure::SharedTrained { offer } | Measure::AttendanceRate { offer } => *offer,
            _ => None,
        }
    }
}

/// The declarative description of an automatic indicator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Definition {
    pub population: Population,
    pub measure: Measure,
}

/// How an indicator gets its values.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    /// Computed from Repères' own data.
    Auto { definition: Definition },
    /// Typed in by HR per period, within bounds.
    Manual { min: f64, max: f64 },
}

/// An indicator of the plan, with its target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Indicator {
    pub id: Uuid,
    /// Short stable code (`E5-ENC-HARC`), unique.
    pub code: String,
    pub axis: String,
    pub action_id: Option<Uuid>,
    pub title: String,
    pub source: Source,
    pub unit: Unit,
    pub target: Option<f64>,
    pub direction: Direction,
    pub deadline: Option<NaiveDate>,
}

impl Indicator {
    pub fn target_text(&self) -> String {
        self.target
            .map(|t| format!("{} {}", self.direction.symbol(), self.unit.format(t)))
            .unwrap_or_default()
    }
}

/// Checks an indicator's fields, every problem in French.
pub fn check_indicator(
    code: &str,
    title: &str,
    target: Option<f64>,
    unit: Unit,
    bounds: Option<(f64, f64)>,
) -> Result<(), String> {
    let c = code.trim();
    if c.is_empty()
        || c.len() > 30
        || !c
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
    {
        return Err("Le code de l'indicateur compte 1 à 30 lettres, chiffres ou tirets.".into());
    }
    let len = title.trim().chars().count();
    if !(3..=200).contains(&len) {
        return Err("L'intitulé de l'indicateur compte de 3 à 200 caractères.".into());
    }
    if let Some((min, max)) = bounds {
        if !(min.is_finite() && max.is_finite()) || min >= max {
            return Err("La valeur minimale doit être inférieure à la valeur maximale.".into());
        }
    }
    if let Some(t) = target {
        if !t.is_finite() {
            return Err("La cible doit être un nombre.".into());
        }
        let (lo, hi) = match (unit, bounds) {
            (_, Some(b)) => b,
            (Unit::Percent, None) | (Unit::Mean, None) => (0.0, 100.0),
            _ => (0.0, f64::MAX),
        };
        if t < lo || t > hi {
            return Err(format!(
                "La cible doit être comprise entre {} et {}.",
                Unit::Number.format(lo),
                if hi == f64::MAX {
                    "l'infini".to_string()
                } else {
                    Unit::Number.format(hi)
                }
            ));
        }
    }
    Ok(())
}

/// A person as the indicators see them: only what aggregates need, never a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub id: Uuid,
    pub unit: String,
    pub audiences: Vec<Audience>,
    pub sex: String,
    pub category: String,
    /// The partner organisation's name, empty for the city's staff.
    pub partner: String,
    pub manages: bool,
}

impl Population {
    pub fn includes(&self, p: &Profile) -> bool {
        let audience = self.audiences.is_empty()
            || p.audiences.contains(&Audience::Tous) && self.audiences.contains(&Audience::Tous)
            || self.audiences.iter().any(|a| p.audiences.contains(a));
        let manager =
            !self.managers_only || p.manages || p.audiences.contains(&Audience::Encadrement);
        let staff = match self.staff.as_str() {
            "city" => p.partner.is_empty(),
            "partners" => !p.partner.is_empty(),
            _ => true,
        };
        let category = self.categories.is_empty() || self.categories.contains(&p.category);
        audience && manager && staff && category
    }
}

/// The finest grain stored in a snapshot: people sharing a unit, audiences, sex, category
/// and partner organisation, with their sums. No person can be named from it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    #[serde(rename = "u")]
    pub unit: String,
    /// Audience codes, space-separated.
    #[serde(rename = "a")]
    pub audiences: String,
    #[serde(rename = "s")]
    pub sex: String,
    #[serde(rename = "c")]
    pub category: String,
    #[serde(rename = "p")]
    pub partner: String,
    /// People counted (for a count: people with at least one case).
    #[serde(rename = "n")]
    pub people: u64,
    #[serde(rename = "x")]
    pub num: f64,
    #[serde(rename = "d")]
    pub den: f64,
}

/// What one person contributes to a measure: numerator and denominator.
pub type Fact = (f64, f64);

/// Groups the facts of a population into cells. A person with no fact contributes
/// `(0, 1)` to a share or a count (they are in the population) and nothing to a mean or an
/// attendance rate (nothing to average).
pub fn cells(
    population: &Population,
    unit: Unit,
    profiles: &[Profile],
    facts: &std::collections::HashMap<Uuid, Fact>,
    per_person_denominator: bool,
) -> Vec<Cell> {
    let people = profiles.iter().filter_map(|p| {
        let (num, den) = match facts.get(&p.id) {
            Some(f) => *f,
            None if per_person_denominator => (0.0, 1.0),
            None => return None,
        };
        let counted = match unit {
            Unit::Count => num > 0.0,
            _ => den > 0.0,
        };
        Some((p.clone(), u64::from(counted), num, den))
    });
    // One person is a group of one: the same grouping as people grouped in SQL.
    cells_of_groups(population, people)
}

/// Cells from people already grouped (in SQL) by what cells and populations look at: each
/// group's attributes as a profile, with its people counted and its sums. Groups that
/// differ only by what a cell does not keep (the management duty) are merged.
pub fn cells_of_groups(
    population: &Population,
    groups: impl IntoIterator<Item = (Profile, u64, f64, f64)>,
) -> Vec<Cell> {
    let mut out: BTreeMap<(String, String, String, String, String), Cell> = BTreeMap::new();
    for (p, people, num, den) in groups {
        if !population.includes(&p) {
            continue;
        }
        let audiences = p
            .audiences
            .iter()
            .map(|a| a.code())
            .collect::<Vec<_>>()
            .join(" ");
        let key = (
            p.unit.clone(),
            audiences.clone(),
            p.sex.clone(),
            p.category.clone(),
            p.partner.clone(),
        );
        let cell = out.entry(key).or_insert_with(|| Cell {
            unit: p.unit,
            audiences,
            sex: p.sex,
            category: p.category,
            partner: p.partner,
            people: 0,
            num: 0.0,
            den: 0.0,
        });
        cell.people += people;
        cell.num += num;
        cell.den += den;
    }
    out.into_values().collect()
}

/// A filter over cells: an org-unit subtree, an audience, a partner organisation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    #[serde(default)]
    pub unit: String,
    #[serde(default)]
    pub audience: String,
    #[serde(default)]
    pub partner: String,
}

impl Filter {
    pub fn keeps(&self, c: &Cell) -> bool {
        (self.unit.is_empty() || crate::people::in_subtree(&self.unit, &c.unit))
            && (self.audience.is_empty() || c.audiences.split(' ').any(|a| a == self.audience))
            && (self.partner.is_empty() || c.partner == self.partner)
    }
}

/// Sums of a group of cells.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Sum {
    pub people: u64,
    pub num: f64,
    pub den: f64,
}

impl Sum {
    pub fn add(&mut self, c: &Cell) {
        self.people += c.people;
        self.num += c.num;
        self.den += c.den;
    }

    /// The value in `unit`; `None` when there is nothing to divide.
    pub fn value(&self, unit: Unit) -> Option<f64> {
        match unit {
            Unit::Count | Unit::Number => Some(self.num),
            Unit::Percent => (self.den > 0.0).then(|| 100.0 * self.num / self.den),
            Unit::Mean => (self.den > 0.0).then(|| self.num / self.den),
        }
    }
}

/// The total of the cells a filter keeps.
pub fn total(cells: &[Cell], filter: &Filter) -> Sum {
    let mut s = Sum::default();
    for c in cells.iter().filter(|c| filter.keeps(c)) {
        s.add(c);
    }
    s
}

/// What a breakdown splits by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    Sex,
    Category,
    Audience,
    /// The units directly under the filtered one (or the top units), and the people
    /// attached to the filtered unit itself.
    Unit,
    Partner,
}

impl Dimension {
    pub const ALL: [Dimension; 5] = [
        Dimension::Sex,
        Dimension::Category,
        Dimension::Audience,
        Dimension::Unit,
        Dimension::Partner,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Dimension::Sex => "sex",
            Dimension::Category => "category",
            Dimension::Audience => "audience",
            Dimension::Unit => "unit",
            Dimension::Partner => "partner",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Dimension::Sex => "Par sexe",
            Dimension::Category => "Par catégorie",
            Dimension::Audience => "Par public",
            Dimension::Unit => "Par service",
            Dimension::Partner => "Par structure",
        }
    }

    pub fn parse(code: &str) -> Option<Dimension> {
        Dimension::ALL.into_iter().find(|d| d.code() == code)
    }

    /// The groups a cell belongs to along this dimension (several for audiences).
    fn groups(self, c: &Cell, filter: &Filter) -> Vec<String> {
        match self {
            Dimension::Sex => vec![match c.sex.as_str() {
                "F" => "Femmes".into(),
                "M" => "Hommes".into(),
                _ => "Non renseigné".into(),
            }],
            Dimension::Category => vec![if c.category.is_empty() {
                "Non renseignée".into()
            } else {
                category_label(&c.category)
            }],
            Dimension::Audience => c
                .audiences
                .split(' ')
                .filter_map(crate::catalog::Audience::parse)
                .map(|a| a.label().to_string())
                .collect(),
            Dimension::Partner => vec![if c.partner.is_empty() {
                "Ville de Nancy (agents)".into()
            } else {
                c.partner.clone()
            }],
            Dimension::Unit => {
                let root = &filter.unit;
                let rest = if root.is_empty() {
                    c.unit.as_str()
                } else if c.unit.len() > root.len() {
                    &c.unit[root.len() + 1..]
                } else {
                    ""
                };
                vec![match rest.split('/').next().filter(|s| !s.is_empty()) {
                    Some(child) if root.is_empty() => child.to_string(),
                    Some(child) => format!("{root}/{child}"),
                    None if root.is_empty() => "Sans service".into(),
                    None => format!("{root} (rattachement direct)"),
                }]
            }
        }
    }
}

/// The French label of a directory category.
pub fn category_label(code: &str) -> String {
    match code {
        "A" | "B" | "C" => format!("Catégorie {code}"),
        "CONTRACTUEL" => "Contractuels".into(),
        other => other.to_string(),
    }
}

/// One line of a breakdown, after suppression.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Line {
    pub label: String,
    /// `None` when suppressed.
    pub people: Option<u64>,
    pub value: Option<f64>,
    /// What to print: the value, « < 5 », or « — » when there is nothing to divide.
    pub shown: String,
    pub suppressed: bool,
}

/// A breakdown of the filtered cells, suppressed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Breakdown {
    pub dimension: Dimension,
    pub label: &'static str,
    pub total: Line,
    pub lines: Vec<Line>,
}

/// Which cells to hide so that no count below `k` can be read or worked out.
///
/// - primary: every cell counting 1 to `k - 1` people;
/// - secondary: while the hidden cells, taken together, are a single cell or count fewer
///   than `k` people, the smallest visible non-empty cell is hidden too, so that the total
///   minus the visible cells gives only a sum of at least `k` people spread over several
///   cells;
/// - when that cannot be reached, every non-empty cell is hidden (the caller hides the
///   total too when it counts fewer than `k`).
///
/// Empty cells stay visible: « 0 » exposes nobody.
pub fn suppress(counts: &[u64], k: u64) -> Vec<bool> {
    let mut hidden: Vec<bool> = counts.iter().map(|&n| n > 0 && n < k).collect();
    loop {
        let n_hidden = hidden.iter().filter(|h| **h).count();
        if n_hidden == 0 {
            return hidden;
        }
        let sum: u64 = counts
            .iter()
            .zip(&hidden)
            .filter(|(_, h)| **h)
            .map(|(n, _)| *n)
            .sum();
        if n_hidden >= 2 && sum >= k {
            return hidden;
        }
        let next = counts
            .iter()
            .enumerate()
            .filter(|(i, n)| !hidden[*i] && **n > 0)
            .min_by_key(|(i, n)| (**n, *i))
            .map(|(i, _)| i);
        match next {
            Some(i) => hidden[i] = true,
            None => return hidden,
        }
    }
}

fn line(label: String, sum: &Sum, unit: Unit, hidden: bool, k: u64) -> Line {
    if hidden {
        return Line {
            label,
            people: None,
            value: None,
            shown: format!("< {k}"),
            suppressed: true,
        };
    }
    let value = sum.value(unit);
    Line {
        label,
        people: Some(sum.people),
        value,
        shown: value.map(|v| unit.format(v)).unwrap_or_else(|| "—".into()),
        suppressed: false,
    }
}

/// The total of the filtered cells, hidden when it counts 1 to `k - 1` people.
pub fn total_line(cells: &[Cell], filter: &Filter, unit: Unit, k: u64) -> Line {
    let s = total(cells, filter);
    line("Ensemble".into(), &s, unit, s.people > 0 && s.people < k, k)
}

/// Splits the filtered cells along a dimension and hides what must be hidden.
pub fn breakdown(
    cells: &[Cell],
    filter: &Filter,
    dimension: Dimension,
    unit: Unit,
    k: u64,
) -> Breakdown {
    let mut groups: BTreeMap<String, Sum> = BTreeMap::new();
    if dimension == Dimension::Sex {
        for label in ["Femmes", "Hommes", "Non renseigné"] {
            groups.insert(label.into(), Sum::default());
        }
    }
    for c in cells.iter().filter(|c| filter.keeps(c)) {
        for g in dimension.groups(c, filter) {
            groups.entry(g).or_default().add(c);
        }
    }
    let total = total_line(cells, filter, unit, k);
    let counts: Vec<u64> = groups.values().map(|s| s.people).collect();
    let mut hidden = suppress(&counts, k);
    if total.suppressed {
        hidden = counts.iter().map(|n| *n > 0).collect();
    }
    let lines = groups
        .into_iter()
        .zip(hidden)
        .map(|((label, sum), h)| line(label, &sum, unit, h, k))
        .collect();
    Breakdown {
        dimension,
        label: dimension.label(),
        total,
        lines,
    }
}

/// A manual value's period: a year (`2025`) or a month (`2026-03`); returns the last day
/// it covers.
pub fn period_end(period: &str) -> Result<NaiveDate, String> {
    let bad = || {
        format!(
            "Période « {} » invalide : écrivez une année (2025) ou un mois (2026-03).",
            period.trim()
        )
    };
    let p = period.trim();
    let (year, month) = match p.split_once('-') {
        None => (p.parse::<i32>().map_err(|_| bad())?, 12),
        Some((y, m)) => (
            y.parse::<i32>().map_err(|_| bad())?,
            m.parse::<u32>().map_err(|_| bad())?,
        ),
    };
    if !(2000..=2100).contains(&year) || !(1..=12).contains(&month) || p.len() > 7 {
        return Err(bad());
    }
    let first = NaiveDate::from_ymd_opt(year, month, 1).ok_or_else(bad)?;
    Ok(first
        .checked_add_months(Months::new(1))
        .and_then(|d| d.pred_opt())
        .unwrap_or(first))
}

/// Checks a manual value against its indicator's bounds.
pub fn check_manual(value: f64, min: f64, max: f64) -> Result<(), String> {
    if !value.is_finite() || value < min || value > max {
        return Err(format!(
            "La valeur doit être comprise entre {} et {}.",
            Unit::Number.format(min),
            Unit::Number.format(max)
        ));
    }
    Ok(())
}

/// The monthly slot of a snapshot taken by the job (`2026-12`).
pub fn month_key(day: NaiveDate) -> String {
    format!("{:04}-{:02}", day.year(), day.month())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn person(unit: &str, sex: &str) -> Profile {
        Profile {
            id: Uuid::new_v4(),
            unit: unit.into(),
            audiences: vec![Audience::Accueil],
            sex: sex.into(),
            category: "C".into(),
            partner: String::new(),
            manages: false,
        }
    }

    #[test]
    fn a_plan_lasts_three_years_at_most_and_ends_after_it_starts() {
        assert!(check_period(d("2026-01-01"), d("2029-01-01")).is_ok());
        assert!(check_period(d("2026-01-01"), d("2029-01-02"))
            .unwrap_err()
            .contains("3 ans"));
        assert!(check_period(d("2026-01-01"), d("2025-12-31")).is_err());
    }

    #[test]
    fn an_action_cannot_end_before_it_starts() {
        assert!(check_action("Former les jurys", d("2026-01-01"), d("2026-06-30"), 10).is_ok());
        assert!(
            check_action("Former les jurys", d("2026-06-01"), d("2026-05-31"), 10)
                .unwrap_err()
                .contains("finir avant")
        );
        assert!(check_action("Former", d("2026-01-01"), d("2026-01-01"), 101).is_err());
    }

    #[test]
    fn late_and_due_soon_actions() {
        let mut a = Action {
            id: Uuid::nil(),
            axis: "E1".into(),
            title: "x".into(),
            description: String::new(),
            owner_id: Uuid::nil(),
            owner_name: String::new(),
            starts_on: d("2026-01-01"),
            ends_on: d("2026-12-31"),
            status: ActionStatus::InProgress,
            progress: 50,
            modules: vec![],
            offers: vec![],
        };
        assert!(a.due_soon(d("2026-12-01")));
        assert!(!a.due_soon(d("2026-11-30")));
        assert!(a.late(d("2027-01-01")));
        a.status = ActionStatus::Done;
        assert!(!a.late(d("2027-01-01")));
    }

    #[test]
    fn a_single_small_cell_takes_a_second_one_with_it() {
        // 6 women, 1 man: hiding the man alone would leave him as total minus women.
        assert_eq!(suppress(&[6, 1, 0], 5), vec![true, true, false]);
        // 4 women, 1 man: both small, together 5.
        assert_eq!(suppress(&[4, 1, 0], 5), vec![true, true, false]);
        // Two cells of 1: their sum would name both; a third cell is hidden.
        assert_eq!(suppress(&[1, 1, 20, 30], 5), vec![true, true, true, false]);
        // Nothing small: nothing hidden.
        assert_eq!(suppress(&[5, 12, 0], 5), vec![false, false, false]);
    }

    #[test]
    fn a_unit_of_four_women_and_one_man_shows_neither_and_cannot_be_subtracted() {
        let people: Vec<Profile> = (0..4)
            .map(|_| person("Ville/Petit", "F"))
            .chain([person("Ville/Petit", "M")])
            .chain((0..30).map(|i| person("Ville/Grand", if i % 2 == 0 { "F" } else { "M" })))
            .chain((0..2).map(|_| person("Ville/Mini", "F")))
            .collect();
        let facts: HashMap<Uuid, Fact> = people.iter().map(|p| (p.id, (1.0, 1.0))).collect();
        let cells = cells(&Population::default(), Unit::Percent, &people, &facts, true);
        let filter = Filter {
            unit: "Ville/Petit".into(),
            ..Filter::default()
        };
        let b = breakdown(&cells, &filter, Dimension::Sex, Unit::Percent, 5);
        assert_eq!(b.total.people, Some(5));
        let women = b.lines.iter().find(|l| l.label == "Femmes").unwrap();
        let men = b.lines.iter().find(|l| l.label == "Hommes").unwrap();
        assert!(women.suppressed && men.suppressed);
        assert_eq!(women.shown, "< 5");
        // By unit over the whole city: the small unit is hidden, and so is a second line,
        // so that the city's total minus the big unit does not give it back.
        let city = breakdown(
            &cells,
            &Filter::default(),
            Dimension::Unit,
            Unit::Percent,
            5,
        );
        assert_eq!(city.lines.len(), 1, "{city:?}");
        assert_eq!(city.total.people, Some(37));
        let by_unit = breakdown(
            &cells,
            &Filter {
                unit: "Ville".into(),
                ..Filter::default()
            },
            Dimension::Unit,
            Unit::Percent,
            5,
        );
        // Mini (2) is hidden, and Petit (5), the smallest other line, with it.
        let hidden: Vec<&str> = by_unit
            .lines
            .iter()
            .filter(|l| l.suppressed)
            .map(|l| l.label.as_str())
            .collect();
        assert_eq!(hidden, ["Ville/Mini", "Ville/Petit"], "{by_unit:?}");
    }

    #[test]
    fn a_total_below_the_threshold_hides_everything() {
        let people: Vec<Profile> = (0..3).map(|_| person("Ville/Mini", "F")).collect();
        let facts = HashMap::new();
        let cells = cells(&Population::default(), Unit::Percent, &people, &facts, true);
        let b = breakdown(&cells, &Filter::default(), Dimension::Sex, Unit::Percent, 5);
        assert!(b.total.suppressed);
        assert!(b.lines.iter().all(|l| l.suppressed || l.people == Some(0)));
    }

    #[test]
    fn values_read_the_french_way() {
        assert_eq!(Unit::Percent.format(42.54), "42,5 %");
        assert_eq!(Unit::Count.format(12.0), "12");
        assert_eq!(Unit::Mean.format(71.25), "71,3");
    }

    #[test]
    fn manual_periods_are_years_or_months() {
        assert_eq!(period_end("2025").unwrap(), d("2025-12-31"));
        assert_eq!(period_end("2026-02").unwrap(), d("2026-02-28"));
        assert!(period_end("2026-13").is_err());
        assert!(period_end("l'an dernier").is_err());
        assert!(check_manual(120.0, 0.0, 100.0).is_err());
        assert!(check_manual(12.5, -100.0, 100.0).is_ok());
    }

    #[test]
    fn populations_narrow_by_audience_staff_and_category() {
        let mut p = person("Ville/A", "F");
        let pop = Population {
            audiences: vec![Audience::Encadrement],
            managers_only: false,
            staff: "city".into(),
            categories: vec![],
        };
        assert!(!pop.includes(&p));
        p.audiences.push(Audience::Encadrement);
        assert!(pop.includes(&p));
        p.partner = "Association".into();
        assert!(!pop.includes(&p));
        let managers = Population {
            managers_only: true,
            staff: "all".into(),
            ..Population::default()
        };
        let mut q = person("Ville/A", "M");
        assert!(!managers.includes(&q));
        q.manages = true;
        assert!(managers.includes(&q));
    }
}
