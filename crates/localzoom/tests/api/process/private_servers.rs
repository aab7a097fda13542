//! A PostgreSQL cluster and a Redis server of a test's own, from this machine's installation, on ports the system
//! picks: a test may restart or stop them, or require TLS of them, without touching the servers the rest of the
//! suite shares. And a certificate authority made for the test (`openssl`), as a managed service's would be.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::free_port;

/// What a test needs that this machine may not have: skipped with the reason, or a failure under `CI=true`.
fn missing(what: &str) -> Option<std::convert::Infallible> {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("CI=true and {what}");
    }
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "skipping: {what}");
    None
}

fn run(command: &mut Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn is_root() -> bool {
    run(Command::new("id").arg("-u")).trim() == "0"
}

/// A CA, and a server certificate it signed for `localhost` only (so that `127.0.0.1` does not match it).
pub(crate) struct TestCa {
    pub(crate) ca: PathBuf,
    pub(crate) cert: PathBuf,
    pub(crate) key: PathBuf,
}

impl TestCa {
    pub(crate) fn new(dir: &Path, name: &str) -> TestCa {
        let path = |file: &str| dir.join(format!("{name}-{file}"));
        let (ca, ca_key, key, csr, cert) = (
            path("ca.pem"),
            path("ca.key"),
            path("server.key"),
            path("server.csr"),
            path("server.pem"),
        );
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        run(Command::new("openssl")
            .args(["req", "-x509"])
            .args(ec)
            .arg("-keyout")
            .arg(&ca_key)
            .arg("-out")
            .arg(&ca)
            .args(["-days", "2", "-subj", &format!("/CN={name} test CA")])
            .args(["-addext", "basicConstraints=critical,CA:TRUE"])
            .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"]));
        run(Command::new("openssl")
            .arg("req")
            .args(ec)
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&csr)
            .args(["-subj", "/CN=localhost"]));
        let extensions = path("server.ext");
        std::fs::write(
            &extensions,
            "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        run(Command::new("openssl")
            .args(["x509", "-req", "-days", "2", "-in"])
            .arg(&csr)
            .arg("-CA")
            .arg(&ca)
            .arg("-CAkey")
            .arg(&ca_key)
            .arg("-CAcreateserial")
            .arg("-extfile")
            .arg(&extensions)
            .arg("-out")
            .arg(&cert));
        TestCa { ca, cert, key }
    }
}

/// A PostgreSQL cluster in a temporary directory, stopped when dropped.
pub(crate) struct PrivatePostgres {
    bin: PathBuf,
    data: PathBuf,
    pub(crate) port: u16,
    _dir: tempfile::TempDir,
}

impl PrivatePostgres {
    /// A new cluster (trust authentication, user `postgres`). With `tls`, it serves that certificate and, as
    /// managed services do, refuses connections without TLS.
    pub(crate) fn start(tls: Option<&TestCa>) -> Option<PrivatePostgres> {
        let Some(bin) = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|versions| versions.flatten().map(|v| v.path().join("bin")).max())
            .filter(|bin| bin.join("initdb").exists())
        else {
            missing(
                "PostgreSQL's server programs (initdb, pg_ctl) are not under /usr/lib/postgresql",
            )?;
            unreachable!()
        };
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("pg");
        std::fs::create_dir(&home).unwrap();
        let data = home.join("data");
        let postgres = PrivatePostgres {
            bin,
            data,
            port: free_port(),
            _dir: dir,
        };
        // initdb refuses to run as root: the cluster belongs to the `postgres` user then.
        if is_root() {
            std::fs::set_permissions(
                postgres._dir.path(),
                std::os::unix::fs::PermissionsExt::from_mode(0o755),
            )
            .unwrap();
            run(Command::new("chown").args(["postgres:postgres"]).arg(&home));
        }
        run(postgres
            .command("initdb")
            .arg("-D")
            .arg(&postgres.data)
            .args([
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ]));
        let mut conf = format!(
            "listen_addresses = '127.0.0.1'\nport = {}\nunix_socket_directories = '{}'\nmax_connections = 60\n",
            postgres.port,
            home.display()
        );
        if let Some(ca) = tls {
            for (from, to) in [(&ca.cert, "server.pem"), (&ca.key, "server.key")] {
                let target = postgres.data.join(to);
                std::fs::copy(from, &target).unwrap();
                std::fs::set_permissions(
                    &target,
                    std::os::unix::fs::PermissionsExt::from_mode(0o600),
                )
                .unwrap();
                if is_root() {
                    run(Command::new("chown")
                        .args(["postgres:postgres"])
                        .arg(&target));
                }
            }
            conf.push_str("ssl = on\nssl_cert_file = 'server.pem'\nssl_key_file = 'server.key'\n");
            let hba = postgres.data.join("pg_hba.conf");
            std::fs::write(
                &hba,
                "local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostssl all all ::1/128 trust\n",
            )
            .unwrap();
        }
        let conf_path = postgres.data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf_path).unwrap();
        text.push_str(&conf);
        std::fs::write(&conf_path, text).unwrap();
        postgres.pg_ctl(&["start"]);
        Some(postgres)
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if is_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        }
    }

    fn pg_ctl(&self, action: &[&str]) {
        let log = self.data.parent().unwrap().join("server.log");
        run(self
            .command("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(log)
            .args(["-w", "-t", "60"])
            .args(action)
            .stdout(Stdio::null()));
    }

    /// As an operator's `restart`: sessions are ended (fast shutdown), then the server is back.
    pub(crate) fn restart(&self) {
        self.pg_ctl(&["-m", "fast", "restart"]);
    }

    pub(crate) fn stop(&self) {
        self.pg_ctl(&["-m", "fast", "stop"]);
    }

    /// Returns once the server accepts connections.
    pub(crate) fn start_again(&self) {
        self.pg_ctl(&["start"]);
    }

    /// Runs SQL through `psql` over the Unix socket (no TLS needed), returning its unaligned output.
    pub(crate) fn psql(&self, sql: &str) -> String {
        run(self
            .command("psql")
            .args(["-h"])
            .arg(self.data.parent().unwrap())
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-Atc",
                sql,
            ]))
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A Redis server of the test's own, on a port the system picks (with TLS on that port if given a CA).
pub(crate) struct PrivateRedis {
    child: Option<Child>,
    args: Vec<String>,
    pub(crate) port: u16,
}

impl PrivateRedis {
    pub(crate) fn start(tls: Option<&TestCa>, password: Option<&str>) -> Option<PrivateRedis> {
        if Command::new("redis-server")
            .arg("--version")
            .output()
            .is_err()
        {
            missing("redis-server is not installed")?;
        }
        let port = free_port();
        let mut args: Vec<String> = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
            .map(String::from)
            .to_vec();
        match tls {
            Some(ca) => {
                args.extend([
                    "--port".into(),
                    "0".into(),
                    "--tls-port".into(),
                    port.to_string(),
                ]);
                args.extend(["--tls-auth-clients".into(), "no".into()]);
                for (flag, path) in [
                    ("--tls-cert-file", &ca.cert),
                    ("--tls-key-file", &ca.key),
                    ("--tls-ca-cert-file", &ca.ca),
                ] {
                    args.extend([flag.into(), path.display().to_string()]);
                }
            }
            None => args.extend(["--port".into(), port.to_string()]),
        }
        if let Some(password) = password {
            args.extend(["--requirepass".into(), password.into()]);
        }
        let mut redis = PrivateRedis {
            child: None,
            args,
            port,
        };
        redis.start_again();
        Some(redis)
    }

    /// Starts the server (again), returning once it accepts connections.
    pub(crate) fn start_again(&mut self) {
        let child = Command::new("redis-server")
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub(crate) fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A TCP relay to `target` that can silently lose every connection open through it, as a fail-over or a NAT that
/// forgot them does: nothing tells the client until it next sends, and then the connection is closed.
pub(crate) struct Relay {
    pub(crate) port: u16,
    generation: Arc<AtomicU64>,
}

impl Relay {
    pub(crate) fn start(target: u16) -> Relay {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let generation = Arc::new(AtomicU64::new(0));
        let current = generation.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(upstream) = std::net::TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                let born = current.load(Ordering::SeqCst);
                let (client_in, upstream_out) =
                    (client.try_clone().unwrap(), upstream.try_clone().unwrap());
                let current = current.clone();
                // Client to server: once the relay has forgotten this connection, what the client sends closes it.
                std::thread::spawn(move || {
                    let (mut from, mut to) = (client_in, upstream_out);
                    let mut buffer = [0u8; 16 * 1024];
                    loop {
                        let n = match from.read(&mut buffer) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if current.load(Ordering::SeqCst) != born
                            || to.write_all(&buffer[..n]).is_err()
                        {
                            break;
                        }
                    }
                    let _ = from.shutdown(std::net::Shutdown::Both);
                    let _ = to.shutdown(std::net::Shutdown::Both);
                });
                std::thread::spawn(move || {
                    let (mut from, mut to) = (upstream, client);
                    let _ = std::io::copy(&mut from, &mut to);
                    let _ = to.shutdown(std::net::Shutdown::Both);
                });
            }
        });
        Relay { port, generation }
    }

    /// Forgets every connection open now; new ones work.
    pub(crate) fn forget_connections(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }
}
