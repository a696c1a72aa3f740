//! People: roles and what each may see (`Visibility`), the people search (`PeopleQuery`),
//! org units, partner organisations and the demo data. SQL in `store.rs`; the directory
//! import in `import.rs` (parse and plan, pure) and `directory.rs` (run); pages and API in
//! `routes.rs`.

pub mod directory;
pub mod flow;
pub mod import;
pub mod routes;
pub mod store;

use serde::Serialize;
use uuid::Uuid;

use crate::catalog::Audience;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Learner,
    Manager,
    Hr,
    Trainer,
    PartnerReferent,
    Admin,
}

/// Read straight from a row (`#[sqlx(try_from = "String")]`): an unknown code is an error.
impl TryFrom<String> for Role {
    type Error = String;
    fn try_from(s: String) -> Result<Role, String> {
        Role::parse(&s).ok_or_else(|| format!("unknown role {s:?}"))
    }
}

/// Where an account comes from: the HR directory, the city's sign-in (created on first
/// sign-in), a partner organisation, or the demo seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Directory,
    Oidc,
    Partner,
    Demo,
}

impl Source {
    pub fn code(self) -> &'static str {
        match self {
            Source::Directory => "directory",
            Source::Oidc => "oidc",
            Source::Partner => "partner",
            Source::Demo => "demo",
        }
    }
}

impl TryFrom<String> for Source {
    type Error = String;
    fn try_from(s: String) -> Result<Source, String> {
        [
            Source::Directory,
            Source::Oidc,
            Source::Partner,
            Source::Demo,
        ]
        .into_iter()
        .find(|x| x.code() == s)
        .ok_or_else(|| format!("unknown account source {s:?}"))
    }
}

impl Role {
    /// HR staff or an administrator: the whole directory, imports, certificate exports.
    pub fn is_hr(self) -> bool {
        matches!(self, Role::Hr | Role::Admin)
    }

    /// An administrator: roles, tokens, deliveries, jobs, every module.
    pub fn is_admin(self) -> bool {
        self == Role::Admin
    }

    /// May run shared trainings and see their attendance.
    pub fn is_trainer(self) -> bool {
        matches!(self, Role::Trainer | Role::Hr | Role::Admin)
    }

    pub const ALL: [Role; 6] = [
        Role::Learner,
        Role::Manager,
        Role::Hr,
        Role::Trainer,
        Role::PartnerReferent,
        Role::Admin,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Role::Learner => "learner",
            Role::Manager => "manager",
            Role::Hr => "hr",
            Role::Trainer => "trainer",
            Role::PartnerReferent => "partner_referent",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.code() == s)
    }

    /// The exact set of codes, for an error message.
    pub fn codes() -> String {
        Role::ALL.map(Role::code).join(", ")
    }

    pub fn label(self) -> &'static str {
        match self {
            Role::Learner => "Apprenant ou apprenante",
            Role::Manager => "Encadrant ou encadrante",
            Role::Hr => "Ressources humaines",
            Role::Trainer => "Formateur ou formatrice",
            Role::PartnerReferent => "Référent ou référente partenaire",
            Role::Admin => "Administrateur ou administratrice",
        }
    }
}

/// A person who can sign in.
#[derive(Debug, Clone)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub audiences: Vec<Audience>,
    pub org_unit_id: Option<Uuid>,
    /// Full path of the org unit ("Ville de Nancy/Direction/Service").
    pub org_path: Option<String>,
    pub partner_id: Option<Uuid>,
}

impl User {
    /// Admins see every module; everyone else, the modules of their audiences.
    pub fn sees_all_modules(&self) -> bool {
        self.role.is_admin()
    }

    /// Whose training records this person may see.
    pub fn visibility(&self) -> Visibility {
        match self.role {
            Role::Hr | Role::Admin => Visibility::All,
            Role::Manager => match &self.org_path {
                Some(path) => Visibility::OrgSubtree(path.clone()),
                None => Visibility::OnlySelf,
            },
            Role::PartnerReferent => match self.partner_id {
                Some(p) => Visibility::Partner(p),
                None => Visibility::OnlySelf,
            },
            Role::Learner | Role::Trainer => Visibility::OnlySelf,
        }
    }

    /// Whether this person may see the record of `other`.
    pub fn can_see(&self, other: &PersonRef) -> bool {
        other.id == self.id || self.visibility().covers(other)
    }
}

/// What scope checks need to know about a person.
#[derive(Debug, Clone)]
pub struct PersonRef {
    pub id: Uuid,
    pub org_path: Option<String>,
    pub partner_id: Option<Uuid>,
}

/// Which people a list shows, besides the viewer's scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ActiveFilter {
    #[default]
    Active,
    Inactive,
    All,
}

/// How a list is sorted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PeopleSort {
    #[default]
    Name,
    OrgUnit,
    /// Most modules completed first.
    Completed,
}

/// A search in the people list: the same for the page and the API.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeopleQuery {
    /// Part of a name or an e-mail, or a whole employee number.
    pub search: Option<String>,
    /// An org-unit path: that unit and the ones under it.
    pub org_unit: Option<String>,
    pub audience: Option<crate::catalog::Audience>,
    pub partner: Option<Uuid>,
    pub active: ActiveFilter,
    pub sort: PeopleSort,
}

/// The longest search text accepted.
pub const MAX_SEARCH_CHARS: usize = 100;

impl PeopleQuery {
    /// Reads the filters as typed in the page or the API (French or English words for the
    /// state and the sort); an unknown value is an error that names what is accepted.
    pub fn parse(
        search: Option<&str>,
        org_unit: Option<&str>,
        audience: Option<&str>,
        partner: Option<&str>,
        active: Option<&str>,
        sort: Option<&str>,
    ) -> Result<PeopleQuery, String> {
        fn filled(v: Option<&str>) -> Option<&str> {
            v.map(str::trim).filter(|v| !v.is_empty())
        }
        let search = filled(search).map(str::to_string);
        if search
            .as_ref()
            .is_some_and(|s| s.chars().count() > MAX_SEARCH_CHARS)
        {
            return Err(format!(
                "La recherche est limitée à {MAX_SEARCH_CHARS} caractères."
            ));
        }
        let audience = match filled(audience) {
            None => None,
            Some(a) => Some(crate::catalog::Audience::parse(a).ok_or_else(|| {
                format!(
                    "Public inconnu « {a} » : {}.",
                    crate::catalog::Audience::ALL.map(|x| x.code()).join(", ")
                )
            })?),
        };
        let partner = match filled(partner) {
            None => None,
            Some(p) => Some(
                Uuid::parse_str(p)
                    .map_err(|_| format!("Structure partenaire inconnue « {p} »."))?,
            ),
        };
        let active = match filled(active) {
            None | Some("actifs" | "active") => ActiveFilter::Active,
            Some("inactifs" | "inactive") => ActiveFilter::Inactive,
            Some("tous" | "all") => ActiveFilter::All,
            Some(other) => {
                return Err(format!(
                    "État inconnu « {other} » : actifs, inactifs ou tous."
                ))
            }
        };
        let sort = match filled(sort) {
            None | Some("nom" | "name") => PeopleSort::Name,
            Some("service" | "org_unit") => PeopleSort::OrgUnit,
            Some("modules" | "completed") => PeopleSort::Completed,
            Some(other) => {
                return Err(format!(
                    "Tri inconnu « {other} » : nom, service ou modules."
                ))
            }
        };
        Ok(PeopleQuery {
            search,
            org_unit: filled(org_unit).map(str::to_string),
            audience,
            partner,
            active,
            sort,
        })
    }
}

/// The people whose records a role may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visibility {
    All,
    /// An org unit and everything under it.
    OrgSubtree(String),
    /// The staff of one partner organisation.
    Partner(Uuid),
    OnlySelf,
}

impl Visibility {
    pub fn covers(&self, other: &PersonRef) -> bool {
        match self {
            Visibility::All => true,
            Visibility::OrgSubtree(root) => other
                .org_path
                .as_deref()
                .is_some_and(|p| in_subtree(root, p)),
            Visibility::Partner(id) => other.partner_id == Some(*id),
            Visibility::OnlySelf => false,
        }
    }
}

/// Whether org unit `path` is `root` or lies under it ("A/B" is under "A", "AB" is not).
pub fn in_subtree(root: &str, path: &str) -> bool {
    path == root || (path.starts_with(root) && path[root.len()..].starts_with('/'))
}

/// Themes of the partner map of the territorial plan.
pub const PARTNER_THEMES: &[(&str, &str)] = &[
    ("handicap", "Handicap"),
    (
        "droits_des_femmes",
        "Droits des femmes, violences faites aux femmes",
    ),
    ("lgbtqia", "LGBTQIA+"),
    ("origine", "Discriminations liées à l'origine"),
    ("lien_social", "Lien social"),
    ("jeunesse", "Jeunesse"),
    ("institutionnels", "Institutionnels"),
];

pub fn theme_label(code: &str) -> Option<&'static str> {
    PARTNER_THEMES
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, l)| *l)
}

/// Demo partner organisations, one per theme, taken from the plan's map of stakeholders.
pub const DEMO_PARTNERS: &[(&str, &str)] = &[
    ("Collectif Handicap 54", "handicap"),
    ("CIDFF", "droits_des_femmes"),
    ("Equinoxe", "lgbtqia"),
    ("La Cimade", "origine"),
    ("Centre social La Clairière", "lien_social"),
    ("La Maison des Adolescents", "jeunesse"),
    ("Cap emploi Meurthe-et-Moselle", "institutionnels"),
];

/// Demo org units (full paths; parents are created as needed).
pub const DEMO_ORG_UNITS: &[&str] = &[
    "Ville de Nancy/Direction de la citoyenneté/Accueil et état civil",
    "Ville de Nancy/Direction des ressources humaines",
    "Ville de Nancy/CCAS",
    "Ville de Nancy/Mission lutte contre les discriminations",
];

/// A demo person created on a fresh development database.
pub struct DemoPerson {
    pub email: &'static str,
    pub name: &'static str,
    pub role: Role,
    pub audiences: &'static [Audience],
    pub org_unit: Option<&'static str>,
    pub partner: Option<&'static str>,
    /// What the development sign-in page says about this person.
    pub description: &'static str,
}

/// One demo person per role and audience, so `cargo run` shows the whole service.
pub const DEMO_PEOPLE: &[DemoPerson] = &[
    DemoPerson {
        email: "camille.martin@demo.reperes.test",
        name: "Camille Martin",
        role: Role::Learner,
        audiences: &[Audience::Accueil, Audience::Tous],
        org_unit: Some("Ville de Nancy/Direction de la citoyenneté/Accueil et état civil"),
        partner: None,
        description: "Agente d'accueil, mairie de quartier",
    },
    DemoPerson {
        email: "karim.benali@demo.reperes.test",
        name: "Karim Benali",
        role: Role::Hr,
        audiences: &[Audience::Rh, Audience::Tous],
        org_unit: Some("Ville de Nancy/Direction des ressources humaines"),
        partner: None,
        description: "Chargé de recrutement, direction des ressources humaines",
    },
    DemoPerson {
        email: "sophie.nguyen@demo.reperes.test",
        name: "Sophie Nguyen",
        role: Role::Learner,
        audiences: &[Audience::Social, Audience::Tous],
        org_unit: Some("Ville de Nancy/CCAS"),
        partner: None,
        description: "Travailleuse sociale, CCAS",
    },
    DemoPerson {
        email: "jean-pierre.muller@demo.reperes.test",
        name: "Jean-Pierre Muller",
        role: Role::Manager,
        audiences: &[Audience::Encadrement, Audience::Tous],
        org_unit: Some("Ville de Nancy/Direction de la citoyenneté"),
        partner: None,
        description: "Directeur de la citoyenneté (encadre l'accueil et l'état civil)",
    },
    DemoPerson {
        email: "aicha.diallo@demo.reperes.test",
        name: "Aïcha Diallo",
        role: Role::Learner,
        audiences: &[Audience::Partenaire],
        org_unit: None,
        partner: Some("Centre social La Clairière"),
        description: "Animatrice, Centre social La Clairière (structure partenaire)",
    },
    DemoPerson {
        email: "malik.haddad@demo.reperes.test",
        name: "Malik Haddad",
        role: Role::PartnerReferent,
        audiences: &[Audience::Partenaire],
        org_unit: None,
        partner: Some("Centre social La Clairière"),
        description: "Référent formation, Centre social La Clairière",
    },
    DemoPerson {
        email: "lea.petit@demo.reperes.test",
        name: "Léa Petit",
        role: Role::Learner,
        audiences: &[Audience::Partenaire],
        org_unit: None,
        partner: Some("CIDFF"),
        description: "Juriste, CIDFF (structure partenaire)",
    },
    DemoPerson {
        email: "lucie.fontaine@demo.reperes.test",
        name: "Lucie Fontaine",
        role: Role::Trainer,
        audiences: &[Audience::Tous],
        org_unit: Some("Ville de Nancy/Mission lutte contre les discriminations"),
        partner: None,
        description: "Chargée de mission lutte contre les discriminations",
    },
    DemoPerson {
        email: "admin@demo.reperes.test",
        name: "Admin Repères",
        role: Role::Admin,
        audiences: &[Audience::Tous],
        org_unit: Some("Ville de Nancy/Mission lutte contre les discriminations"),
        partner: None,
        description: "Administratrice du service",
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    fn person(path: Option<&str>, partner: Option<Uuid>) -> PersonRef {
        PersonRef {
            id: Uuid::new_v4(),
            org_path: path.map(String::from),
            partner_id: partner,
        }
    }

    #[test]
    fn subtrees_follow_path_segments() {
        assert!(in_subtree("A/B", "A/B"));
        assert!(in_subtree("A/B", "A/B/C"));
        assert!(!in_subtree("A/B", "A/BC"));
        assert!(!in_subtree("A/B", "A"));
    }

    #[test]
    fn each_role_sees_its_scope_only() {
        let p = Uuid::new_v4();
        let v = Visibility::OrgSubtree("Ville/Citoyenneté".into());
        assert!(v.covers(&person(Some("Ville/Citoyenneté/Accueil"), None)));
        assert!(!v.covers(&person(Some("Ville/CCAS"), None)));
        assert!(!v.covers(&person(None, Some(p))));
        assert!(Visibility::Partner(p).covers(&person(None, Some(p))));
        assert!(!Visibility::Partner(p).covers(&person(None, Some(Uuid::new_v4()))));
        assert!(!Visibility::OnlySelf.covers(&person(Some("Ville"), None)));
        assert!(Visibility::All.covers(&person(None, None)));
    }
}
