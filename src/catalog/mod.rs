//! Course files turned into validated, immutable modules.
//!
//! Pure code: no SQL, no HTTP. `load` reads a `courses/` folder and either returns a
//! [`Catalog`] or the full list of [`Problem`]s found (never only the first one).

mod load;
mod markdown;
pub mod typography;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use load::{load, Problem};
pub use markdown::render_markdown;

/// Job families that a module targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Audience {
    Accueil,
    Rh,
    Social,
    Partenaire,
    Encadrement,
    Tous,
}

impl Audience {
    pub const ALL: [Audience; 6] = [
        Audience::Accueil,
        Audience::Rh,
        Audience::Social,
        Audience::Partenaire,
        Audience::Encadrement,
        Audience::Tous,
    ];

    /// Identifier used in files and in the database.
    pub fn code(self) -> &'static str {
        match self {
            Audience::Accueil => "accueil",
            Audience::Rh => "rh",
            Audience::Social => "social",
            Audience::Partenaire => "partenaire",
            Audience::Encadrement => "encadrement",
            Audience::Tous => "tous",
        }
    }

    /// French label shown to users.
    pub fn label(self) -> &'static str {
        match self {
            Audience::Accueil => "Agents d'accueil",
            Audience::Rh => "Ressources humaines",
            Audience::Social => "Travail social",
            Audience::Partenaire => "Structures partenaires",
            Audience::Encadrement => "Encadrement",
            Audience::Tous => "Tous les agents",
        }
    }

    pub fn parse(code: &str) -> Option<Audience> {
        Audience::ALL.into_iter().find(|a| a.code() == code)
    }
}

impl fmt::Display for Audience {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// The modules of a course folder, in catalogue order (by slug). Cheap to clone (the
/// modules are shared).
#[derive(Debug, Default, Clone)]
pub struct Catalog {
    modules: Vec<Arc<Module>>,
    by_slug: HashMap<String, usize>,
}

impl Catalog {
    pub fn new(mut modules: Vec<Module>) -> Catalog {
        modules.sort_by(|a, b| a.slug.cmp(&b.slug));
        let by_slug = modules
            .iter()
            .enumerate()
            .map(|(i, m)| (m.slug.clone(), i))
            .collect();
        Catalog {
            modules: modules.into_iter().map(Arc::new).collect(),
            by_slug,
        }
    }

    pub fn modules(&self) -> &[Arc<Module>] {
        &self.modules
    }

    pub fn get(&self, slug: &str) -> Option<&Arc<Module>> {
        self.by_slug.get(slug).map(|&i| &self.modules[i])
    }
}

/// One training module, frozen at load time.
#[derive(Debug, Clone)]
pub struct Module {
    pub slug: String,
    pub title: String,
    pub summary: String,
    pub audiences: Vec<Audience>,
    pub territorial_axes: Vec<u8>,
    pub equality_axes: Vec<u8>,
    pub estimated_minutes: u32,
    /// Percentage needed to pass, 1..=100.
    pub pass_mark: u8,
    /// `None` means unlimited.
    pub attempts_allowed: Option<u32>,
    pub validity_months: u32,
    pub prerequisites: Vec<String>,
    pub lessons: Vec<Lesson>,
    pub quiz: Quiz,
    /// Content hash of every file of the module (first 16 hex digits of SHA-256).
    pub version: String,
}

impl Module {
    pub fn is_for(&self, audiences: &[Audience]) -> bool {
        self.audiences.contains(&Audience::Tous)
            || self.audiences.iter().any(|a| audiences.contains(a))
    }

    /// Number of questions one attempt asks.
    pub fn questions_per_attempt(&self) -> usize {
        self.quiz.pools.iter().map(|p| p.draw).sum()
    }
}

#[derive(Debug, Clone)]
pub struct Lesson {
    /// File name inside the module folder; the stable key of the lesson.
    pub file: String,
    pub title: String,
    /// Rendered, escaped HTML of the lesson body (without its title).
    pub html: String,
    /// Estimated reading time, from the word count.
    pub minutes: u32,
}

#[derive(Debug, Clone, Default)]
pub struct Quiz {
    pub pools: Vec<Pool>,
}

#[derive(Debug, Clone)]
pub struct Pool {
    pub id: String,
    pub draw: usize,
    pub questions: Vec<Question>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Single,
    Multiple,
    TrueFalse,
    Scenario,
}

impl Kind {
    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "single" => Some(Kind::Single),
            "multiple" => Some(Kind::Multiple),
            "true_false" => Some(Kind::TrueFalse),
            "scenario" => Some(Kind::Scenario),
            _ => None,
        }
    }

    /// Whether the learner may tick several options.
    pub fn is_multiple(self) -> bool {
        self == Kind::Multiple
    }
}

/// How appropriate a scenario answer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grade {
    Appropriate,
    Ambiguous,
    Discriminatory,
}

impl Grade {
    pub fn parse(s: &str) -> Option<Grade> {
        match s {
            "appropriate" => Some(Grade::Appropriate),
            "ambiguous" => Some(Grade::Ambiguous),
            "discriminatory" => Some(Grade::Discriminatory),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Grade::Appropriate => "Réponse adaptée",
            Grade::Ambiguous => "Réponse ambiguë",
            Grade::Discriminatory => "Réponse discriminatoire",
        }
    }
}

/// A question as authored. It is copied into each attempt, so its serialised form is part
/// of the stored data: add fields with `#[serde(default)]` only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Question {
    pub id: String,
    pub kind: Kind,
    pub prompt: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub situation: Option<String>,
    pub options: Vec<Choice>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    pub id: String,
    pub text: String,
    /// For scenarios: true for an appropriate answer.
    pub correct: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grade: Option<Grade>,
    pub explanation: String,
}

impl Choice {
    /// Credit in half points (2 = full credit) for this option in a scenario.
    pub fn scenario_credit(&self) -> u32 {
        match self.grade {
            Some(Grade::Appropriate) => 2,
            Some(Grade::Ambiguous) => 1,
            Some(Grade::Discriminatory) | None => 0,
        }
    }
}

/// The five axes of the territorial plan against discrimination (Ville de Nancy with the
/// ORIV, 2023), as the plan words them. Codes `T1`…`T5`.
pub const TERRITORIAL_AXES: [&str; 5] = [
    "Se fédérer autour d'engagements communs",
    "Identifier les discriminations pour agir",
    "Construire et diffuser une culture de l'égalité",
    "Soutenir et accompagner les personnes concernées",
    "Tendre à l'exemplarité en tant qu'employeur et dans les relations avec les usagers et usagères",
];

/// The five axes of the city's internal professional-equality plan (the national agreement
/// of 30 November 2018). Codes `E1`…`E5`.
pub const EQUALITY_AXES: [&str; 5] = [
    "Renforcer la gouvernance des politiques d'égalité",
    "Créer les conditions d'un égal accès aux métiers et aux responsabilités professionnelles",
    "Supprimer et prévenir les situations d'écart de rémunération et de déroulement de carrière",
    "Mieux accompagner les situations de grossesse, la parentalité et l'articulation des temps de vie professionnelle et personnelle",
    "Renforcer la prévention et la lutte contre les violences sexuelles, tout type de harcèlement et les agissements sexistes",
];

/// Every plan axis: its code (`T1`…`T5`, `E1`…`E5`) and its label.
pub fn plan_axes() -> Vec<(String, String)> {
    let t = TERRITORIAL_AXES.iter().enumerate().map(|(i, title)| {
        (
            format!("T{}", i + 1),
            format!("Plan territorial, axe {} : {title}", i + 1),
        )
    });
    let e = EQUALITY_AXES.iter().enumerate().map(|(i, title)| {
        (
            format!("E{}", i + 1),
            format!("Plan d'égalité professionnelle, axe {} : {title}", i + 1),
        )
    });
    t.chain(e).collect()
}

/// The label of an axis code (`T2`, `e5`), `None` for an unknown one.
pub fn plan_axis(code: &str) -> Option<(String, String)> {
    let code = code.trim().to_uppercase();
    plan_axes().into_iter().find(|(c, _)| *c == code)
}
