//! Public pages of the site itself: the accessibility statement.

pub mod routes;
