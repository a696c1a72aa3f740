//! The one error type of the service: a clear French message and the right status, never
//! a stack trace. How it is answered (a JSON body under `/api/`, an HTML page elsewhere)
//! belongs to `views.rs`.

use rocket::http::Status;
use rocket::request::Request;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unprocessable(String),
    #[error("{0}")]
    Conflict(String),
    #[error("Vous devez vous connecter pour accéder à cette page.")]
    Unauthorized,
    #[error("Vous n'avez pas accès à cette ressource.")]
    Forbidden,
    #[error("{0}")]
    ForbiddenWith(String),
    #[error("Ce formulaire a expiré ou ne vient pas de Repères (jeton de sécurité absent ou invalide). Rechargez la page et recommencez.")]
    CsrfRejected,
    #[error("{0}")]
    TooManyRequests(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("{0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn status(&self) -> Status {
        match self {
            Error::NotFound(_) => Status::NotFound,
            Error::BadRequest(_) => Status::BadRequest,
            Error::Unprocessable(_) => Status::UnprocessableEntity,
            Error::Conflict(_) => Status::Conflict,
            Error::Unauthorized => Status::Unauthorized,
            Error::Forbidden | Error::ForbiddenWith(_) | Error::CsrfRejected => Status::Forbidden,
            Error::TooManyRequests(_) => Status::TooManyRequests,
            Error::Unavailable(_) => Status::ServiceUnavailable,
            Error::Database(_) | Error::Internal(_) => Status::InternalServerError,
        }
    }

    /// The message shown to the user: internal details stay in the log.
    pub fn public_message(&self) -> String {
        match self {
            Error::Database(_) | Error::Internal(_) => {
                "Une erreur interne est survenue. Réessayez dans un instant.".into()
            }
            other => other.to_string(),
        }
    }
}

/// True for requests answered in JSON.
pub fn wants_json(req: &Request<'_>) -> bool {
    let path = req.uri().path();
    path == "/api" || path.starts_with("/api/") || path == "/healthz"
}

/// A JSON request body that could not be read (400) or parsed (422), in French.
pub fn json_body(e: rocket::serde::json::Error<'_>) -> Error {
    match e {
        rocket::serde::json::Error::Io(e) => Error::BadRequest(format!("corps illisible : {e}")),
        rocket::serde::json::Error::Parse(_, e) => {
            Error::Unprocessable(format!("JSON invalide : {e}."))
        }
    }
}
