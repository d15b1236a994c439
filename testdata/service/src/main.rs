//! cargo-slim's service fixture (std only): `check` proves what the image holds
//! — its files, a writable /tmp and /data, a user name from /etc/passwd — and
//! `serve PORT` answers HTTP GETs on 127.0.0.1:PORT with files from /public.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;

#[cfg(not(feature = "alt"))]
const BUILD: &str = "service build A";
#[cfg(feature = "alt")]
const BUILD: &str = "service build B";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("check") | None => check(),
        Some("serve") => serve(args.get(1).map(String::as_str).unwrap_or("8080")),
        // `exit N`: end with status N (what `cargo slim run` must pass on).
        Some("exit") => std::process::exit(args.get(1).and_then(|n| n.parse().ok()).unwrap_or(2)),
        Some(other) => Err(format!(
            "unknown command `{other}`; use check, serve PORT or exit N"
        )),
    };
    if let Err(e) = result {
        eprintln!("service: {e}");
        std::process::exit(1);
    }
}

fn check() -> Result<(), String> {
    println!("{BUILD}");
    let uid = own_uid()?;
    let name = user_name(uid)?;
    println!("user: {name} ({uid})");
    let mut public = Vec::new();
    list(Path::new("/public"), "", &mut public)?;
    println!("public: {}", public.join(" "));
    let config = std::fs::read_to_string("/etc/app/app.toml")
        .map_err(|e| format!("/etc/app/app.toml: {e}"))?;
    println!(
        "config: {}",
        config
            .lines()
            .find(|l| l.starts_with("greeting"))
            .unwrap_or("?")
    );
    for dir in ["/tmp", "/data"] {
        let path = Path::new(dir).join("probe.txt");
        std::fs::write(&path, b"written").map_err(|e| format!("write {}: {e}", path.display()))?;
        let back = std::fs::read(&path).map_err(|e| format!("read {}: {e}", path.display()))?;
        println!("wrote {} ({} bytes)", path.display(), back.len());
    }
    println!(
        "env: SERVICE_GREETING={}",
        std::env::var("SERVICE_GREETING").unwrap_or_default()
    );
    Ok(())
}

/// The real uid, from /proc (no libc binding needed).
fn own_uid() -> Result<u32, String> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| format!("/proc/self/status: {e}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|u| u.parse().ok())
        .ok_or_else(|| "no Uid line in /proc/self/status".to_string())
}

/// The name /etc/passwd gives `uid`.
fn user_name(uid: u32) -> Result<String, String> {
    let passwd = std::fs::read_to_string("/etc/passwd").map_err(|e| format!("/etc/passwd: {e}"))?;
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() > 2 && f[2] == uid.to_string())
        .map(|f| f[0].to_string())
        .ok_or_else(|| format!("uid {uid} is not in /etc/passwd"))
}

fn list(dir: &Path, prefix: &str, out: &mut Vec<String>) -> Result<(), String> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(Result::ok)
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = format!("{prefix}{}", e.file_name().to_string_lossy());
        if e.path().is_dir() {
            list(&e.path(), &format!("{name}/"), out)?;
        } else {
            out.push(name);
        }
    }
    Ok(())
}

fn serve(port: &str) -> Result<(), String> {
    let listener = TcpListener::bind(format!("127.0.0.1:{port}"))
        .map_err(|e| format!("bind 127.0.0.1:{port}: {e}"))?;
    println!("{BUILD}: listening on 127.0.0.1:{port}");
    for stream in listener.incoming().flatten() {
        let _ = answer(stream);
    }
    Ok(())
}

fn answer(mut stream: TcpStream) -> std::io::Result<()> {
    let mut line = String::new();
    BufReader::new(&stream).read_line(&mut line)?;
    let path = line.split_whitespace().nth(1).unwrap_or("/");
    let rel = path.trim_start_matches('/');
    let rel = if rel.is_empty() { "index.html" } else { rel };
    let body = if rel.split('/').any(|p| p == ".." || p.is_empty()) {
        None
    } else {
        std::fs::read(Path::new("/public").join(rel)).ok()
    };
    let (status, body) = match body {
        Some(b) => ("200 OK", b),
        None => ("404 Not Found", b"not found\n".to_vec()),
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    stream.write_all(&body)?;
    stream.flush()
}
