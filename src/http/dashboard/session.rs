//! The dashboard's login: a form posts an admin key; the answer sets a session cookie
//! that holds no key, only `<expiry>.<nonce>.<signature>`, the signature an
//! HMAC-SHA256 of `<expiry>.<nonce>` keyed with the admin key that logged in. Any
//! instance with the same `auth.admin_keys` accepts it; removing a key from the
//! configuration ends the sessions it opened. The cookie is `HttpOnly`,
//! `SameSite=Strict`, `Path=/dashboard`, and `Secure` when the request came over
//! HTTPS (`server.public_url` is `https://`, or a trusted proxy says
//! `X-Forwarded-Proto: https`).
//!
//! Cross-site requests: besides `SameSite=Strict`, every POST must carry an `Origin`
//! (or, without one, a `Referer`) of this server ([`same_origin`]).

use std::future::{Ready, ready};

use actix_web::cookie::{Cookie, SameSite, time};
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use super::DashboardError;
use crate::config::Secret;
use crate::state::AppState;

/// The session cookie's name.
pub const COOKIE: &str = "prc_dashboard";
/// How long a session lasts.
pub const LIFETIME: chrono::Duration = chrono::Duration::hours(12);
/// The path the cookie is sent to.
pub const PATH: &str = "/dashboard";

type HmacSha256 = Hmac<Sha256>;

fn signature(key: &Secret, message: &str) -> Option<HmacSha256> {
    let mut mac = HmacSha256::new_from_slice(key.expose().as_bytes()).ok()?;
    mac.update(b"prc-dashboard-session.");
    mac.update(message.as_bytes());
    Some(mac)
}

/// A new session value signed with `key`, valid until `now + LIFETIME`.
pub fn issue(key: &Secret, now: chrono::NaiveDateTime) -> Option<String> {
    let expires = (now + LIFETIME).and_utc().timestamp();
    let mut nonce = [0u8; 16];
    rand::rng().fill_bytes(&mut nonce);
    let message = format!("{expires}.{}", URL_SAFE_NO_PAD.encode(nonce));
    let tag = signature(key, &message)?.finalize().into_bytes();
    Some(format!("{message}.{}", URL_SAFE_NO_PAD.encode(tag)))
}

/// Whether `value` is a session signed with one of `keys` that has not expired.
pub fn verify(value: &str, keys: &[Secret], now: chrono::NaiveDateTime) -> bool {
    let Some((message, tag)) = value.rsplit_once('.') else {
        return false;
    };
    let Some(expires) = message
        .split_once('.')
        .and_then(|(e, _)| e.parse::<i64>().ok())
    else {
        return false;
    };
    if expires <= now.and_utc().timestamp() {
        return false;
    }
    let Ok(tag) = URL_SAFE_NO_PAD.decode(tag) else {
        return false;
    };
    keys.iter()
        .any(|key| signature(key, message).is_some_and(|mac| mac.verify_slice(&tag).is_ok()))
}

/// The admin key among `keys` that `candidate` is.
pub fn admin_key<'a>(keys: &'a [Secret], candidate: &str) -> Option<&'a Secret> {
    keys.iter().find(|k| k.matches(candidate))
}

/// Whether the request reached this server over HTTPS, as far as it can trust.
pub fn over_https(req: &HttpRequest, state: &AppState) -> bool {
    if state.public_url().starts_with("https://") {
        return true;
    }
    let server = &state.settings.server;
    let peer_trusted = req
        .peer_addr()
        .is_some_and(|a| server.trusted_proxies.contains(&a.ip()));
    peer_trusted
        && req
            .headers()
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

/// The session cookie holding `value` (an empty value that expires at once logs out).
pub fn cookie(value: String, secure: bool) -> Cookie<'static> {
    let mut c = Cookie::build(COOKIE, value)
        .path(PATH)
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .finish();
    if c.value().is_empty() {
        c.set_max_age(time::Duration::ZERO);
    } else {
        c.set_max_age(time::Duration::seconds(LIFETIME.num_seconds()));
    }
    c
}

/// Whether a POST comes from a page of this server: its `Origin` (else its `Referer`)
/// names the host the request was sent to, or `server.public_url`'s.
pub fn same_origin(req: &HttpRequest, state: &AppState) -> bool {
    let headers = req.headers();
    let claimed = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|v| v.to_str().ok())
        .and_then(|v| url::Url::parse(v).ok());
    let Some(claimed) = claimed else {
        return false;
    };
    let authority = |u: &url::Url| {
        u.host_str()
            .map(|h| match u.port_or_known_default() {
                Some(p) => format!("{h}:{p}"),
                None => h.to_owned(),
            })
            .map(|s| s.to_ascii_lowercase())
    };
    let Some(claimed) = authority(&claimed) else {
        return false;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(|h| {
            let scheme = if over_https(req, state) {
                "https"
            } else {
                "http"
            };
            format!("{scheme}://{h}")
        })
        .and_then(|u| url::Url::parse(&u).ok())
        .and_then(|u| authority(&u));
    let public = url::Url::parse(state.public_url())
        .ok()
        .and_then(|u| authority(&u));
    host.as_deref() == Some(claimed.as_str()) || public.as_deref() == Some(claimed.as_str())
}

/// Proof that the request carries a valid session cookie (else the pages redirect to
/// the login form).
#[derive(Debug, Clone, Copy)]
pub struct Session;

fn check(req: &HttpRequest) -> Result<Session, DashboardError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or(DashboardError::Internal)?;
    let keys = &state.settings.auth.admin_keys;
    if keys.is_empty() {
        return Err(DashboardError::Disabled);
    }
    match req.cookie(COOKIE) {
        Some(c) if verify(c.value(), keys, state.now()) => Ok(Session),
        _ => Err(DashboardError::LoginRequired),
    }
}

impl FromRequest for Session {
    type Error = DashboardError;
    type Future = Ready<Result<Session, DashboardError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(check(req))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> chrono::NaiveDateTime {
        chrono::DateTime::from_timestamp(1_800_000_000, 0)
            .map(|t| t.naive_utc())
            .unwrap_or_default()
    }

    #[test]
    fn a_session_is_valid_for_its_key_until_it_expires() {
        let (a, b) = (Secret::new("admin-a"), Secret::new("admin-b"));
        let s = issue(&a, now()).unwrap_or_default();
        assert!(!s.contains("admin-a"));
        assert!(verify(&s, &[b.clone(), a.clone()], now()));
        assert!(!verify(&s, std::slice::from_ref(&b), now()));
        let later = now() + LIFETIME;
        assert!(!verify(&s, std::slice::from_ref(&a), later));
        assert!(verify(&s, &[a], later - chrono::Duration::seconds(1)));
    }

    #[test]
    fn a_tampered_session_is_refused() {
        let key = Secret::new("admin");
        let s = issue(&key, now()).unwrap_or_default();
        let (message, tag) = s.rsplit_once('.').unwrap_or_default();
        let (_, nonce) = message.split_once('.').unwrap_or_default();
        let forged = format!("9999999999.{nonce}.{tag}");
        for bad in [forged.as_str(), "", "1.2", "x.y.z", &s[..s.len() - 2]] {
            assert!(!verify(bad, std::slice::from_ref(&key), now()), "{bad}");
        }
    }

    #[test]
    fn two_sessions_differ() {
        let key = Secret::new("admin");
        assert_ne!(issue(&key, now()), issue(&key, now()));
    }
}
