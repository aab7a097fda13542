//! Sessions of the web console (`/_localzoom/ui`): signing in with the admin key gives a browser a session cookie,
//! and every change it asks for must carry the session's CSRF token. Kept in memory, per node: a restart signs
//! everyone out, which for an emulator's console is harmless.

use std::collections::HashMap;
use std::sync::Mutex;

use super::failures::FailureWindows;
use crate::crypto;

/// How long a session lasts after sign-in (wall-clock ms, not the server's controllable clock: advancing the
/// emulated time must not sign the console out).
pub const SESSION_MS: i64 = 12 * 60 * 60 * 1000;
/// Sessions kept at most; the oldest goes first (every sign-in needs the admin key, so this bounds memory only).
const MAX_SESSIONS: usize = 64;

#[derive(Default)]
pub struct ConsoleSessions {
    /// By the SHA-256 of the cookie's secret, so a memory dump does not hold usable cookies.
    open: Mutex<HashMap<[u8; 32], Session>>,
    /// Wrong admin keys given to the sign-in form, so the key cannot be guessed at request speed.
    wrong_keys: FailureWindows,
}

/// `wrong_keys`' one key: there is one admin key to guess.
const ADMIN_KEY: &str = "admin-key";

struct Session {
    csrf: String,
    expires_at: i64,
}

/// A signed-in browser's session: the cookie's secret, and the token its forms carry.
pub struct Opened {
    pub cookie: String,
    pub csrf: String,
}

impl ConsoleSessions {
    pub fn open(&self, now: i64) -> Opened {
        let opened = Opened {
            cookie: crypto::new_session_secret(),
            csrf: crypto::new_session_secret(),
        };
        if let Ok(mut open) = self.open.lock() {
            open.retain(|_, s| s.expires_at > now);
            if open.len() >= MAX_SESSIONS
                && let Some(oldest) = open
                    .iter()
                    .min_by_key(|(_, s)| s.expires_at)
                    .map(|(k, _)| *k)
            {
                open.remove(&oldest);
            }
            open.insert(
                crypto::sha256(opened.cookie.as_bytes()),
                Session {
                    csrf: opened.csrf.clone(),
                    expires_at: now + SESSION_MS,
                },
            );
        }
        opened
    }

    /// How long sign-in is refused for after too many wrong keys, if it is now.
    pub fn sign_in_blocked_for(&self, now: i64) -> Option<i64> {
        self.wrong_keys.blocked_for(ADMIN_KEY, now)
    }

    pub fn record_wrong_key(&self, now: i64) {
        self.wrong_keys.record_failure(ADMIN_KEY, now);
    }

    /// The CSRF token of the session `cookie` opened, while it lasts.
    pub fn csrf_of(&self, cookie: &str, now: i64) -> Option<String> {
        let open = self.open.lock().ok()?;
        open.get(&crypto::sha256(cookie.as_bytes()))
            .filter(|s| s.expires_at > now)
            .map(|s| s.csrf.clone())
    }

    pub fn close(&self, cookie: &str) {
        if let Ok(mut open) = self.open.lock() {
            open.remove(&crypto::sha256(cookie.as_bytes()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_lasts_until_it_expires_or_is_closed() {
        let sessions = ConsoleSessions::default();
        let opened = sessions.open(1_000);
        assert_eq!(
            sessions.csrf_of(&opened.cookie, 1_001),
            Some(opened.csrf.clone())
        );
        assert_eq!(sessions.csrf_of("forged", 1_001), None);
        assert_eq!(sessions.csrf_of(&opened.cookie, 1_000 + SESSION_MS), None);
        let other = sessions.open(2_000);
        sessions.close(&other.cookie);
        assert_eq!(sessions.csrf_of(&other.cookie, 2_001), None);
    }

    #[test]
    fn sessions_are_bounded() {
        let sessions = ConsoleSessions::default();
        let first = sessions.open(0);
        for n in 1..=MAX_SESSIONS as i64 {
            sessions.open(n);
        }
        assert_eq!(sessions.csrf_of(&first.cookie, 100), None);
        assert_eq!(sessions.open.lock().unwrap().len(), MAX_SESSIONS);
    }
}
