//! Sign-in and sign-out: city sign-in (OIDC), partner e-mail links, and the debug-only
//! development sign-in.

use std::net::IpAddr;
use std::time::Duration;

use rocket::form::{Form, FromForm};
use rocket::http::{Cookie, CookieJar, SameSite};
use rocket::response::Redirect;
use rocket::{get, post, routes, Route, State};
use serde_json::json;

use super::links::{self, LinkRefusal};
use super::oidc::{LoginState, Oidc, LOGIN_STATE_MINUTES};
use super::ratelimit::RateLimiter;
use super::{close_session, open_session, safe_next, CurrentUser, UserCache};
use crate::audit::{self, Event, Kind};
use crate::config::{Config, DEV_LOGIN};
use crate::db::Db;
use crate::error::{Error, Result};
use crate::ids::Id;
use crate::people::store::{self, OidcUpsert};
use crate::people::DEMO_PEOPLE;
use crate::views::Page;

/// The login-state cookie lives under `/auth/oidc` only, so it takes the `__Secure-`
/// prefix (`__Host-` requires the path `/`).
fn login_state_cookie() -> &'static str {
    if super::secure_cookies() {
        "__Secure-reperes_oidc"
    } else {
        "reperes_oidc"
    }
}

pub fn routes() -> Vec<Route> {
    let mut r = routes![
        login_page,
        logout,
        logout_everywhere,
        request_link,
        link_page,
        use_link,
        oidc_login,
        oidc_callback,
        super::csrf::rejected,
        super::csrf::rejected_api,
        crate::admission::busy,
        crate::admission::busy_api
    ];
    if DEV_LOGIN {
        r.extend(routes![dev_login]);
    }
    r
}

fn limited(limiter: &RateLimiter, key: String, max: u32, minutes: u64) -> Result<()> {
    limiter.check(
        &key,
        max,
        Duration::from_secs(minutes * 60),
        "Trop de tentatives de connexion depuis votre poste ou pour cette adresse. Patientez un quart d'heure avant de réessayer.",
    )
}

fn client_key(ip: Option<IpAddr>) -> String {
    ip.map(|i| i.to_string())
        .unwrap_or_else(|| "inconnu".into())
}

#[get("/connexion?<next>&<envoye>")]
async fn login_page(
    next: Option<&str>,
    envoye: Option<bool>,
    user: Option<CurrentUser>,
    oidc: &State<Option<Oidc>>,
) -> Result<Page> {
    let demo: Vec<_> = if DEV_LOGIN {
        DEMO_PEOPLE
            .iter()
            .map(|p| json!({ "email": p.email, "name": p.name, "role": p.role.label(), "description": p.description }))
            .collect()
    } else {
        vec![]
    };
    Ok(Page::new(
        "auth/login",
        "Connexion",
        user.as_ref().map(|u| &u.0),
        json!({
            "demo": demo,
            "next": safe_next(next),
            "oidc": oidc.is_some(),
            "link_sent": envoye.unwrap_or(false),
            "link_minutes": links::VALIDITY_MINUTES,
            "mailbox": crate::notifications::routes::DEV_MAILBOX,
        }),
    ))
}

#[derive(FromForm)]
struct DevLogin<'r> {
    email: &'r str,
    next: Option<&'r str>,
}

/// Development sign-in: debug builds only (and the benchmark build). Signs in as a demo
/// person by e-mail.
#[post("/auth/dev", data = "<form>")]
async fn dev_login(
    db: &State<Db>,
    cookies: &CookieJar<'_>,
    limiter: &State<RateLimiter>,
    ip: Option<IpAddr>,
    form: std::result::Result<Form<DevLogin<'_>>, rocket::form::Errors<'_>>,
) -> Result<Redirect> {
    let form = form.map_err(|_| {
        Error::BadRequest("Le formulaire de connexion doit contenir le champ « email ».".into())
    })?;
    limited(limiter, format!("dev:{}", client_key(ip)), 300, 1)?;
    // Demo accounts only (created by the demo seed, never linked to the directory or the
    // city's sign-in): not an imported agent, a partner or an administrator of the real
    // directory, whatever else this database holds.
    let found = match store::find_by_email(db, form.email).await? {
        Some(user) if store::is_demo_account(db, user.id).await? => Some(user),
        _ => None,
    };
    let Some(user) = found else {
        audit::store::record(
            db,
            Event::by(None, Kind::SignInFailed, form.email)
                .details("développement : adresse inconnue")
                .client(ip),
        )
        .await?;
        return Err(Error::Unprocessable(format!(
            "La connexion de développement n'ouvre que les comptes de démonstration ; « {} » n'en est pas un.",
            form.email
        )));
    };
    open_session(db, cookies, &user).await?;
    audit::store::record(
        db,
        Event::by(Some(&user), Kind::SignIn, &user.email)
            .details("connexion de développement")
            .client(ip),
    )
    .await?;
    Ok(Redirect::to(safe_next(form.next).to_string()))
}

#[post("/auth/deconnexion")]
async fn logout(
    db: &State<Db>,
    cookies: &CookieJar<'_>,
    cache: &State<UserCache>,
    user: Option<CurrentUser>,
    ip: Option<IpAddr>,
) -> Result<Redirect> {
    close_session(db, cookies, cache).await?;
    if let Some(CurrentUser(u)) = user {
        audit::store::record(db, Event::by(Some(&u), Kind::SignOut, &u.email).client(ip)).await?;
    }
    Ok(Redirect::to("/connexion"))
}

/// Ends every session of the signed-in person, on every device.
#[post("/auth/deconnexion-partout")]
async fn logout_everywhere(
    db: &State<Db>,
    cookies: &CookieJar<'_>,
    cache: &State<UserCache>,
    user: CurrentUser,
    ip: Option<IpAddr>,
) -> Result<Redirect> {
    let u = user.0;
    let ended = super::sessions::end_all(
        db,
        u.id,
        crate::db::now(),
        super::sessions::EndReason::LogoutEverywhere,
    )
    .await?;
    cache.forget_user(u.id);
    cookies.remove_private(Cookie::build(super::session_cookie()).path("/"));
    audit::store::record(
        db,
        Event::by(Some(&u), Kind::SignOut, &u.email)
            .details(format!("partout ({ended} session(s))"))
            .client(ip),
    )
    .await?;
    Ok(Redirect::to("/connexion"))
}

#[derive(FromForm)]
struct LinkRequest<'r> {
    email: &'r str,
}

/// Sends a one-time link to a partner's address. The answer is the same whether the
/// address is known or not.
#[post("/connexion/lien", data = "<form>")]
async fn request_link(
    db: &State<Db>,
    config: &State<Config>,
    limiter: &State<RateLimiter>,
    ip: Option<IpAddr>,
    form: std::result::Result<Form<LinkRequest<'_>>, rocket::form::Errors<'_>>,
) -> Result<Redirect> {
    let form =
        form.map_err(|_| Error::BadRequest("Indiquez votre adresse électronique.".into()))?;
    let email = form.email.trim().to_lowercase();
    if email.is_empty() || !email.contains('@') || email.len() > 254 {
        return Err(Error::Unprocessable(
            "Indiquez une adresse électronique complète, par exemple prenom.nom@association.fr."
                .into(),
        ));
    }
    limited(limiter, format!("link-client:{}", client_key(ip)), 10, 15)?;
    limited(limiter, format!("link-address:{email}"), 3, 15)?;
    // Partner staff only: city staff sign in with the city's account.
    if let Some(user) = store::find_by_email(db, &email)
        .await?
        .filter(|u| u.partner_id.is_some())
    {
        links::send(db, &user, &config.public_url, ip).await?;
    }
    Ok(Redirect::to("/connexion?envoye=true"))
}

/// The link from the e-mail opens a confirmation page; only its button uses the link, so
/// that a mail scanner fetching the URL does not spend it.
#[get("/connexion/lien/<token>")]
fn link_page(token: &str) -> Page {
    Page::new(
        "auth/link",
        "Confirmer la connexion",
        None,
        json!({ "token": token }),
    )
}

#[post("/connexion/lien/<token>")]
async fn use_link(
    db: &State<Db>,
    cookies: &CookieJar<'_>,
    limiter: &State<RateLimiter>,
    ip: Option<IpAddr>,
    token: &str,
) -> Result<Redirect> {
    limited(limiter, format!("link-use:{}", client_key(ip)), 20, 15)?;
    let refusal = match links::consume(db, token).await? {
        Ok(user_id) => match store::find(db, user_id).await? {
            Some(user) => {
                open_session(db, cookies, &user).await?;
                audit::store::record(
                    db,
                    Event::by(Some(&user), Kind::SignIn, &user.email)
                        .details("lien de connexion")
                        .client(ip),
                )
                .await?;
                return Ok(Redirect::to("/modules"));
            }
            None => "Ce compte n'est plus actif.",
        },
        Err(LinkRefusal::Used) => "Ce lien a déjà servi. Demandez un nouveau lien de connexion.",
        Err(LinkRefusal::Expired) => {
            "Ce lien a expiré (il est valable 15 minutes). Demandez un nouveau lien de connexion."
        }
        Err(LinkRefusal::Unknown) => {
            "Ce lien de connexion n'est pas valide. Demandez un nouveau lien."
        }
    };
    audit::store::record(
        db,
        Event::by(None, Kind::SignInFailed, "lien de connexion")
            .details(refusal)
            .client(ip),
    )
    .await?;
    Err(Error::ForbiddenWith(refusal.into()))
}

#[get("/auth/oidc/login?<next>")]
async fn oidc_login(
    oidc: &State<Option<Oidc>>,
    cookies: &CookieJar<'_>,
    limiter: &State<RateLimiter>,
    ip: Option<IpAddr>,
    next: Option<&str>,
) -> Result<Redirect> {
    let Some(oidc) = oidc.inner() else {
        return Err(Error::NotFound(
            "La connexion par le compte de la Ville n'est pas configurée.".into(),
        ));
    };
    limited(limiter, format!("oidc:{}", client_key(ip)), 60, 1)?;
    let (url, state) = oidc.start(safe_next(next)).await.map_err(|e| {
        tracing::warn!(error = %crate::audit::log_safe(&e.to_string()), "oidc sign-in refused");
        Error::Unavailable(e.public_message().into())
    })?;
    let value = serde_json::to_string(&state).map_err(|e| Error::Internal(e.to_string()))?;
    // Lax, not Strict: the browser must send it back on the provider's redirect.
    cookies.add_private(
        Cookie::build((login_state_cookie(), value))
            .http_only(true)
            .secure(super::secure_cookies())
            .same_site(SameSite::Lax)
            .path("/auth/oidc")
            .max_age(rocket::time::Duration::minutes(LOGIN_STATE_MINUTES)),
    );
    Ok(Redirect::to(url))
}

#[allow(clippy::too_many_arguments)]
#[get("/auth/oidc/callback?<code>&<state>&<error>")]
async fn oidc_callback(
    db: &State<Db>,
    oidc: &State<Option<Oidc>>,
    cookies: &CookieJar<'_>,
    cache: &State<UserCache>,
    ip: Option<IpAddr>,
    code: Option<&str>,
    state: Option<&str>,
    error: Option<&str>,
) -> Result<Redirect> {
    let Some(oidc) = oidc.inner() else {
        return Err(Error::NotFound(
            "La connexion par le compte de la Ville n'est pas configurée.".into(),
        ));
    };
    let fail = |reason: &str| {
        Event::by(None, Kind::SignInFailed, "compte de la Ville")
            .details(reason.to_string())
            .client(ip)
    };
    // The login state is used once: removed before anything else, so a replayed callback
    // finds nothing.
    let saved = cookies
        .get_private(login_state_cookie())
        .map(|c| c.value().to_string());
    cookies.remove_private(Cookie::build(login_state_cookie()).path("/auth/oidc"));
    let login: Option<LoginState> = saved.and_then(|s| serde_json::from_str(&s).ok());
    let Some(login) = login else {
        audit::store::record(
            db,
            fail("état de connexion absent (expiré ou déjà utilisé)"),
        )
        .await?;
        return Err(Error::BadRequest("Cette demande de connexion a expiré ou a déjà été utilisée. Recommencez depuis la page de connexion.".into()));
    };
    if chrono::Utc::now().timestamp() - login.started > LOGIN_STATE_MINUTES * 60 {
        audit::store::record(db, fail("état de connexion expiré")).await?;
        return Err(Error::BadRequest(
            "Cette demande de connexion a expiré. Recommencez depuis la page de connexion.".into(),
        ));
    }
    if state != Some(login.state.as_str()) {
        audit::store::record(db, fail("paramètre state différent")).await?;
        return Err(Error::BadRequest("Cette réponse de connexion ne correspond pas à votre demande. Recommencez depuis la page de connexion.".into()));
    }
    if let Some(error) = error {
        audit::store::record(db, fail(&format!("refus du fournisseur : {error}"))).await?;
        let message = if error == "access_denied" {
            "La connexion a été refusée ou annulée sur la page du compte de la Ville. Vous pouvez recommencer quand vous voulez."
        } else {
            "Le service de connexion de la Ville a refusé la demande. Recommencez ; si le problème persiste, prévenez l'administrateur."
        };
        return Err(Error::ForbiddenWith(message.into()));
    }
    let Some(code) = code else {
        audit::store::record(db, fail("réponse sans code")).await?;
        return Err(Error::BadRequest(
            "La réponse du service de connexion est incomplète. Recommencez.".into(),
        ));
    };
    let identity = match oidc.finish(&login, code).await {
        Ok(i) => i,
        Err(e) => {
            tracing::warn!(error = %crate::audit::log_safe(&e.to_string()), "oidc sign-in refused");
            audit::store::record(db, fail(&e.to_string())).await?;
            return Err(match e {
                super::oidc::OidcError::ProviderDown(_) => {
                    Error::Unavailable(e.public_message().into())
                }
                _ => Error::ForbiddenWith(e.public_message().into()),
            });
        }
    };
    let role = oidc.role_for(&identity.groups);
    match store::upsert_oidc(
        db,
        &identity.subject,
        identity.email.as_deref(),
        identity.email_verified,
        identity.name.as_deref(),
        role,
    )
    .await?
    {
        OidcUpsert::NotLinkable => {
            audit::store::record(
                db,
                fail(&format!(
                    "adresse non rattachable ({}) : {}",
                    if identity.email_verified {
                        "pas une fiche de l'annuaire"
                    } else {
                        "non vérifiée par le fournisseur"
                    },
                    identity.subject
                )),
            )
            .await?;
            Err(Error::ForbiddenWith("Votre compte de la Ville n'a pas pu être rattaché à votre fiche Repères : l'adresse électronique n'est pas vérifiée par le fournisseur d'identité ou appartient à un autre compte. Adressez-vous à la direction des ressources humaines.".into()))
        }
        OidcUpsert::Inactive => {
            audit::store::record(
                db,
                fail(&format!("compte désactivé : {}", identity.subject)),
            )
            .await?;
            Err(Error::ForbiddenWith("Votre compte Repères est désactivé. Adressez-vous à la direction des ressources humaines.".into()))
        }
        OidcUpsert::SignedIn(user, old_role) => {
            if let Some(old) = old_role {
                audit::store::record(
                    db,
                    Event::by(None, Kind::RoleChange, &user.email)
                        .details(format!(
                            "{old} → {} (groupes du compte de la Ville)",
                            user.role.code()
                        ))
                        .client(ip),
                )
                .await?;
                // A role that changes ends the person's other sessions.
                super::sessions::end_all(
                    db,
                    user.id,
                    crate::db::now(),
                    super::sessions::EndReason::RoleChanged,
                )
                .await?;
                cache.forget_user(user.id);
            }
            open_session(db, cookies, &user).await?;
            audit::store::record(
                db,
                Event::by(Some(&user), Kind::SignIn, &user.email)
                    .details("compte de la Ville")
                    .client(ip),
            )
            .await?;
            Ok(Redirect::to(login.next))
        }
    }
}

// ---- API tokens (admins) ----

pub fn token_routes() -> Vec<Route> {
    routes![tokens_page, create_token, revoke_token]
}

#[get("/admin/jetons")]
async fn tokens_page(db: &State<Db>, admin: super::Admin) -> Result<Page> {
    let tokens: Vec<_> = super::tokens::list(db)
        .await?
        .into_iter()
        .map(|t| {
            let scope = super::tokens::TokenScope::parse(&t.scope)
                .map(|s| s.label())
                .unwrap_or("?");
            json!({ "id": t.id, "name": t.name, "scope": scope, "created_at": t.created_at,
                    "revoked_at": t.revoked_at, "last_used_at": t.last_used_at })
        })
        .collect();
    Ok(Page::new(
        "admin/tokens",
        "Jetons d'API",
        Some(&admin.0),
        json!({ "tokens": tokens, "created": null }),
    ))
}

#[derive(FromForm)]
struct NewToken<'r> {
    name: &'r str,
    scope: &'r str,
}

#[post("/admin/jetons", data = "<form>")]
async fn create_token(
    db: &State<Db>,
    admin: super::Admin,
    ip: Option<IpAddr>,
    form: std::result::Result<Form<NewToken<'_>>, rocket::form::Errors<'_>>,
) -> Result<Page> {
    let form =
        form.map_err(|_| Error::BadRequest("Indiquez le nom et la portée du jeton.".into()))?;
    let scope = super::tokens::TokenScope::parse(form.scope)
        .ok_or_else(|| Error::Unprocessable(format!("Portée inconnue : « {} ».", form.scope)))?;
    let (_, token) = super::tokens::create(db, form.name, scope, Some(&admin.0), ip).await?;
    Ok(Page::new(
        "admin/token_created",
        "Jeton d'API créé",
        Some(&admin.0),
        json!({ "name": form.name.trim(), "scope": scope.label(), "token": token }),
    ))
}

#[post("/admin/jetons/<id>/revoquer")]
async fn revoke_token(
    db: &State<Db>,
    admin: super::Admin,
    ip: Option<IpAddr>,
    id: Id,
) -> Result<Redirect> {
    if !super::tokens::revoke(db, id.0, &admin.0, ip).await? {
        return Err(Error::NotFound(
            "Ce jeton n'existe pas ou est déjà révoqué.".into(),
        ));
    }
    Ok(Redirect::to("/admin/jetons"))
}
