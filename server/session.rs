//! Who is asking: the `berth_session` cookie, a random secret that berth issued. The store
//! keeps its hash and the learner it belongs to, whose id (the one in Docker names and labels)
//! is random too and not derived from the cookie.
//!
//! Pages give a browser whose cookie the store does not know (none, made up, from another
//! berth, long expired) a fresh one: it is a new visitor, and gets no sandbox until it comes
//! back with that cookie. The terminal socket, the checks API and the port proxy accept only a
//! session the store knows ([`Learner`]).

use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::RngCore;

use crate::AppState;
use crate::http::client::ClientAddr;
use crate::store::KnownSession;
use crate::store::sessions::COOKIE_LIFETIME;

pub const COOKIE_NAME: &str = "berth_session";

/// A learner, as Docker names and labels know them: 12 lowercase hex digits, random.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LearnerId(String);

impl LearnerId {
    /// A fresh id; the store makes sure no learner has it yet.
    pub fn random() -> LearnerId {
        LearnerId(random_hex(6))
    }

    /// Accepts only 12 lowercase hex digits (used when reading ids back from labels).
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

/// The session secret from the request's cookies, when it has a well-formed one (64 hex
/// digits, as berth makes them). Whether berth knows it is the store's to say.
pub fn secret_from_headers(headers: &HeaderMap) -> Option<&str> {
    cookie(headers, COOKIE_NAME)
        .filter(|value| value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The learner behind a request, with a session the store knows.
#[derive(Debug, Clone)]
pub struct Learner {
    pub id: LearnerId,
    /// The browser came with a session berth knows (it has been here before).
    pub returning: bool,
    /// Where the request came from, as per-address limits count it.
    pub client: ClientAddr,
    pub(crate) session: KnownSession,
}

impl Learner {
    fn known(session: KnownSession, client: ClientAddr) -> Learner {
        Learner {
            id: session.learner.clone(),
            returning: true,
            client,
            session,
        }
    }
}

/// Without a session the store knows: 401, and what to do about it.
impl FromRequestParts<AppState> for Learner {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        if let Some(learner) = parts.extensions.get::<Learner>() {
            return Ok(learner.clone());
        }
        let Some(secret) = secret_from_headers(&parts.headers) else {
            return Err(unauthorized("no session: open a lesson page first"));
        };
        let Some(session) = state.store.find_session(secret) else {
            return Err(unauthorized(
                "berth does not know this session: reload the lesson page to get a new one",
            ));
        };
        let client = state.clients.of_request(&parts.headers, &parts.extensions);
        Ok(Learner::known(session, client))
    }
}

fn unauthorized(message: &str) -> Response {
    (StatusCode::UNAUTHORIZED, format!("{message}\n")).into_response()
}

/// `bytes` random bytes as lowercase hex.
pub fn random_hex(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buffer);
    buffer.iter().map(|b| format!("{b:02x}")).collect()
}

/// Middleware for pages: a browser without a session the store knows gets a fresh one; a
/// known session's cookie is sent again now and then so it lasts while the learner comes back.
/// The learner is then available to handlers.
pub async fn ensure_session(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let client = state
        .clients
        .of_request(request.headers(), request.extensions());
    let secret = secret_from_headers(request.headers()).map(str::to_owned);
    let known = secret
        .as_deref()
        .and_then(|secret| state.store.find_session(secret));
    let (learner, send_cookie) = match (known, secret) {
        (Some(session), Some(secret)) => {
            let send = session.refresh_cookie.then_some(secret);
            (Learner::known(session, client), send)
        }
        _ => {
            let (secret, session) = state.store.issue_session(client);
            let learner = Learner {
                returning: false,
                ..Learner::known(session, client)
            };
            (learner, Some(secret))
        }
    };
    request.extensions_mut().insert(learner.clone());
    let mut response = next.run(request).await;
    if let Some(secret) = send_cookie {
        let cookie = format!(
            "{COOKIE_NAME}={secret}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}",
            COOKIE_LIFETIME.as_secs()
        );
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(SET_COOKIE, value);
            state.store.cookie_sent(&learner.session);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learner_ids_are_random_and_well_formed() {
        let (a, b) = (LearnerId::random(), LearnerId::random());
        assert_ne!(a, b);
        assert_eq!(LearnerId::parse(a.as_str()), Some(a));
        assert_eq!(LearnerId::parse("../../etc"), None);
        assert_eq!(LearnerId::parse("ABCDEF012345"), None);
    }

    #[test]
    fn only_well_formed_session_cookies_count() {
        let mut headers = HeaderMap::new();
        let good = "b".repeat(64);
        headers.insert(
            COOKIE,
            format!("theme=dark; {COOKIE_NAME}={good}").parse().unwrap(),
        );
        assert_eq!(secret_from_headers(&headers), Some(good.as_str()));
        headers.insert(COOKIE, format!("{COOKIE_NAME}=short").parse().unwrap());
        assert_eq!(secret_from_headers(&headers), None);
    }
}
