//! The operator console: `/console`, a page served by this binary (assets embedded at
//! build time) that signs in with an API key kept in an `HttpOnly` cookie and then reads
//! and changes everything through the same `/api` routes, roles and checks as any client
//! (docs/console.md, docs/adr/0005-operator-console.md).
//!
//! **Boundary:** the pages hold no data; the console's JavaScript renders what `/api`
//! answers, as text (never as HTML). Requests authenticated by the cookie that change
//! something carry the page's CSRF token ([`CSRF_HEADER`], checked in [`crate::auth`]).

mod assets;
pub mod cookie;
mod pages;

pub(crate) use pages::configure;

/// The header a console request that changes something carries its CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// See [`orchestra_application::metrics_names::CONSOLE_CSRF_REFUSALS_TOTAL`].
pub const CSRF_REFUSALS_TOTAL: &str =
    orchestra_application::metrics_names::CONSOLE_CSRF_REFUSALS_TOTAL;
