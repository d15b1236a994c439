//! A small HTTP/1.1 service on a multi-threaded tokio runtime, the shape of the
//! services cargo-slim users ship: `GET /json` answers 200 items as JSON (every
//! request allocates and frees a few hundred small objects, as real handlers do),
//! `GET /ok` answers `ok`. `jsonapi serve ADDR` serves; `jsonapi check` serves on a
//! loopback port, asks itself once per endpoint and prints what it got (a smoke
//! test that needs no network from outside).

use serde::Serialize;

#[cfg(feature = "own")]
#[global_allocator]
static OWN: mimalloc::MiMalloc = mimalloc::MiMalloc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Serialize)]
struct Item {
    id: u32,
    name: String,
    tags: Vec<String>,
    score: f64,
    active: bool,
}

fn items(seed: u32) -> Vec<Item> {
    (0..200)
        .map(|i| Item {
            id: seed.wrapping_mul(31).wrapping_add(i),
            name: format!("item-{i}-{seed}"),
            tags: (0..3).map(|t| format!("tag{}", (i + t) % 7)).collect(),
            score: f64::from(i) * 1.5,
            active: i % 2 == 0,
        })
        .collect()
}

fn answer(path: &str, seed: u32) -> (&'static str, Vec<u8>) {
    match path {
        "/json" => ("application/json", serde_json::to_vec(&items(seed)).unwrap_or_default()),
        "/ok" => ("text/plain", b"ok".to_vec()),
        _ => ("text/plain", b"not found".to_vec()),
    }
}

async fn connection(mut s: TcpStream) {
    let mut buf = Vec::with_capacity(4096);
    let mut seed = 0u32;
    loop {
        let end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 4096];
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
            if buf.len() > 64 * 1024 {
                return;
            }
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        buf.drain(..end);
        let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
        seed = seed.wrapping_add(1);
        let (kind, body) = answer(&path, seed);
        let status = if kind == "text/plain" && body == b"not found" { "404 Not Found" } else { "200 OK" };
        let mut out = format!(
            "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        out.extend_from_slice(&body);
        if s.write_all(&out).await.is_err() {
            return;
        }
    }
}

async fn serve(listener: TcpListener) {
    loop {
        if let Ok((s, _)) = listener.accept().await {
            let _ = s.set_nodelay(true);
            tokio::spawn(connection(s));
        }
    }
}

async fn get(addr: std::net::SocketAddr, path: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect(addr).await?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await?;
    let mut out = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        out.extend_from_slice(&chunk[..n]);
        if let Some(i) = out.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&out[..i]).to_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if out.len() >= i + 4 + len {
                return Ok(String::from_utf8_lossy(&out[i + 4..i + 4 + len]).into_owned());
            }
        }
    }
    Ok(String::new())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_io()
        .build()
        .expect("a tokio runtime");
    match args.get(1).map(String::as_str) {
        Some("serve") => {
            let addr = args.get(2).cloned().unwrap_or_else(|| "0.0.0.0:8080".into());
            rt.block_on(async {
                let l = TcpListener::bind(&addr).await.expect("bind");
                eprintln!("jsonapi: serving on {addr}");
                serve(l).await
            });
        }
        _ => rt.block_on(async {
            let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let addr = l.local_addr().expect("addr");
            tokio::spawn(serve(l));
            let json = get(addr, "/json").await.expect("GET /json");
            let v: serde_json::Value = serde_json::from_str(&json).expect("JSON");
            let ok = get(addr, "/ok").await.expect("GET /ok");
            println!("jsonapi: {} items, /ok says {ok}", v.as_array().map_or(0, Vec::len));
            #[cfg(feature = "lgpage")]
            println!("jsonapi: lg_page={}", tikv_jemalloc_sys::LG_PAGE);
        }),
    }
}
