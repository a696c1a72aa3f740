//! People and their roles. Org units, partner organisations and the directory import come
//! with the identity work; for now a person has a role and the audiences they belong to.

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

impl Role {
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
        [
            Role::Learner,
            Role::Manager,
            Role::Hr,
            Role::Trainer,
            Role::PartnerReferent,
            Role::Admin,
        ]
        .into_iter()
        .find(|r| r.code() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            Role::Learner => "Apprenant·e",
            Role::Manager => "Encadrant·e",
            Role::Hr => "Ressources humaines",
            Role::Trainer => "Formateur·rice",
            Role::PartnerReferent => "Référent·e partenaire",
            Role::Admin => "Administrateur·rice",
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
}

impl User {
    /// Admins see every module; everyone else, the modules of their audiences.
    pub fn sees_all_modules(&self) -> bool {
        self.role == Role::Admin
    }
}

/// A demo person created on a fresh development database.
pub struct DemoPerson {
    pub email: &'static str,
    pub name: &'static str,
    pub role: Role,
    pub audiences: &'static [Audience],
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
        description: "Agente d'accueil, mairie de quartier",
    },
    DemoPerson {
        email: "karim.benali@demo.reperes.test",
        name: "Karim Benali",
        role: Role::Hr,
        audiences: &[Audience::Rh, Audience::Tous],
        description: "Chargé de recrutement, direction des ressources humaines",
    },
    DemoPerson {
        email: "sophie.nguyen@demo.reperes.test",
        name: "Sophie Nguyen",
        role: Role::Learner,
        audiences: &[Audience::Social, Audience::Tous],
        description: "Travailleuse sociale, CCAS",
    },
    DemoPerson {
        email: "jean-pierre.muller@demo.reperes.test",
        name: "Jean-Pierre Muller",
        role: Role::Manager,
        audiences: &[Audience::Encadrement, Audience::Tous],
        description: "Chef de service, état civil",
    },
    DemoPerson {
        email: "aicha.diallo@demo.reperes.test",
        name: "Aïcha Diallo",
        role: Role::Learner,
        audiences: &[Audience::Partenaire],
        description: "Salariée d'une association partenaire",
    },
    DemoPerson {
        email: "lucie.fontaine@demo.reperes.test",
        name: "Lucie Fontaine",
        role: Role::Trainer,
        audiences: &[Audience::Tous],
        description: "Chargée de mission lutte contre les discriminations",
    },
    DemoPerson {
        email: "admin@demo.reperes.test",
        name: "Admin Repères",
        role: Role::Admin,
        audiences: &[Audience::Tous],
        description: "Administratrice du service",
    },
];
