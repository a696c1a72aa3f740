//! Use cases of people shared by pages and API: who may see whom, the search, a person's
//! record, role changes, the lists for HR and machine clients. Handlers call these only.

use std::net::IpAddr;

use serde::Serialize;
use uuid::Uuid;

use super::store::{self, OrgUnitRow, PersonRow};
use super::{PeopleQuery, Role, User, Visibility};
use crate::audit::{self, Event, Kind};
use crate::auth::tokens::TokenScope;
use crate::auth::{ApiCaller, UserCache};
use crate::db::Db;
use crate::error::{Error, Result};

/// The answer for a person who does not exist or is outside the viewer's scope: the same,
/// so that the scope reveals nothing.
pub fn not_found() -> Error {
    Error::NotFound("Cette personne n'existe pas ou ne fait pas partie de votre périmètre.".into())
}

/// A person's record, if the viewer may see it; otherwise not found.
pub async fn visible_person(db: &Db, viewer: &User, id: Uuid) -> Result<PersonRow> {
    let person = store::person(db, id).await?.ok_or_else(not_found)?;
    if !viewer.can_see(&person.person_ref()) {
        return Err(not_found());
    }
    Ok(person)
}

/// A person's record for an API caller: a token sees everyone, a person their scope.
pub async fn person_for(db: &Db, caller: &ApiCaller, id: Uuid) -> Result<PersonRow> {
    match caller {
        ApiCaller::Token(_) => store::person(db, id).await?.ok_or_else(not_found),
        ApiCaller::Person(u) => visible_person(db, u, id).await,
    }
}

/// The account behind a visible record.
pub async fn user_of(db: &Db, person: &PersonRow) -> Result<User> {
    store::find(db, person.id).await?.ok_or_else(not_found)
}

/// What an API caller may see of people, and who asks: a token sees everyone, a person
/// their scope (a role without one is refused).
pub fn api_visibility(caller: &ApiCaller) -> Result<(Visibility, Uuid)> {
    match caller {
        ApiCaller::Token(t) => Ok((Visibility::All, t.id)),
        ApiCaller::Person(u) if u.visibility() != Visibility::OnlySelf => {
            Ok((u.visibility(), u.id))
        }
        ApiCaller::Person(_) => Err(Error::Forbidden),
    }
}

/// HR and admins, or a token (read-write when `write`).
pub fn hr_or_token(caller: &ApiCaller, write: bool) -> Result<()> {
    match caller {
        ApiCaller::Token(t) if !write || t.scope == TokenScope::ReadWrite => Ok(()),
        ApiCaller::Token(_) => Err(Error::ForbiddenWith(
            "Ce jeton est en lecture seule.".into(),
        )),
        ApiCaller::Person(u) if u.role.is_hr() => Ok(()),
        ApiCaller::Person(_) => Err(Error::Forbidden),
    }
}

/// One page of people within a scope and a query, and how many there are in all.
pub async fn search(
    db: &Db,
    viewer: Uuid,
    visibility: &Visibility,
    query: &PeopleQuery,
    limit: i64,
    offset: i64,
) -> Result<(Vec<PersonRow>, i64)> {
    store::search_people(db, viewer, visibility, query, limit, offset).await
}

/// The org units a viewer may filter by: all for HR, their subtree for a manager.
pub async fn units_in(db: &Db, visibility: &Visibility) -> Result<Vec<String>> {
    Ok(store::org_units(db)
        .await?
        .into_iter()
        .map(|u| u.path)
        .filter(|path| match visibility {
            Visibility::OrgSubtree(root) => path == root || path.starts_with(&format!("{root}/")),
            Visibility::All => true,
            _ => false,
        })
        .collect())
}

/// A partner organisation as lists show it.
#[derive(Debug, Clone, Serialize)]
pub struct PartnerView {
    pub id: Uuid,
    pub name: String,
    pub theme: String,
    pub theme_label: Option<&'static str>,
}

/// Partner organisations, for someone who sees everyone (none otherwise).
pub async fn partners_for(db: &Db, visibility: &Visibility) -> Result<Vec<PartnerView>> {
    if !matches!(visibility, Visibility::All) {
        return Ok(Vec::new());
    }
    Ok(store::partners(db)
        .await?
        .into_iter()
        .map(|p| PartnerView {
            theme_label: super::theme_label(&p.theme),
            id: p.id,
            name: p.name,
            theme: p.theme,
        })
        .collect())
}

/// Every org unit, for HR and tokens.
pub async fn org_units(db: &Db, caller: &ApiCaller) -> Result<Vec<OrgUnitRow>> {
    hr_or_token(caller, false)?;
    store::org_units(db).await
}

/// Every partner organisation, for HR and tokens.
pub async fn partners(db: &Db, caller: &ApiCaller) -> Result<Vec<PartnerView>> {
    hr_or_token(caller, false)?;
    partners_for(db, &Visibility::All).await
}

/// Changes a person's role (admins): never demotes the last active admin; ends the
/// person's sessions (in the store's transaction) and forgets them here; audited.
#[allow(clippy::too_many_arguments)] // the change, who makes it, and what it touches
pub async fn set_role(
    db: &Db,
    cache: &UserCache,
    catalog: &crate::catalog::Catalog,
    admin: &User,
    id: Uuid,
    role: &str,
    client: Option<IpAddr>,
) -> Result<Uuid> {
    let person = visible_person(db, admin, id).await?;
    let role = Role::parse(role)
        .ok_or_else(|| Error::Unprocessable(format!("Rôle inconnu : « {role} ».")))?;
    if !role.is_admin() && store::is_last_admin(db, person.id).await? {
        return Err(Error::Conflict(
            "C'est le dernier compte administrateur actif : nommez d'abord un autre administrateur ou une autre administratrice.".into(),
        ));
    }
    let before = store::set_role(db, person.id, role).await?;
    cache.forget_user(person.id);
    if before.as_deref() != Some(role.code()) {
        audit::store::record(
            db,
            Event::by(Some(admin), Kind::RoleChange, &person.email)
                .details(format!("{} → {}", before.unwrap_or_default(), role.code()))
                .client(client),
        )
        .await?;
        // Rules may target what comes with a role; applied now, not tomorrow night.
        crate::obligations::flow::reevaluate(db, catalog, crate::db::now()).await?;
    }
    Ok(person.id)
}

/// A directory import from the page or the API: the import itself, then the assignment
/// rules applied at once to the people it created, moved or deactivated. A failure of the
/// second step leaves the import done; the nightly sweep applies the rules again.
pub async fn import(
    db: &Db,
    catalog: &crate::catalog::Catalog,
    text: &str,
    dry_run: bool,
    safeguard: super::directory::Safeguard,
    event: Event,
) -> Result<std::result::Result<super::directory::ImportReport, Vec<super::import::LineError>>> {
    let outcome = super::directory::run(db, text, dry_run, safeguard, event).await?;
    if !dry_run && outcome.is_ok() {
        if let Err(e) = crate::obligations::flow::reevaluate(db, catalog, crate::db::now()).await {
            tracing::error!(error = %e, "obligations not re-evaluated after the import");
        }
    }
    Ok(outcome)
}
