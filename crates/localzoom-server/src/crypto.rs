//! Randomness and hashing: ids, access tokens, client secrets, password hashes and fingerprints.

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use crate::error::ApiError;

/// A 22-character URL-safe id, the shape of Zoom's user and account ids.
pub fn new_id() -> String {
    random_urlsafe(16)
}

/// An opaque bearer token or secret: 32 random bytes, URL-safe.
pub fn new_secret() -> String {
    random_urlsafe(32)
}

fn random_urlsafe(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    OsRng.fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

pub fn random_digits(len: usize) -> i64 {
    let mut n: i64 = 1 + (OsRng.next_u32() % 9) as i64;
    for _ in 1..len {
        n = n * 10 + (OsRng.next_u32() % 10) as i64;
    }
    n
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// HMAC-SHA256 under a server key, for values that must be compared but not stored in clear
/// (password history, page tokens).
pub fn hmac_hex(key: &[u8], parts: &[&[u8]]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts any key length");
    for part in parts {
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part);
    }
    hex(&mac.finalize().into_bytes())
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// argon2id parameters. OWASP's recommendation in production; the smallest legal ones in tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashParams {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl HashParams {
    pub const OWASP: HashParams = HashParams {
        memory_kib: 19 * 1024,
        iterations: 2,
        parallelism: 1,
    };
    pub const MINIMAL: HashParams = HashParams {
        memory_kib: 8,
        iterations: 1,
        parallelism: 1,
    };
}

/// Hashes passwords off the async workers, at most `permits` at a time, so password traffic cannot starve
/// the cheap calls (each OWASP hash holds ~19 MiB and tens of milliseconds of a core).
#[derive(Clone)]
pub struct PasswordHashing {
    params: HashParams,
    permits: Arc<Semaphore>,
}

impl PasswordHashing {
    pub fn new(params: HashParams, concurrency: usize) -> Self {
        PasswordHashing {
            params,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
        }
    }

    fn argon2(params: HashParams) -> Argon2<'static> {
        let params = Params::new(
            params.memory_kib,
            params.iterations,
            params.parallelism,
            None,
        )
        .expect("argon2 parameters are valid");
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
    }

    pub fn hash_blocking(params: HashParams, password: &str) -> Result<String, ApiError> {
        let salt = SaltString::generate(&mut OsRng);
        Self::argon2(params)
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(ApiError::internal)
    }

    pub async fn hash(&self, password: String) -> Result<String, ApiError> {
        let _permit = self.permits.acquire().await.map_err(ApiError::internal)?;
        let params = self.params;
        tokio::task::spawn_blocking(move || Self::hash_blocking(params, &password))
            .await
            .map_err(ApiError::internal)?
    }

    pub async fn verify(&self, password: String, phc: String) -> Result<bool, ApiError> {
        let _permit = self.permits.acquire().await.map_err(ApiError::internal)?;
        let params = self.params;
        tokio::task::spawn_blocking(move || {
            let parsed = PasswordHash::new(&phc).map_err(ApiError::internal)?;
            Ok(Self::argon2(params)
                .verify_password(password.as_bytes(), &parsed)
                .is_ok())
        })
        .await
        .map_err(ApiError::internal)?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_zooms_shape() {
        let id = new_id();
        assert_eq!(id.len(), 22);
        assert!(
            id.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_ne!(new_id(), id);
        assert_eq!(random_digits(10).to_string().len(), 10);
    }

    #[tokio::test]
    async fn hash_then_verify() {
        let hashing = PasswordHashing::new(HashParams::MINIMAL, 2);
        let phc = hashing.hash("Secret123".into()).await.unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(
            hashing
                .verify("Secret123".into(), phc.clone())
                .await
                .unwrap()
        );
        assert!(!hashing.verify("Secret124".into(), phc).await.unwrap());
    }
}
