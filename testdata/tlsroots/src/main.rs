//! Fixture for cargo-slim's CA bundle: `tlsroots` prints `roots: N`, the number of
//! certificates rustls-native-certs loads from the system trust store (in a
//! scratch image: the bundle cargo slim wrote, or none); `tlsroots HOST:PORT` then
//! connects over TLS to 127.0.0.1 at that port, sends `GET /`, and prints
//! `answer: <first line>`, or `tls error: …` and exits 1.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::Arc;

fn main() {
    let found = rustls_native_certs::load_native_certs();
    for e in &found.errors {
        eprintln!("loading the trust store: {e}");
    }
    let mut roots = rustls::RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    println!("roots: {added}");
    let Some(addr) = std::env::args().nth(1) else {
        return;
    };
    match answer(&addr, roots) {
        Ok(line) => println!("answer: {line}"),
        Err(e) => {
            println!("tls error: {e}");
            std::process::exit(1);
        }
    }
}

/// The first line of the HTTPS answer of `addr`, its certificate checked
/// against `roots` for the name 127.0.0.1.
fn answer(addr: &str, roots: rustls::RootCertStore) -> Result<String, Box<dyn std::error::Error>> {
    // ring, not aws-lc: the fixture compiles in seconds (deprecated only for
    // lacking post-quantum key exchange, which this test does not need).
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1")?;
    let conn = rustls::ClientConnection::new(Arc::new(config), name)?;
    let tcp = TcpStream::connect(addr)?;
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
    tls.flush()?;
    let mut line = String::new();
    BufReader::new(tls).read_line(&mut line)?;
    Ok(line.trim_end().to_string())
}
