//! Test harness for push: the real CNCF registry (Debian's `docker-registry`) on
//! 127.0.0.1, a CA and server certificate made with `openssl`, an htpasswd file
//! made with `htpasswd`, a token service issuing JWTs signed with `openssl` (the
//! registry's Bearer flow), and a tiny fault-injecting HTTP proxy.
//!
//! Everything binds to 127.0.0.1 on a free port and is stopped on drop. The
//! registry's access log (one line per request: method, URI, status, user agent)
//! is captured so tests can prove what the client did — e.g. that a re-push hit no
//! upload endpoint — from the server's side, not from our own counters.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::{have, text};

/// A free TCP port on 127.0.0.1 (bound and released; good enough for tests).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `openssl <args>` run in `dir`, required to succeed; its stdout.
fn openssl(dir: &Path, args: &[&str]) -> Vec<u8> {
    let o = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "openssl {args:?}: {}", text(&o.stderr));
    o.stdout
}

/// `openssl req` making a new P-256 key in `key` (with `x509`, a self-signed
/// certificate), then `rest`.
fn req_ec_key(dir: &Path, x509: bool, key: &str, rest: &[&str]) {
    let mut args = vec!["req"];
    if x509 {
        args.push("-x509");
    }
    args.extend([
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        key,
    ]);
    args.extend_from_slice(rest);
    openssl(dir, &args);
}

/// TLS material for a registry: a CA and a server certificate for 127.0.0.1.
#[derive(Debug, Clone)]
pub struct Certs {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Certs {
    pub fn generate(dir: &Path) -> Certs {
        let run = |args: &[&str]| openssl(dir, args);
        req_ec_key(
            dir,
            true,
            "ca.key",
            &[
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=cargo-slim test CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
        req_ec_key(
            dir,
            false,
            "server.key",
            &["-out", "server.csr", "-subj", "/CN=127.0.0.1"],
        );
        std::fs::write(
            dir.join("ext.cnf"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
             keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        run(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ]);
        Certs {
            ca: dir.join("ca.pem"),
            cert: dir.join("server.pem"),
            key: dir.join("server.key"),
        }
    }
}

/// How to configure a registry.
#[derive(Debug, Clone, Default)]
pub struct RegistryConfig {
    pub tls: Option<Certs>,
    /// One htpasswd user: (name, password).
    pub htpasswd: Option<(String, String)>,
    /// Bearer tokens from this token service.
    pub token: Option<TokenAuthConfig>,
}

/// The registry side of the token flow.
#[derive(Debug, Clone)]
pub struct TokenAuthConfig {
    pub realm: String,
    pub service: String,
    pub issuer: String,
    /// PEM certificate of the key tokens are signed with.
    pub rootcertbundle: PathBuf,
}

/// A running `docker-registry` process.
pub struct Registry {
    child: Option<Child>,
    pub port: u16,
    pub dir: tempfile::TempDir,
    config_path: PathBuf,
    log: Arc<Mutex<Vec<String>>>,
}

/// One request from the access log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub uri: String,
    pub status: u16,
    pub agent: String,
}

impl Registry {
    /// Start a registry, or `None` (skip) when the tools are missing outside CI.
    pub fn start(cfg: RegistryConfig) -> Option<Registry> {
        if !have("docker-registry") {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut yaml = format!(
            "version: 0.1\nlog:\n  level: debug\n  formatter: text\n  accesslog:\n    disabled: false\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
             http:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("storage").display()
        );
        if let Some(c) = &cfg.tls {
            yaml.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                c.cert.display(),
                c.key.display()
            ));
        }
        if let Some((user, pass)) = &cfg.htpasswd {
            let o = Command::new("htpasswd")
                .args(["-Bbn", user, pass])
                .output()
                .expect("htpasswd");
            assert!(o.status.success(), "htpasswd: {}", text(&o.stderr));
            let file = dir.path().join("htpasswd");
            std::fs::write(&file, &o.stdout).unwrap();
            yaml.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: cargo-slim-test\n    path: {}\n",
                file.display()
            ));
        }
        if let Some(t) = &cfg.token {
            yaml.push_str(&format!(
                "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
                t.realm,
                t.service,
                t.issuer,
                t.rootcertbundle.display()
            ));
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, yaml).unwrap();
        let mut r = Registry {
            child: None,
            port,
            dir,
            config_path,
            log: Arc::default(),
        };
        r.restart();
        Some(r)
    }

    /// A plain registry for a test that also reads it back with skopeo: `None`
    /// (skip, or fail in CI) when either is missing.
    pub fn with_skopeo() -> Option<Registry> {
        let reg = Registry::start(RegistryConfig::default())?;
        have("skopeo").then_some(reg)
    }

    /// [`Registry::with_skopeo`], for a test that also pulls with podman.
    pub fn with_skopeo_and_podman() -> Option<Registry> {
        let reg = Registry::start(RegistryConfig::default())?;
        (have("skopeo") && have("podman")).then_some(reg)
    }

    /// `127.0.0.1:PORT`
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Start (again) on the same port with the same storage.
    pub fn restart(&mut self) {
        self.kill();
        let mut child = Command::new("docker-registry")
            .arg("serve")
            .arg(&self.config_path)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn docker-registry");
        for pipe in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let log = self.log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    log.lock().unwrap().push(line);
                }
            });
        }
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("docker-registry exited ({status}):\n{}", self.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "docker-registry did not listen on {} in 20s:\n{}",
                self.host(),
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, like a crash.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// A position in the log, for [`Registry::requests_since`].
    pub fn mark(&self) -> usize {
        self.log.lock().unwrap().len()
    }

    /// Requests from the access log (Apache combined format) after `mark`.
    pub fn requests_since(&self, mark: usize) -> Vec<Request> {
        // The access log line of a request may trail its response slightly.
        std::thread::sleep(Duration::from_millis(100));
        let log = self.log.lock().unwrap();
        log[mark.min(log.len())..]
            .iter()
            .filter_map(|l| parse_access_line(l))
            .collect()
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests_since(0)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `127.0.0.1 - - [date] "HEAD /v2/x HTTP/1.1" 200 0 "" "agent"`
fn parse_access_line(l: &str) -> Option<Request> {
    let (_, rest) = l.split_once("] \"")?;
    let (req, rest) = rest.split_once('"')?;
    let mut parts = req.split(' ');
    let method = parts.next()?.to_string();
    let uri = parts.next()?.to_string();
    let status = rest.split_whitespace().next()?.parse().ok()?;
    let agent = rest.rsplit('"').nth(1).unwrap_or("").to_string();
    Some(Request {
        method,
        uri,
        status,
        agent,
    })
}

/// A forwarding proxy on 127.0.0.1 that misbehaves on purpose.
pub struct FaultProxy {
    pub port: u16,
    /// Requests answered with 503 so far.
    pub failed: Arc<AtomicUsize>,
    /// Request bytes forwarded upstream so far.
    pub forwarded: Arc<AtomicU64>,
    /// Requests held unanswered so far (`Faults::stall_on`).
    pub stalled: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

/// What the proxy does.
#[derive(Default)]
pub struct Faults {
    /// Answer `503 Service Unavailable` to this many requests, then forward.
    pub fail_first: usize,
    /// After this many request-body bytes went upstream in total: tell the test
    /// (the `Sender`), wait for its go-ahead (the `Receiver`), then stop listening
    /// and drop every connection, as if the registry's address had died.
    pub go_dark_after: Option<(u64, mpsc::Sender<()>, mpsc::Receiver<()>)>,
    /// A request whose request line starts with this (e.g. `"PUT /v2/"`) is held:
    /// its head read, then nothing read or written again until the proxy is
    /// dropped — a registry that stalls mid-push.
    pub stall_on: Option<String>,
    /// Read request bytes at most this many at a time, sleeping this long after
    /// each read: a slow link that keeps progressing.
    pub throttle: Option<(usize, Duration)>,
    /// Once this many request bytes went upstream in total, stop reading (until
    /// dropped): a registry that stalls in the middle of an upload.
    pub stall_after: Option<u64>,
    /// A request whose request line starts with this (e.g. `"GET /v2/a/manifests/"`)
    /// is answered by [`flood`] with the given status: a registry that sends a body
    /// without end.
    pub flood_on: Option<(String, u16)>,
}

impl FaultProxy {
    pub fn start(upstream: u16, faults: Faults) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let failed = Arc::new(AtomicUsize::new(0));
        let forwarded = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let dark = Arc::new(AtomicBool::new(false));
        let hold = Arc::new(Mutex::new(faults.go_dark_after));
        let seen = Arc::new(AtomicUsize::new(0));
        let fail_first = faults.fail_first;
        let stall_on = faults.stall_on.clone();
        let (throttle, stall_after) = (faults.throttle, faults.stall_after);
        let flood_on = faults.flood_on.clone();
        let stalled = Arc::new(AtomicUsize::new(0));
        {
            let (failed, forwarded, stop) = (failed.clone(), forwarded.clone(), stop.clone());
            let stalled = stalled.clone();
            std::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(300);
                while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
                    if dark.load(Ordering::SeqCst) {
                        // Closing the listener makes new connections fail: refused.
                        return;
                    }
                    match listener.accept() {
                        Ok((conn, _)) => {
                            let ctx = ConnCtx {
                                upstream,
                                fail_first,
                                seen: seen.clone(),
                                failed: failed.clone(),
                                forwarded: forwarded.clone(),
                                hold: hold.clone(),
                                dark: dark.clone(),
                                stall_on: stall_on.clone(),
                                throttle,
                                stall_after,
                                flood_on: flood_on.clone(),
                                stalled: stalled.clone(),
                                stop: stop.clone(),
                            };
                            std::thread::spawn(move || handle(conn, ctx));
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(2));
                        }
                        Err(_) => return,
                    }
                }
            });
        }
        FaultProxy {
            port,
            failed,
            forwarded,
            stalled,
            stop,
        }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Answer `status` with a body that never ends (no `Content-Length`): `{"manifests":[`
/// and then spaces, in 64 KiB writes — or one byte every `drip` — until the client
/// hangs up, `stop` is set, or 60 s pass.
pub fn flood(client: &mut TcpStream, status: u16, drip: Option<Duration>, stop: &AtomicBool) {
    let _ = write!(
        client,
        "HTTP/1.1 {status} Whatever\r\nContent-Type: application/vnd.oci.image.index.v1+json\r\n\
         Connection: close\r\n\r\n{{\"manifests\":["
    );
    let chunk = vec![b' '; if drip.is_some() { 1 } else { 64 << 10 }];
    let until = Instant::now() + Duration::from_secs(60);
    while !stop.load(Ordering::SeqCst) && Instant::now() < until {
        if client.write_all(&chunk).is_err() {
            break;
        }
        if let Some(d) = drip {
            std::thread::sleep(d);
        }
    }
    let _ = client.shutdown(Shutdown::Both);
}

/// A server on 127.0.0.1 that answers every request with [`flood`]: a token
/// service (or anything else) that never stops talking.
pub struct Endless {
    pub port: u16,
    /// Requests answered so far.
    pub requests: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Endless {
    pub fn start(status: u16, drip: Option<Duration>) -> Endless {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicUsize::new(0));
        let (flag, count) = (stop.clone(), requests.clone());
        std::thread::spawn(move || {
            let until = Instant::now() + Duration::from_secs(120);
            while !flag.load(Ordering::SeqCst) && Instant::now() < until {
                let Ok((mut conn, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                count.fetch_add(1, Ordering::SeqCst);
                let flag = flag.clone();
                std::thread::spawn(move || {
                    let _ = conn.set_nonblocking(false);
                    let mut head = Vec::new();
                    let mut b = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") && head.len() < 65536 {
                        match conn.read(&mut b) {
                            Ok(1) => head.push(b[0]),
                            _ => return,
                        }
                    }
                    flood(&mut conn, status, drip, &flag);
                });
            }
        });
        Endless {
            port,
            requests,
            stop,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Endless {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

type Hold = Arc<Mutex<Option<(u64, mpsc::Sender<()>, mpsc::Receiver<()>)>>>;

struct ConnCtx {
    upstream: u16,
    fail_first: usize,
    seen: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
    forwarded: Arc<AtomicU64>,
    hold: Hold,
    dark: Arc<AtomicBool>,
    stall_on: Option<String>,
    throttle: Option<(usize, Duration)>,
    stall_after: Option<u64>,
    flood_on: Option<(String, u16)>,
    stalled: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

fn handle(mut client: TcpStream, ctx: ConnCtx) {
    let _ = client.set_read_timeout(Some(Duration::from_secs(30)));
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    // A TLS ClientHello (the client trying https first) gets the connection closed,
    // which is what a plain-HTTP server's garbled answer amounts to.
    loop {
        match client.read(&mut byte) {
            Ok(1) => {
                if head.is_empty() && byte[0] == 0x16 {
                    return;
                }
                head.push(byte[0]);
                if head.ends_with(b"\r\n\r\n") {
                    break;
                }
                if head.len() > 64 * 1024 {
                    return;
                }
            }
            _ => return,
        }
    }
    // A request to hold: the first on the connection, or a later one on a kept-alive
    // connection (its head starts a read: the client sends it after the answer).
    let stall = |bytes: &[u8]| {
        let hit = ctx
            .stall_on
            .as_ref()
            .is_some_and(|p| bytes.starts_with(p.as_bytes()));
        if hit {
            ctx.stalled.fetch_add(1, Ordering::SeqCst);
            let until = Instant::now() + Duration::from_secs(120);
            while !ctx.stop.load(Ordering::SeqCst) && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        hit
    };
    if stall(&head) {
        return;
    }
    let flooded = |bytes: &[u8], client: &mut TcpStream| match &ctx.flood_on {
        Some((p, status)) if bytes.starts_with(p.as_bytes()) => {
            flood(client, *status, None, &ctx.stop);
            true
        }
        _ => false,
    };
    if flooded(&head, &mut client) {
        return;
    }
    let n = ctx.seen.fetch_add(1, Ordering::SeqCst);
    if n < ctx.fail_first {
        let head_text = String::from_utf8_lossy(&head).to_ascii_lowercase();
        let len: u64 = head_text
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        let _ = std::io::copy(&mut (&client).take(len), &mut std::io::sink());
        let body = "{\"errors\":[{\"code\":\"UNAVAILABLE\",\"message\":\"injected fault\"}]}";
        let _ = write!(
            client,
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        ctx.failed.fetch_add(1, Ordering::SeqCst);
        let _ = client.shutdown(Shutdown::Both);
        return;
    }
    let Ok(mut up) = TcpStream::connect(("127.0.0.1", ctx.upstream)) else {
        let _ = client.shutdown(Shutdown::Both);
        return;
    };
    if up.write_all(&head).is_err() {
        return;
    }
    let (mut up_r, mut client_w) = (up.try_clone().unwrap(), client.try_clone().unwrap());
    let back = std::thread::spawn(move || {
        let _ = std::io::copy(&mut up_r, &mut client_w);
        let _ = client_w.shutdown(Shutdown::Both);
    });
    let mut buf = vec![0u8; 64 * 1024];
    let cap = ctx.throttle.map_or(buf.len(), |(n, _)| n.min(buf.len()));
    loop {
        if ctx
            .stall_after
            .is_some_and(|limit| ctx.forwarded.load(Ordering::SeqCst) >= limit)
        {
            ctx.stalled.fetch_add(1, Ordering::SeqCst);
            let until = Instant::now() + Duration::from_secs(120);
            while !ctx.stop.load(Ordering::SeqCst) && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(20));
            }
            break;
        }
        if let Some((_, pause)) = ctx.throttle {
            std::thread::sleep(pause);
        }
        let n = match client.read(&mut buf[..cap]) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if stall(&buf[..n]) || flooded(&buf[..n], &mut client) {
            let _ = up.shutdown(Shutdown::Both);
            break;
        }
        let total = ctx.forwarded.fetch_add(n as u64, Ordering::SeqCst) + n as u64;
        let trigger = {
            let mut h = ctx.hold.lock().unwrap();
            match h.as_ref() {
                Some((limit, _, _)) if total >= *limit => h.take(),
                _ => None,
            }
        };
        if let Some((_, tell, wait)) = trigger {
            let _ = tell.send(());
            let _ = wait.recv_timeout(Duration::from_secs(60));
            ctx.dark.store(true, Ordering::SeqCst);
            let _ = up.shutdown(Shutdown::Both);
            let _ = client.shutdown(Shutdown::Both);
            break;
        }
        if ctx.dark.load(Ordering::SeqCst) || up.write_all(&buf[..n]).is_err() {
            let _ = client.shutdown(Shutdown::Both);
            break;
        }
    }
    let _ = up.shutdown(Shutdown::Write);
    let _ = back.join();
}

#[test]
fn access_log_lines_parse() {
    let l = r#"127.0.0.1 - - [27/Nov/2026:17:19:08 +0000] "HEAD /v2/hello/manifests/latest HTTP/1.1" 200 404 "" "cargo-slim/0.1.0""#;
    assert_eq!(
        parse_access_line(l).unwrap(),
        Request {
            method: "HEAD".into(),
            uri: "/v2/hello/manifests/latest".into(),
            status: 200,
            agent: "cargo-slim/0.1.0".into(),
        }
    );
    assert!(parse_access_line("time=\"x\" level=info msg=\"y\"").is_none());
}

/// A token service for the registry's Bearer flow: `GET /token?scope=…&service=…`
/// with HTTP Basic credentials answers `{"token": JWT}`, the JWT (RS256, with the
/// signing certificate in `x5c`) granting exactly the requested scope; a wrong
/// password gets a 401.
pub struct TokenServer {
    pub port: u16,
    pub config: TokenAuthConfig,
    /// Every scope asked for, and whether the credentials were right.
    pub requests: Arc<Mutex<Vec<(String, bool)>>>,
    stop: Arc<AtomicBool>,
}

impl TokenServer {
    pub fn start(dir: &Path, user: &str, password: &str) -> TokenServer {
        let run = |args: &[&str]| openssl(dir, args);
        run(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "token.key",
            "-out",
            "token.pem",
            "-days",
            "2",
            "-subj",
            "/CN=cargo-slim test token issuer",
        ]);
        let der = run(&["x509", "-in", "token.pem", "-outform", "DER"]);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let config = TokenAuthConfig {
            realm: format!("http://127.0.0.1:{port}/token"),
            service: "cargo-slim-test".into(),
            issuer: "cargo-slim-test-issuer".into(),
            rootcertbundle: dir.join("token.pem"),
        };
        let requests: Arc<Mutex<Vec<(String, bool)>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let want = format!(
            "Basic {}",
            base64(format!("{user}:{password}").as_bytes(), false)
        );
        let key = dir.join("token.key");
        {
            let (requests, stop, config) = (requests.clone(), stop.clone(), config.clone());
            std::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(300);
                while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
                    let Ok((mut conn, _)) = listener.accept() else {
                        std::thread::sleep(Duration::from_millis(2));
                        continue;
                    };
                    let _ = conn.set_nonblocking(false);
                    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
                    let mut head = Vec::new();
                    let mut b = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") && head.len() < 65536 {
                        match conn.read(&mut b) {
                            Ok(1) => head.push(b[0]),
                            _ => break,
                        }
                    }
                    let head = String::from_utf8_lossy(&head).into_owned();
                    let target = head.split_whitespace().nth(1).unwrap_or("").to_string();
                    let scope = query_param(&target, "scope").unwrap_or_default();
                    let authorized = head.lines().any(|l| {
                        l.to_ascii_lowercase().starts_with("authorization:")
                            && l["authorization:".len()..].trim() == want
                    });
                    requests.lock().unwrap().push((scope.clone(), authorized));
                    let (status, body) = if authorized {
                        let jwt = sign_token(&key, &der, &config, &scope);
                        ("200 OK", format!(r#"{{"token":"{jwt}","expires_in":300}}"#))
                    } else {
                        (
                            "401 Unauthorized",
                            r#"{"details":"wrong credentials"}"#.to_string(),
                        )
                    };
                    let _ = write!(
                        conn,
                        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                }
            });
        }
        TokenServer {
            port,
            config,
            requests,
            stop,
        }
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn query_param(target: &str, name: &str) -> Option<String> {
    let query = target.split_once('?')?.1;
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Standard (`url = false`, padded) or URL-safe unpadded base64.
pub fn base64(data: &[u8], url: bool) -> String {
    let table: &[u8; 64] = if url {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    } else {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    };
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(table[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else if !url {
                out.push('=');
            }
        }
    }
    out
}

/// A registry JWT for `scope` (`repository:NAME:ACTIONS`), signed RS256 by `key`.
fn sign_token(key: &Path, cert_der: &[u8], cfg: &TokenAuthConfig, scope: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut parts = scope.splitn(3, ':');
    let (typ, name, actions) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    let header =
        serde_json::json!({"alg": "RS256", "typ": "JWT", "x5c": [base64(cert_der, false)]});
    let claims = serde_json::json!({
        "iss": cfg.issuer, "sub": "alice", "aud": cfg.service,
        "exp": now + 300, "nbf": now - 10, "iat": now - 10, "jti": format!("{now}-{scope}"),
        "access": [{"type": typ, "name": name, "actions": actions.split(',').collect::<Vec<_>>()}],
    });
    let input = format!(
        "{}.{}",
        base64(header.to_string().as_bytes(), true),
        base64(claims.to_string().as_bytes(), true)
    );
    let mut child = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let sig = child.wait_with_output().unwrap().stdout;
    format!("{input}.{}", base64(&sig, true))
}

#[test]
fn base64_known_values() {
    assert_eq!(base64(b"alice:s3cret", false), "YWxpY2U6czNjcmV0");
    assert_eq!(base64(b"ab", false), "YWI=");
    assert_eq!(base64(b"ab", true), "YWI");
    assert_eq!(base64(&[0xfb, 0xff], true), "-_8");
    assert_eq!(
        query_param(
            "/token?scope=repository%3Aa%2Fb%3Apull%2Cpush&service=x",
            "scope"
        )
        .unwrap(),
        "repository:a/b:pull,push"
    );
}
