//! TLS to PostgreSQL, with rustls (ring), as libpq's `sslmode` and `sslrootcert` ask for it. Managed PostgreSQL
//! services refuse plain connections, and the `postgres` crate parses only `disable`, `prefer` and `require`, so
//! this module takes libpq's TLS parameters out of the URL first and decides what to verify itself:
//!
//! | `sslmode` | encrypted | certificate checked against the CA | host name checked |
//! |---|---|---|---|
//! | `disable` | no | | |
//! | `allow`, `prefer` (the default) | if the server offers it | no | no |
//! | `require` | yes | only if `sslrootcert` is given (as libpq does) | no |
//! | `verify-ca` | yes | yes | no |
//! | `verify-full` | yes | yes | yes |
//!
//! `sslrootcert` is a PEM file of CA certificates, or `system` for the Mozilla roots built in (libpq's word for
//! the system's store). Client certificates (`sslcert`, `sslkey`) are not supported yet, and refused as such.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio_postgres::config::SslMode;
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};

use super::client::PgClient;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// libpq's `sslmode`, all of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl TlsMode {
    const ALL: [TlsMode; 6] = [
        TlsMode::Disable,
        TlsMode::Allow,
        TlsMode::Prefer,
        TlsMode::Require,
        TlsMode::VerifyCa,
        TlsMode::VerifyFull,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TlsMode::Disable => "disable",
            TlsMode::Allow => "allow",
            TlsMode::Prefer => "prefer",
            TlsMode::Require => "require",
            TlsMode::VerifyCa => "verify-ca",
            TlsMode::VerifyFull => "verify-full",
        }
    }

    fn parse(text: &str) -> Option<TlsMode> {
        TlsMode::ALL.into_iter().find(|mode| mode.as_str() == text)
    }

    /// What the `postgres` crate is told: whether TLS may be skipped.
    fn ssl_mode(self) -> SslMode {
        match self {
            TlsMode::Disable => SslMode::Disable,
            TlsMode::Allow | TlsMode::Prefer => SslMode::Prefer,
            TlsMode::Require | TlsMode::VerifyCa | TlsMode::VerifyFull => SslMode::Require,
        }
    }
}

/// A connection string with libpq's TLS parameters taken out, and what they asked for.
pub struct TlsSettings {
    pub config: tokio_postgres::Config,
    pub mode: TlsMode,
    connector: Option<RustlsConnect>,
}

impl TlsSettings {
    /// Parses `url` (`postgres://…?sslmode=verify-full&sslrootcert=/path/ca.pem`, or libpq's `key=value` form).
    /// Errors name the parameter, never the URL (it may hold a password).
    pub fn parse(url: &str) -> anyhow::Result<TlsSettings> {
        let (rest, taken) = take_tls_parameters(url);
        let mut config: tokio_postgres::Config = rest
            .parse()
            .map_err(|e| anyhow::anyhow!("bad PostgreSQL URL: {e}"))?;
        let mut mode = TlsMode::Prefer;
        let mut root = None;
        for (key, value) in taken {
            match key.as_str() {
                "sslmode" => {
                    mode = TlsMode::parse(&value).ok_or_else(|| {
                        anyhow::anyhow!(
                            "bad PostgreSQL URL: sslmode={value:?} is not one of disable, allow, prefer, require, \
                             verify-ca, verify-full"
                        )
                    })?
                }
                "sslrootcert" => root = Some(value),
                other => anyhow::bail!(
                    "bad PostgreSQL URL: {other} (client certificates) is not supported; authenticate with a \
                     password over sslmode=verify-full"
                ),
            }
        }
        config.ssl_mode(mode.ssl_mode());
        let verify = match (mode, root) {
            (TlsMode::Disable, _) => {
                return Ok(TlsSettings {
                    config,
                    mode,
                    connector: None,
                });
            }
            (TlsMode::VerifyCa | TlsMode::VerifyFull, None) => anyhow::bail!(
                "sslmode={} needs the CA that signed the server's certificate: add sslrootcert=/path/to/ca.pem \
                 (or sslrootcert=system for the public roots)",
                mode.as_str()
            ),
            (TlsMode::Allow | TlsMode::Prefer, _) | (TlsMode::Require, None) => Verify::Nothing,
            (TlsMode::Require | TlsMode::VerifyCa, Some(root)) => Verify::Chain(roots(&root)?),
            (TlsMode::VerifyFull, Some(root)) => Verify::ChainAndName(roots(&root)?),
        };
        Ok(TlsSettings {
            config,
            mode,
            connector: Some(RustlsConnect::new(verify)?),
        })
    }

    /// Opens a connection as the settings say.
    pub async fn connect(&self) -> Result<PgClient, tokio_postgres::Error> {
        match &self.connector {
            Some(tls) => PgClient::connect(&self.config, tls.clone()).await,
            None => PgClient::connect(&self.config, tokio_postgres::NoTls).await,
        }
    }
}

/// Splits libpq's TLS parameters off a URL's query (or a `key=value` string), which the `postgres` crate would
/// refuse or ignore.
fn take_tls_parameters(url: &str) -> (String, Vec<(String, String)>) {
    const TAKEN: &[&str] = &["sslmode", "sslrootcert", "sslcert", "sslkey"];
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let Some((base, query)) = url.split_once('?') else {
            return (url.to_string(), Vec::new());
        };
        let mut kept = Vec::new();
        let mut taken = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            if TAKEN.contains(&key) {
                let value =
                    serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("v={value}"))
                        .ok()
                        .and_then(|mut v| v.pop())
                        .map_or_else(|| value.to_string(), |(_, v)| v);
                taken.push((key.to_string(), value));
            } else {
                kept.push(pair);
            }
        }
        let rest = if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        return (rest, taken);
    }
    // `host=… sslmode=…`: values here have no spaces (quoted values are left to the `postgres` crate).
    let mut kept = Vec::new();
    let mut taken = Vec::new();
    for word in url.split_whitespace() {
        match word.split_once('=') {
            Some((key, value)) if TAKEN.contains(&key.trim()) => {
                taken.push((key.trim().to_string(), value.trim().to_string()))
            }
            _ => kept.push(word),
        }
    }
    (kept.join(" "), taken)
}

fn roots(source: &str) -> anyhow::Result<RootCertStore> {
    let mut store = RootCertStore::empty();
    if source == "system" {
        store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        return Ok(store);
    }
    let certificates = CertificateDer::pem_file_iter(source)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| anyhow::anyhow!("cannot read sslrootcert {source}: {e}"))?;
    let (added, _) = store.add_parsable_certificates(certificates);
    if added == 0 {
        anyhow::bail!("sslrootcert {source} holds no usable CA certificate");
    }
    Ok(store)
}

enum Verify {
    /// `prefer`, `require` without a CA: encrypted, the server's identity unchecked (libpq's behaviour).
    Nothing,
    /// `verify-ca`, `require` with a CA: the chain, not the host name.
    Chain(RootCertStore),
    /// `verify-full`.
    ChainAndName(RootCertStore),
}

/// Makes rustls connections for the `postgres` crate.
#[derive(Clone)]
struct RustlsConnect {
    config: Arc<ClientConfig>,
}

impl RustlsConnect {
    fn new(verify: Verify) -> anyhow::Result<RustlsConnect> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| anyhow::anyhow!("TLS: {e}"))?;
        let config = match verify {
            Verify::ChainAndName(roots) => builder.with_root_certificates(roots),
            Verify::Chain(roots) => {
                let chain = rustls::client::WebPkiServerVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider.clone(),
                )
                .build()
                .map_err(|e| anyhow::anyhow!("TLS: {e}"))?;
                let lenient = Lenient {
                    chain: Some(chain),
                    provider,
                };
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(lenient))
            }
            Verify::Nothing => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Lenient {
                    chain: None,
                    provider,
                })),
        }
        .with_no_client_auth();
        Ok(RustlsConnect {
            config: Arc::new(config),
        })
    }
}

impl<S> MakeTlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type TlsConnect = RustlsConnectOne;
    type Error = rustls::pki_types::InvalidDnsNameError;

    fn make_tls_connect(&mut self, domain: &str) -> Result<RustlsConnectOne, Self::Error> {
        Ok(RustlsConnectOne {
            config: self.config.clone(),
            name: ServerName::try_from(domain.to_string())?,
        })
    }
}

struct RustlsConnectOne {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
}

impl<S> TlsConnect<S> for RustlsConnectOne
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<RustlsStream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            tokio_rustls::TlsConnector::from(self.config)
                .connect(self.name, stream)
                .await
                .map(RustlsStream)
        })
    }
}

struct RustlsStream<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for RustlsStream<S> {
    /// No channel binding: SCRAM then authenticates without it, which every server accepts unless told
    /// `channel_binding=require`.
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for RustlsStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for RustlsStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

/// What libpq checks short of `verify-full`: with a CA (`verify-ca`, `require` with `sslrootcert`), that the chain
/// leads to it, not that the certificate names the host; without (`prefer`, `require`), nothing. The handshake's
/// signatures are checked either way, so the session is encrypted to whoever holds the certificate's key.
#[derive(Debug)]
struct Lenient {
    chain: Option<Arc<rustls::client::WebPkiServerVerifier>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for Lenient {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName))
            | Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libpq_tls_parameters_are_taken_out_of_the_url() {
        let (rest, taken) = take_tls_parameters(
            "postgres://u:pw@db:5432/app?sslmode=verify-full&options=-csearch_path%3Dx&sslrootcert=%2Fetc%2Fca.pem",
        );
        assert_eq!(
            rest,
            "postgres://u:pw@db:5432/app?options=-csearch_path%3Dx"
        );
        assert_eq!(
            taken,
            [
                ("sslmode".to_string(), "verify-full".to_string()),
                ("sslrootcert".to_string(), "/etc/ca.pem".to_string())
            ]
        );
        let (rest, taken) = take_tls_parameters("host=db user=u sslmode=require dbname=app");
        assert_eq!(rest, "host=db user=u dbname=app");
        assert_eq!(taken, [("sslmode".to_string(), "require".to_string())]);
        assert_eq!(
            take_tls_parameters("postgres://db/app").0,
            "postgres://db/app"
        );
    }

    #[test]
    fn tls_settings_refuse_what_they_cannot_do_without_naming_the_password() {
        let error = |url: &str| TlsSettings::parse(url).err().unwrap().to_string();
        let bad_mode = error("postgres://u:secret@db/app?sslmode=verify");
        assert!(
            bad_mode.contains("sslmode=\"verify\" is not one of"),
            "{bad_mode}"
        );
        let no_ca = error("postgres://u:secret@db/app?sslmode=verify-full");
        assert!(no_ca.contains("add sslrootcert="), "{no_ca}");
        let missing =
            error("postgres://u:secret@db/app?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem");
        assert!(
            missing.contains("cannot read sslrootcert /nonexistent/ca.pem"),
            "{missing}"
        );
        let client_cert = error("postgres://u:secret@db/app?sslmode=require&sslcert=/c.pem");
        assert!(
            client_cert.contains("sslcert (client certificates) is not supported"),
            "{client_cert}"
        );
        for message in [bad_mode, no_ca, missing, client_cert] {
            assert!(!message.contains("secret"), "{message}");
        }
        let plain = TlsSettings::parse("postgres://u@db/app?sslmode=disable").unwrap();
        assert_eq!(
            (plain.mode, plain.config.get_ssl_mode()),
            (TlsMode::Disable, SslMode::Disable)
        );
        let system =
            TlsSettings::parse("postgres://u@db/app?sslmode=verify-full&sslrootcert=system")
                .unwrap();
        assert_eq!(system.config.get_ssl_mode(), SslMode::Require);
        let default = TlsSettings::parse("postgres://u@db/app").unwrap();
        assert_eq!(default.mode, TlsMode::Prefer);
    }
}
