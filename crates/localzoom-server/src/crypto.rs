//! Randomness and hashing: ids, access tokens, client secrets, password hashes and fingerprints.

use std::sync::Arc;

use std::sync::{Mutex, mpsc};

use argon2::password_hash::{PasswordHash, PasswordVerifier};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use rand::RngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;

use crate::error::ApiError;

/// A 22-character URL-safe id, the shape of Zoom's user and account ids.
pub fn new_id() -> String {
    // Never starting with `-` or `_`: an id that looks like a flag trips up every command line it is pasted into.
    loop {
        let id = random_urlsafe(16);
        if id.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return id;
        }
    }
}

/// A request's tracking id: 22 URL-safe characters from the thread's generator (unique, not secret, so it need
/// not cost a system call per request).
pub fn new_tracking_id() -> String {
    let mut buf = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// An opaque bearer token or secret: 32 random bytes, URL-safe.
/// The key of the password-history fingerprints. It lives outside the database (a file, or the environment), so
/// a copied database alone cannot test password guesses against the history at SHA-256 speed.
#[derive(Clone)]
pub struct HistoryKey(Arc<[u8; 32]>);

impl HistoryKey {
    pub fn from_bytes(bytes: [u8; 32]) -> HistoryKey {
        HistoryKey(Arc::new(bytes))
    }

    pub fn bytes(&self) -> &[u8] {
        &self.0[..]
    }

    /// Reads the key from `path`, or creates the file (mode 0600) with a fresh random key if there is none.
    pub fn load_or_create(path: &std::path::Path) -> anyhow::Result<HistoryKey> {
        use std::io::Write;
        let read = |text: &str| -> anyhow::Result<HistoryKey> {
            let text = text.trim();
            let bytes: Option<Vec<u8>> = (text.len() == 64)
                .then(|| {
                    (0..32)
                        .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok())
                        .collect()
                })
                .flatten();
            let bytes: [u8; 32] = bytes.and_then(|b| b.try_into().ok()).ok_or_else(|| {
                anyhow::anyhow!(
                    "{} does not hold a password-history key (64 hex digits)",
                    path.display()
                )
            })?;
            Ok(HistoryKey::from_bytes(bytes))
        };
        match std::fs::read_to_string(path) {
            Ok(text) => return read(&text),
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                anyhow::bail!(
                    "cannot read the password-history key {}: {e}",
                    path.display()
                )
            }
            Err(_) => {}
        }
        let mut key = [0u8; 32];
        OsRng.fill_bytes(&mut key);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(path) {
            Ok(mut file) => {
                writeln!(file, "{}", hex(&key))
                    .and_then(|()| file.sync_all())
                    .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
                Ok(HistoryKey::from_bytes(key))
            }
            // Another process made it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                read(&std::fs::read_to_string(path)?)
            }
            Err(e) => anyhow::bail!(
                "cannot create the password-history key {}: {e}",
                path.display()
            ),
        }
    }
}

/// 32 random bytes, URL-safe. Never starting with `-`: a secret is passed on command lines
/// (`--client-secret SECRET`), where a leading dash reads as an option.
pub fn new_secret() -> String {
    loop {
        let secret = random_urlsafe(32);
        if !secret.starts_with('-') {
            return secret;
        }
    }
}

/// A secret drawn from the operating system even under `serve --seed`: a console session's cookie must not be
/// guessable from the seed, and drawing it must not shift the seeded sequence tests replay.
pub fn new_session_secret() -> String {
    let mut buf = [0u8; 32];
    OsRng.fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// Set once by `serve --seed N`: ids, PMIs, account numbers, secrets and tokens are then drawn from it instead
/// of the operating system, so a test run that generates them can be repeated exactly (and they can be guessed:
/// for tests only).
static SEEDED: std::sync::OnceLock<Mutex<rand::rngs::StdRng>> = std::sync::OnceLock::new();

/// Makes this process's generated values follow `seed`; false if it was seeded already.
pub fn seed_randomness(seed: u64) -> bool {
    use rand::SeedableRng;
    SEEDED
        .set(Mutex::new(rand::rngs::StdRng::seed_from_u64(seed)))
        .is_ok()
}

fn fill_random(buf: &mut [u8]) {
    match SEEDED.get() {
        Some(seeded) => seeded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .fill_bytes(buf),
        None => OsRng.fill_bytes(buf),
    }
}

fn random_urlsafe(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    fill_random(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

pub fn random_digits(len: usize) -> i64 {
    let draw = || {
        let mut bytes = [0u8; 4];
        fill_random(&mut bytes);
        i64::from(u32::from_le_bytes(bytes))
    };
    let mut n: i64 = 1 + draw() % 9;
    for _ in 1..len {
        n = n * 10 + draw() % 10;
    }
    n
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Whether `given` is the secret `expected` (the admin key, a form's CSRF token): their digests, of equal length,
/// compared in constant time, so neither the secret's length nor a matching prefix leaks.
pub fn secrets_match(given: &str, expected: &str) -> bool {
    constant_time_eq(&sha256(given.as_bytes()), &sha256(expected.as_bytes()))
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

/// Zoom's webhook signature (`x-zm-signature`): `v0=` and the hex HMAC-SHA256, keyed by the subscription's secret
/// token, of `v0:{x-zm-request-timestamp}:{body}`, as Zoom's verification samples compute it.
pub fn webhook_signature(secret_token: &str, timestamp_secs: i64, body: &str) -> String {
    let prefix = format!("v0:{timestamp_secs}:");
    format!(
        "v0={}",
        zoom_hmac_hex(secret_token, &[prefix.as_bytes(), body.as_bytes()])
    )
}

/// The `encryptedToken` an endpoint answers Zoom's URL validation with: the hex HMAC-SHA256 of the `plainToken`,
/// keyed by the secret token.
pub fn url_validation_token(secret_token: &str, plain_token: &str) -> String {
    zoom_hmac_hex(secret_token, &[plain_token.as_bytes()])
}

/// The hex HMAC-SHA256 of the message made of `parts` as they are, one after another (Zoom's way; `hmac_hex`
/// frames each part with its length instead).
fn zoom_hmac_hex(secret_token: &str, parts: &[&[u8]]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret_token.as_bytes())
        .expect("HMAC accepts any key length");
    for part in parts {
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

/// Hashes passwords on a few dedicated threads, never on the async workers, so password traffic cannot starve
/// the cheap calls. Each thread keeps its argon2 memory (~19 MiB with OWASP parameters) and reuses it: memory
/// stays bounded at `threads` blocks however many hashes run, and no hash pays for allocating it.
#[derive(Clone)]
pub struct PasswordHashing {
    jobs: mpsc::Sender<HashJob>,
    /// A hash of nothing anyone knows, made on first use, to verify against when a sign-in names nobody: the
    /// answer then takes as long as for a real user.
    decoy: Arc<tokio::sync::OnceCell<String>>,
}

enum HashJob {
    Hash(String, oneshot::Sender<Result<String, ApiError>>),
    Verify(String, String, oneshot::Sender<Result<bool, ApiError>>),
}

impl PasswordHashing {
    pub fn new(params: HashParams, threads: usize) -> Self {
        let (jobs, queue) = mpsc::channel::<HashJob>();
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..threads.max(1) {
            let queue = Arc::clone(&queue);
            let _ = std::thread::Builder::new()
                .name(format!("localzoom-argon2-{n}"))
                .spawn(move || hashing_thread(params, &queue));
        }
        PasswordHashing {
            jobs,
            decoy: Arc::default(),
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

    /// One argon2id hash in PHC form, computed in `memory` (grown to the parameters' size if needed).
    pub fn hash_with_memory(
        params: HashParams,
        password: &str,
        memory: &mut Vec<Block>,
    ) -> Result<String, ApiError> {
        memory.resize(params.memory_kib as usize, Block::default());
        let mut salt = [0u8; 16];
        OsRng.fill_bytes(&mut salt);
        let mut output = [0u8; 32];
        Self::argon2(params)
            .hash_password_into_with_memory(
                password.as_bytes(),
                &salt,
                &mut output,
                &mut memory[..],
            )
            .map_err(ApiError::internal)?;
        Ok(format!(
            "$argon2id$v=19$m={},t={},p={}${}${}",
            params.memory_kib,
            params.iterations,
            params.parallelism,
            STANDARD_NO_PAD.encode(salt),
            STANDARD_NO_PAD.encode(output)
        ))
    }

    fn verify_blocking(params: HashParams, password: &str, phc: &str) -> Result<bool, ApiError> {
        let parsed = PasswordHash::new(phc).map_err(ApiError::internal)?;
        Ok(Self::argon2(params)
            .verify_password(password.as_bytes(), &parsed)
            .is_ok())
    }

    pub async fn hash(&self, password: String) -> Result<String, ApiError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(HashJob::Hash(password, reply))
            .map_err(|_| ApiError::internal("password hashing threads stopped"))?;
        answer.await.map_err(ApiError::internal)?
    }

    /// `verify` against the decoy hash: always false, and as slow as a real verification.
    pub async fn verify_decoy(&self, password: String) -> Result<bool, ApiError> {
        let decoy = self
            .decoy
            .get_or_try_init(|| self.hash(new_secret()))
            .await?
            .clone();
        self.verify(password, decoy).await.map(|_| false)
    }

    pub async fn verify(&self, password: String, phc: String) -> Result<bool, ApiError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(HashJob::Verify(password, phc, reply))
            .map_err(|_| ApiError::internal("password hashing threads stopped"))?;
        answer.await.map_err(ApiError::internal)?
    }
}

fn hashing_thread(params: HashParams, queue: &Mutex<mpsc::Receiver<HashJob>>) {
    lower_priority();
    // Allocated on the first hash, so an idle server does not hold it.
    let mut memory = Vec::new();
    loop {
        let job = match queue.lock() {
            Ok(queue) => queue.recv(),
            Err(_) => return,
        };
        match job {
            Ok(HashJob::Hash(password, reply)) => {
                let _ = reply.send(PasswordHashing::hash_with_memory(
                    params,
                    &password,
                    &mut memory,
                ));
            }
            Ok(HashJob::Verify(password, phc, reply)) => {
                let _ = reply.send(PasswordHashing::verify_blocking(params, &password, &phc));
            }
            // Every sender is gone: the server has stopped.
            Err(_) => return,
        }
    }
}

/// Lets the kernel run request handling before hashing whenever both want a core, so password bursts do not
/// add latency to the cheap calls (the hashes still take every idle cycle).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: plain system calls on the calling thread; a failure only leaves the priority unchanged.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 10);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One secret in 64 would start with `-` and be taken for an option by `--client-secret SECRET`.
    #[test]
    fn secrets_never_start_with_a_dash() {
        for _ in 0..2_000 {
            let secret = new_secret();
            assert!(!secret.starts_with('-'), "{secret}");
            assert_eq!(secret.len(), 43);
        }
    }

    #[test]
    fn ids_have_zooms_shape() {
        let id = new_id();
        assert_eq!(id.len(), 22);
        assert!((0..200).all(|_| new_id().starts_with(|c: char| c.is_ascii_alphanumeric())));
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
