//! Who is asking: the `berth_session` cookie. Every page sets it when the browser has none; the
//! terminal socket requires it. The cookie is a random secret; the learner id that appears in
//! Docker names and labels is derived from it, so the secret itself never leaves berth.

use axum::extract::{FromRequestParts, Request};
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use rand::RngCore;
use sha2::{Digest, Sha256};

pub const COOKIE_NAME: &str = "berth_session";

/// Cookies last a week; the sandbox behind them lives much shorter.
const COOKIE_MAX_AGE_SECS: u64 = 7 * 24 * 3600;

/// A learner, as Docker names and labels know them: 12 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LearnerId(String);

impl LearnerId {
    /// The learner a session secret belongs to.
    pub fn from_secret(secret: &str) -> LearnerId {
        let digest = Sha256::digest(format!("berth-learner:{secret}").as_bytes());
        let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
        LearnerId(hex)
    }

    /// Accepts only what [`LearnerId::from_secret`] produces (used when reading labels back).
    pub fn parse(text: &str) -> Option<LearnerId> {
        let valid =
            text.len() == 12 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        valid.then(|| LearnerId(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for LearnerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The value of the cookie `name` in a request, if it sent one.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(found, _)| *found == name)
        .map(|(_, value)| value.trim())
}

/// The session secret from the request's cookies, when it has a well-formed one.
pub fn secret_from_headers(headers: &HeaderMap) -> Option<String> {
    cookie(headers, COOKIE_NAME)
        .filter(|value| value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_owned)
}

/// The learner behind a request; pages always have one (the middleware makes it).
#[derive(Debug, Clone)]
pub struct Learner {
    pub id: LearnerId,
    /// The browser came with its session cookie (it has been here before).
    pub returning: bool,
}

impl<S: Send + Sync> FromRequestParts<S> for Learner {
    type Rejection = StatusCode;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        if let Some(learner) = parts.extensions.get::<Learner>() {
            return Ok(learner.clone());
        }
        secret_from_headers(&parts.headers)
            .map(|secret| Learner {
                id: LearnerId::from_secret(&secret),
                returning: true,
            })
            .ok_or(StatusCode::UNAUTHORIZED)
    }
}

/// `bytes` random bytes as lowercase hex.
pub fn random_hex(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buffer);
    buffer.iter().map(|b| format!("{b:02x}")).collect()
}

fn new_secret() -> String {
    random_hex(32)
}

/// Middleware for pages: gives a browser without a session one, and makes the learner
/// available to handlers.
pub async fn ensure_session(mut request: Request, next: Next) -> Response {
    let existing = secret_from_headers(request.headers());
    let secret = existing.clone().unwrap_or_else(new_secret);
    request.extensions_mut().insert(Learner {
        id: LearnerId::from_secret(&secret),
        returning: existing.is_some(),
    });
    let mut response = next.run(request).await;
    if existing.is_none() {
        let cookie = format!(
            "{COOKIE_NAME}={secret}; Path=/; HttpOnly; SameSite=Lax; Max-Age={COOKIE_MAX_AGE_SECS}"
        );
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(SET_COOKIE, value);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learner_ids_are_stable_and_do_not_reveal_the_secret() {
        let secret = "a".repeat(64);
        let id = LearnerId::from_secret(&secret);
        assert_eq!(id, LearnerId::from_secret(&secret));
        assert_eq!(id.as_str().len(), 12);
        assert!(!secret.contains(id.as_str()));
        assert_eq!(LearnerId::parse(id.as_str()), Some(id));
        assert_eq!(LearnerId::parse("../../etc"), None);
    }

    #[test]
    fn only_well_formed_session_cookies_count() {
        let mut headers = HeaderMap::new();
        let good = "b".repeat(64);
        headers.insert(
            COOKIE,
            format!("theme=dark; {COOKIE_NAME}={good}").parse().unwrap(),
        );
        assert_eq!(secret_from_headers(&headers), Some(good));
        headers.insert(COOKIE, format!("{COOKIE_NAME}=short").parse().unwrap());
        assert_eq!(secret_from_headers(&headers), None);
    }
}
