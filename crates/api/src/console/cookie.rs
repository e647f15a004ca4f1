//! The console's cookies: read from the `Cookie` header, written as `Set-Cookie` values.
//!
//! Two fixed names with values Orchestra makes itself (an API key, a random nonce), so a
//! split on `;` and `=` reads them; actix-web's `cookies` feature would add the `cookie`
//! and `time` crates for no more than that.

use actix_web::http::header::{self, HeaderMap};

/// Holds the API key the operator signed in with.
pub const SESSION_COOKIE: &str = "orchestra_console";
/// Holds the sign-in form's nonce (login CSRF).
pub const LOGIN_COOKIE: &str = "orchestra_login";
/// How long a console sign-in lasts, in seconds (12 h).
pub const SESSION_MAX_AGE_SECS: u32 = 12 * 3600;

/// The value of cookie `name`, if the request has it (non-empty).
pub fn get(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().trim_matches('"').to_owned())
        .filter(|v| !v.is_empty())
}

/// The API key of a browser signed in to the console.
pub fn console_key(headers: &HeaderMap) -> Option<String> {
    get(headers, SESSION_COOKIE)
}

/// A `Set-Cookie` value: `HttpOnly`, `SameSite=Strict`, and `Secure` unless `secure` is
/// off (Development on plain HTTP). `max_age` 0 deletes the cookie.
pub fn set(name: &str, value: &str, path: &str, max_age: u32, secure: bool) -> String {
    format!(
        "{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    #[test]
    fn reads_the_named_cookie_among_others_and_writes_strict_ones() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; orchestra_console=orch_abc ; b=2"),
        );
        assert_eq!(console_key(&h).as_deref(), Some("orch_abc"));
        assert_eq!(get(&h, "orchestra_login"), None);
        h.append(header::COOKIE, HeaderValue::from_static("orchestra_login="));
        assert_eq!(get(&h, "orchestra_login"), None, "empty is absent");
        let c = set(SESSION_COOKIE, "k", "/", 60, true);
        assert_eq!(
            c,
            "orchestra_console=k; Path=/; Max-Age=60; HttpOnly; SameSite=Strict; Secure"
        );
        assert!(!set(SESSION_COOKIE, "k", "/", 60, false).contains("Secure"));
    }
}
