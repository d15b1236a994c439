//! What the fleet's services share: a small HTTP/1.1 server on a multi-threaded
//! tokio runtime, generic over the service's handler (so each service compiles its
//! own instance of it, as real services do with their framework), JSON answers and
//! a self-check client, and [`service!`], the store and routes of one service.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A request's method, path and body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub body: Vec<u8>,
}

/// An answer: status, content type and body.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub kind: &'static str,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json<T: Serialize>(value: &T) -> Response {
        match serde_json::to_vec(value) {
            Ok(body) => Response { status: 200, kind: "application/json", body },
            Err(e) => Response::text(500, &e.to_string()),
        }
    }

    pub fn text(status: u16, text: &str) -> Response {
        Response { status, kind: "text/plain", body: text.as_bytes().to_vec() }
    }
}

/// A service's handler.
pub trait Handler: Send + Sync + 'static {
    fn handle(&self, req: Request) -> impl Future<Output = Response> + Send;
}

async fn connection<H: Handler>(mut s: TcpStream, h: Arc<H>) {
    let mut buf = Vec::with_capacity(4096);
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
        let mut words = head.split_whitespace();
        let method = words.next().unwrap_or("GET").to_string();
        let path = words.next().unwrap_or("/").to_string();
        let len: usize = head
            .lines()
            .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string()))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        while buf.len() < len {
            let mut chunk = [0u8; 4096];
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body: Vec<u8> = buf.drain(..len).collect();
        let r = h.handle(Request { method, path, body }).await;
        let mut out = format!(
            "HTTP/1.1 {} X\r\nContent-Type: {}\r\nContent-Length: {}\r\n\r\n",
            r.status,
            r.kind,
            r.body.len()
        )
        .into_bytes();
        out.extend_from_slice(&r.body);
        let close = head.to_ascii_lowercase().contains("connection: close");
        if s.write_all(&out).await.is_err() || close {
            return;
        }
    }
}

/// Serve `h` on `listener` until the process ends.
pub async fn serve<H: Handler>(listener: TcpListener, h: H) {
    let h = Arc::new(h);
    loop {
        if let Ok((s, _)) = listener.accept().await {
            let _ = s.set_nodelay(true);
            tokio::spawn(connection(s, h.clone()));
        }
    }
}

/// `GET`/`POST` `path` on `addr`: the answer's body.
pub async fn call(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> std::io::Result<String> {
    let mut s = TcpStream::connect(addr).await?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await?;
    s.write_all(body).await?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).await?;
    let at = out.windows(4).position(|w| w == b"\r\n\r\n").map_or(out.len(), |i| i + 4);
    Ok(String::from_utf8_lossy(&out[at..]).into_owned())
}

/// `NAME serve ADDR` serves `h`; `NAME check` serves on a loopback port, calls
/// `checks` against itself and prints each answer's length.
pub fn main<H: Handler>(name: &str, h: H, checks: &[(&str, &str, &str)]) {
    let args: Vec<String> = std::env::args().collect();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime");
    match args.get(1).map(String::as_str) {
        Some("serve") => {
            let addr = args.get(2).cloned().unwrap_or_else(|| "0.0.0.0:8080".into());
            rt.block_on(async {
                let l = TcpListener::bind(&addr).await.expect("bind");
                eprintln!("{name}: serving on {addr}");
                serve(l, h).await
            });
        }
        _ => rt.block_on(async {
            let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let addr = l.local_addr().expect("addr");
            tokio::spawn(serve(l, h));
            for (method, path, body) in checks {
                let got = call(addr, method, path, body.as_bytes()).await.expect("call");
                println!("{name}: {method} {path} -> {} bytes", got.len());
            }
        }),
    }
}

/// A service of `$ty` records (a `Serialize + Deserialize + Clone` type with a
/// `seed(i)` constructor) at `/$plural`: listed, looked up, created and
/// summarised as JSON, in memory behind a tokio mutex. Expanded in each service's
/// own crate, as a framework's routes and handlers are compiled there.
#[macro_export]
macro_rules! service {
    ($ty:ident, $name:literal, $plural:literal) => {
        #[derive(Debug, serde::Serialize)]
        struct Summary {
            service: &'static str,
            count: usize,
            first: Option<$ty>,
            by_bucket: std::collections::BTreeMap<String, usize>,
        }

        struct Store {
            all: tokio::sync::Mutex<Vec<$ty>>,
        }

        impl Store {
            fn seeded(n: usize) -> Store {
                Store { all: tokio::sync::Mutex::new((0..n).map($ty::seed).collect()) }
            }

            async fn list(&self, offset: usize, limit: usize) -> $crate::Response {
                let all = self.all.lock().await;
                let page: Vec<&$ty> = all.iter().skip(offset).take(limit).collect();
                $crate::Response::json(&page)
            }

            async fn get(&self, index: usize) -> $crate::Response {
                match self.all.lock().await.get(index) {
                    Some(x) => $crate::Response::json(x),
                    None => $crate::Response::text(404, concat!("no such ", $name)),
                }
            }

            async fn create(&self, body: &[u8]) -> $crate::Response {
                match serde_json::from_slice::<$ty>(body) {
                    Ok(x) => {
                        self.all.lock().await.push(x.clone());
                        $crate::Response::json(&x)
                    }
                    Err(e) => $crate::Response::text(400, &e.to_string()),
                }
            }

            async fn summary(&self) -> $crate::Response {
                let all = self.all.lock().await;
                let mut by_bucket = std::collections::BTreeMap::new();
                for x in all.iter() {
                    let len = serde_json::to_string(x).map_or(0, |s| s.len());
                    *by_bucket.entry(format!("len{}", len / 16)).or_insert(0) += 1;
                }
                $crate::Response::json(&Summary {
                    service: $name,
                    count: all.len(),
                    first: all.first().cloned(),
                    by_bucket,
                })
            }
        }

        impl $crate::Handler for Store {
            async fn handle(&self, req: $crate::Request) -> $crate::Response {
                let (path, query) = req.path.split_once('?').unwrap_or((req.path.as_str(), ""));
                let param = |key: &str| {
                    query.split('&').find_map(|kv| kv.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
                };
                let list = concat!("/", $plural);
                match (req.method.as_str(), path) {
                    ("GET", p) if p == list => self.list(param("offset").unwrap_or(0), param("limit").unwrap_or(50)).await,
                    ("POST", p) if p == list => self.create(&req.body).await,
                    ("GET", "/summary") => self.summary().await,
                    ("GET", "/healthz") => $crate::Response::text(200, "ok"),
                    ("GET", p) => match p.strip_prefix(list).and_then(|r| r.strip_prefix('/')).and_then(|i| i.parse().ok()) {
                        Some(i) => self.get(i).await,
                        None => $crate::Response::text(404, "not found"),
                    },
                    _ => $crate::Response::text(405, "method not allowed"),
                }
            }
        }

        fn main() {
            let sample = serde_json::to_string(&$ty::seed(1)).unwrap_or_default();
            let list = concat!("/", $plural);
            $crate::main(
                $name,
                Store::seeded(500),
                &[
                    ("GET", &format!("{list}?limit=10"), ""),
                    ("POST", list, sample.as_str()),
                    ("GET", &format!("{list}/3"), ""),
                    ("GET", "/summary", ""),
                ],
            );
        }
    };
}
