//! The console's files, embedded at build time: no CDN, no Node build step.

/// The page shell (`/console`).
pub const INDEX_HTML: &str = include_str!("../../console/index.html");
/// The sign-in page (`/console/login`), with `{{nonce}}` and `{{error}}` to fill.
pub const LOGIN_HTML: &str = include_str!("../../console/login.html");

/// A file under `/console/assets/`: its bytes and content type.
pub fn asset(name: &str) -> Option<(&'static str, &'static str)> {
    match name {
        "console.js" => Some((
            include_str!("../../console/console.js"),
            "text/javascript; charset=utf-8",
        )),
        "console.css" => Some((
            include_str!("../../console/console.css"),
            "text/css; charset=utf-8",
        )),
        _ => None,
    }
}
