//! Typed path parameters, parsed once by Rocket instead of in each handler.

use rocket::request::FromParam;
use uuid::Uuid;

/// A row id in a path. A segment that is not a UUID names no row: it reads as the nil id,
/// which no row carries, so the handler gives its usual « n'existe pas » answer (404)
/// rather than a different status that would tell ids and garbage apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Id(pub Uuid);

impl<'a> FromParam<'a> for Id {
    type Error = std::convert::Infallible;
    fn from_param(param: &'a str) -> Result<Id, Self::Error> {
        Ok(Id(Uuid::parse_str(param).unwrap_or(Uuid::nil())))
    }
}

impl std::fmt::Display for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_reads_as_the_nil_id() {
        let id = Uuid::new_v4();
        assert_eq!(Id::from_param(&id.to_string()).unwrap(), Id(id));
        assert_eq!(Id::from_param("../etc").unwrap(), Id(Uuid::nil()));
        assert_eq!(Id::from_param("").unwrap(), Id(Uuid::nil()));
    }
}
