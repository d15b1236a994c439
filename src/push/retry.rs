//! Retrying one network step: which failures deserve another try, how long to
//! wait, and the error a user reads when the step gives up.
//!
//! In: a step (an async closure), a [`RetryPolicy`] and a classifier of its
//! errors. Out: the step's value, or [`GaveUp`] with every fact the message
//! needs. Connection errors, 429 and 5xx are retried with exponential backoff, a
//! bounded number of times, with a cargo-style "spurious network error" warning;
//! anything else fails at once. A step never runs past [`RetryPolicy::timeout`]
//! (`--timeout`): each try gets what is left of it, and a try that timed out is
//! not repeated — a registry that let a whole timeout pass in silence is not
//! answering. Kept apart from `transport` (schemes, TLS, the ping), which uses it
//! for every request.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::Failure;
use crate::shell::Shell;

/// How often, and how patiently, to retry a failed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total tries per request, the first included (at least 1).
    pub attempts: u32,
    /// Wait before the second try; doubled each time after.
    pub initial_backoff: Duration,
    /// Upper bound for one wait.
    pub max_backoff: Duration,
    /// The longest wait on the registry: for one request (connecting included), and
    /// for one step across all its tries. `--timeout`.
    pub timeout: Duration,
}

/// `--timeout` when not given.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(4),
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

impl RetryPolicy {
    /// The default policy, with `timeout` (`--timeout`) when one is given.
    pub fn with_timeout(timeout: Option<Duration>) -> RetryPolicy {
        let default = RetryPolicy::default();
        RetryPolicy {
            timeout: timeout.unwrap_or(default.timeout),
            ..default
        }
    }

    fn backoff(&self, failed_attempts: u32) -> Duration {
        let factor = 2u32.saturating_pow(failed_attempts.saturating_sub(1));
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

/// `3s`, `1.5s`: a timeout as the user wrote it.
pub fn seconds(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

/// One failed try: whether it is worth another, and what to tell the user.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub retryable: bool,
    pub message: String,
    /// Set when the cause is a certificate we do not trust.
    pub certificate: bool,
    pub refused: bool,
    /// No answer within the timeout: never retried.
    pub timed_out: bool,
}

impl Attempt {
    pub(super) fn fatal(message: String) -> Attempt {
        Attempt {
            retryable: false,
            message,
            certificate: false,
            refused: false,
            timed_out: false,
        }
    }

    pub(super) fn timed_out(message: String) -> Attempt {
        Attempt {
            timed_out: true,
            ..Attempt::fatal(message)
        }
    }
}

/// `e` and all its sources, de-duplicated, joined with `: `.
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        let s = err.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        cur = err.source();
    }
    parts.join(": ")
}

pub fn from_reqwest(e: &reqwest::Error) -> Attempt {
    let message = chain(e);
    let lower = message.to_ascii_lowercase();
    let certificate = lower.contains("certificate") || lower.contains("unknownissuer");
    let refused = lower.contains("connection refused");
    let timed_out = e.is_timeout() || lower.contains("timed out");
    let retryable = if let Some(s) = e.status() {
        retryable_status(s.as_u16())
    } else {
        !certificate && !timed_out && (e.is_connect() || e.is_request() || e.is_body())
    };
    Attempt {
        retryable,
        message,
        certificate,
        refused,
        timed_out,
    }
}

/// Whether an answer with `status` is worth another try: 429 and 5xx.
pub(super) fn retryable_status(status: u16) -> bool {
    status == 429 || (500..600).contains(&status)
}

/// `s` cut to `n` characters with `…`, and without control characters: what a
/// registry sends may hold terminal escapes, and this text goes to a terminal.
pub(super) fn truncate(s: &str, n: usize) -> String {
    let clean: String = s.chars().filter(|c| !c.is_control()).collect();
    if clean.chars().count() <= n {
        clean
    } else {
        format!("{}…", clean.chars().take(n).collect::<String>())
    }
}

/// Everything tried, and why it failed.
#[derive(Debug)]
pub struct GaveUp {
    pub attempts: u32,
    pub elapsed: Duration,
    pub last: Attempt,
    /// The policy's timeout (for the error's wording).
    pub timeout: Duration,
}

/// The most a connection may hold of a body its receiver has not read yet
/// (Linux's largest default send plus receive buffers, rounded up).
pub const MAX_BUFFERED: u64 = 8 << 20;
/// The slowest rate (bytes per second) a registry is given to drain that.
pub const SLOWEST_DRAIN: u64 = 128 << 10;

/// How far one upload has got: the bytes its body handed to the connection, and
/// when. Shared between the body stream (which advances it) and the watchdog of
/// [`retry_upload`] (which reads it).
#[derive(Debug, Clone)]
pub struct Progress(Arc<Mutex<ProgressState>>);

#[derive(Debug)]
struct ProgressState {
    last: Instant,
    sent: u64,
    size: u64,
}

impl Progress {
    /// An upload of `size` bytes, not started.
    pub fn new(size: u64) -> Progress {
        let now = Instant::now();
        Progress(Arc::new(Mutex::new(ProgressState {
            last: now,
            sent: 0,
            size,
        })))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, ProgressState> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new try: nothing sent yet, the clock starts now.
    pub fn restart(&self) {
        let mut s = self.state();
        (s.last, s.sent) = (Instant::now(), 0);
    }

    /// `n` more bytes were taken by the connection.
    pub fn advance(&self, n: u64) {
        let mut s = self.state();
        s.sent += n;
        s.last = Instant::now();
    }

    /// Bytes of this try taken so far, and of how many.
    pub fn sent(&self) -> (u64, u64) {
        let s = self.state();
        (s.sent, s.size)
    }

    /// When the try fails unless more bytes go: `timeout` after the last ones.
    /// Once the whole body is handed over, the answer may also wait for the bytes
    /// still buffered in the connection: the kernel takes megabytes at once (on
    /// loopback the whole of a 2 MiB blob), and no process can see how much of
    /// that the registry has read. So the registry gets the time to drain up to
    /// [`MAX_BUFFERED`] at [`SLOWEST_DRAIN`] on top of the timeout.
    fn deadline(&self, timeout: Duration) -> Instant {
        let s = self.state();
        if s.sent >= s.size && s.size > 0 {
            let buffered = s.size.min(MAX_BUFFERED) as f64;
            s.last + timeout + Duration::from_secs_f64(buffered / SLOWEST_DRAIN as f64)
        } else {
            s.last + timeout
        }
    }
}

/// Resolves when `p` has made no progress for `timeout`.
async fn stalled(p: &Progress, timeout: Duration) {
    loop {
        let deadline = p.deadline(timeout);
        if Instant::now() >= deadline {
            return;
        }
        tokio::time::sleep_until(deadline.into()).await;
    }
}

/// Run `op` until it succeeds, fails for good, or `policy` runs out of tries or
/// time: each try gets what is left of `policy.timeout`, and no try starts (or
/// backoff sleeps) past it.
pub async fn retry<T, E, F, Fut>(
    policy: &RetryPolicy,
    what: &str,
    shell: &Shell,
    classify: impl Fn(&E) -> Attempt,
    op: F,
) -> std::result::Result<T, GaveUp>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<T, E>>,
{
    retry_with(policy, what, shell, classify, op, None).await
}

/// [`retry`] for a blob upload, where `--timeout` is a progress timeout: a try
/// fails only when `progress` (advanced by the body stream) stands still for the
/// timeout — a big blob may take as long as it takes while bytes keep going.
pub async fn retry_upload<T, E, F, Fut>(
    policy: &RetryPolicy,
    what: &str,
    shell: &Shell,
    classify: impl Fn(&E) -> Attempt,
    progress: &Progress,
    op: F,
) -> std::result::Result<T, GaveUp>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<T, E>>,
{
    retry_with(policy, what, shell, classify, op, Some(progress)).await
}

async fn retry_with<T, E, F, Fut>(
    policy: &RetryPolicy,
    what: &str,
    shell: &Shell,
    classify: impl Fn(&E) -> Attempt,
    mut op: F,
    progress: Option<&Progress>,
) -> std::result::Result<T, GaveUp>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<T, E>>,
{
    let started = Instant::now();
    let mut deadline = started + policy.timeout;
    let attempts = policy.attempts.max(1);
    let mut n = 0;
    loop {
        n += 1;
        let a = if let Some(p) = progress {
            p.restart();
            let (run, watch) = (
                std::pin::pin!(op()),
                std::pin::pin!(stalled(p, policy.timeout)),
            );
            let r = match futures_util::future::select(run, watch).await {
                futures_util::future::Either::Left((r, _)) => Some(r),
                futures_util::future::Either::Right(_) => None,
            };
            // An upload's step ends a timeout after its last progress.
            deadline = Instant::now() + policy.timeout;
            match r {
                Some(Ok(v)) => return Ok(v),
                Some(Err(e)) => classify(&e),
                None => {
                    let (sent, size) = p.sent();
                    Attempt::timed_out(format!(
                        "{what}: no answer within {}: the registry took no more bytes after {sent} of {size} were sent",
                        seconds(policy.timeout)
                    ))
                }
            }
        } else {
            let left = deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1));
            match tokio::time::timeout(left, op()).await {
                Ok(Ok(v)) => return Ok(v),
                Ok(Err(e)) => classify(&e),
                Err(_) => Attempt::timed_out(format!(
                    "{what}: no answer within {}",
                    seconds(policy.timeout)
                )),
            }
        };
        let wait = policy.backoff(n);
        if !a.retryable || n >= attempts || Instant::now() + wait >= deadline {
            return Err(GaveUp {
                attempts: n,
                elapsed: started.elapsed(),
                last: a,
                timeout: policy.timeout,
            });
        }
        shell.warn(format!(
            "spurious network error ({} tries remaining, next in {:.2}s): {what}: {}",
            attempts - n,
            wait.as_secs_f64(),
            a.message
        ));
        tokio::time::sleep(wait).await;
    }
}

/// A user-facing failure for a step that gave up.
pub fn gave_up(g: GaveUp, what: &str, endpoint: &str) -> Failure {
    let mut f = if g.last.certificate {
        Failure::new(format!("the TLS certificate of {endpoint} is not trusted"))
    } else if g.last.timed_out {
        Failure::new(format!(
            "could not {what} at {endpoint}: no answer within the timeout of {} (--timeout)",
            seconds(g.timeout)
        ))
    } else {
        Failure::new(format!("could not {what} at {endpoint}"))
    };
    if g.attempts > 1 {
        f = f.detail(format!(
            "gave up after {} attempts in {:.1}s",
            g.attempts,
            g.elapsed.as_secs_f64()
        ));
    }
    f = f.detail(format!("last error: {}", g.last.message));
    let help = if g.last.timed_out {
        format!(
            "is {endpoint} up and reachable? It sent no answer in {} (each request must be answered within the timeout; a blob upload may take longer as long as the registry keeps taking bytes). To wait longer, pass `--timeout SECONDS` (default {})",
            seconds(g.timeout),
            seconds(DEFAULT_TIMEOUT)
        )
    } else if g.last.certificate {
        "the registry's TLS certificate is not trusted: pass its CA with `--ca-file PATH` (or set SSL_CERT_FILE)".to_string()
    } else if g.last.refused {
        format!("is a registry running at {endpoint}? check the address and port")
    } else if g.last.message.contains("401 Unauthorized") {
        "check the credentials: `docker login`/`podman login`, or CARGO_SLIM_REGISTRY_USERNAME and CARGO_SLIM_REGISTRY_PASSWORD".to_string()
    } else if g.last.retryable {
        "the registry kept failing; try again later (a re-run skips every blob already uploaded)"
            .to_string()
    } else {
        String::new()
    };
    if !help.is_empty() {
        f = f.help(help);
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    fn policy(ms: u64) -> RetryPolicy {
        RetryPolicy {
            timeout: Duration::from_millis(ms),
            ..RetryPolicy::default()
        }
    }

    fn quiet() -> Shell {
        Shell::new(crate::shell::Verbosity::Quiet, Default::default())
    }

    /// A classifier that calls every error worth another try.
    fn retryable(message: &'static str) -> impl Fn(&u16) -> Attempt {
        move |_| Attempt {
            retryable: true,
            ..Attempt::fatal(message.into())
        }
    }

    /// `op` as the upload of a blob with progress `p`, a 200 ms timeout, and
    /// every error final.
    fn upload<F, Fut>(p: &Progress, op: F) -> std::result::Result<u32, GaveUp>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = std::result::Result<u32, u16>>,
    {
        rt().block_on(retry_upload(
            &policy(200),
            "upload layer x",
            &quiet(),
            |_: &u16| Attempt::fatal("no".into()),
            p,
            op,
        ))
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let p = RetryPolicy {
            attempts: 10,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(500),
            timeout: DEFAULT_TIMEOUT,
        };
        let waits: Vec<u128> = (1..6).map(|n| p.backoff(n).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 500, 500]);
    }

    #[test]
    fn a_given_timeout_replaces_only_the_default_timeout() {
        assert_eq!(RetryPolicy::with_timeout(None), RetryPolicy::default());
        let p = RetryPolicy::with_timeout(Some(Duration::from_secs(5)));
        assert_eq!(p.timeout, Duration::from_secs(5));
        assert_eq!(p.attempts, RetryPolicy::default().attempts);
    }

    #[test]
    fn retry_stops_after_the_policy() {
        let policy = RetryPolicy {
            attempts: 3,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(2),
            timeout: DEFAULT_TIMEOUT,
        };
        let shell = quiet();
        let mut calls = 0;
        let r: std::result::Result<(), GaveUp> =
            rt().block_on(retry(&policy, "x", &shell, retryable("boom"), || {
                calls += 1;
                async { Err(503u16) }
            }));
        assert_eq!(r.unwrap_err().attempts, 3);
        assert_eq!(calls, 3);

        let mut calls = 0;
        let r: std::result::Result<(), GaveUp> = rt().block_on(retry(
            &policy,
            "x",
            &shell,
            |_: &u16| Attempt::fatal("no".into()),
            || {
                calls += 1;
                async { Err(404u16) }
            },
        ));
        assert_eq!(r.unwrap_err().attempts, 1);
        assert_eq!(calls, 1);
    }

    #[test]
    fn a_silent_step_gives_up_after_one_timeout_naming_it() {
        let shell = quiet();
        let mut calls = 0;
        let started = Instant::now();
        let r: std::result::Result<(), GaveUp> = rt().block_on(retry(
            &policy(300),
            "GET /v2/",
            &shell,
            retryable("boom"),
            || {
                calls += 1;
                std::future::pending::<std::result::Result<(), u16>>()
            },
        ));
        let g = r.unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(g.last.timed_out);
        assert_eq!((g.attempts, calls), (1, 1), "a timeout is not retried");
        let f = gave_up(g, "reach the registry", "127.0.0.1:9");
        let text = format!("{f:?}");
        assert!(f.what.contains("127.0.0.1:9"), "{text}");
        assert!(f.what.contains("0.3s"), "{text}");
        assert!(text.contains("--timeout"), "{text}");

        // Quick retryable failures stop once the step has spent its timeout.
        let policy = RetryPolicy {
            attempts: 100,
            initial_backoff: Duration::from_millis(40),
            max_backoff: Duration::from_millis(40),
            timeout: Duration::from_millis(200),
        };
        let started = Instant::now();
        let r: std::result::Result<(), GaveUp> =
            rt().block_on(retry(&policy, "x", &shell, retryable("503"), || async {
                Err(503u16)
            }));
        let g = r.unwrap_err();
        assert!(g.attempts < 10, "{}", g.attempts);
        assert!(started.elapsed() < Duration::from_millis(400));
    }

    /// An upload that keeps moving outlasts its timeout; one that stops fails
    /// about one timeout after its last byte, saying how many went.
    #[test]
    fn an_upload_fails_only_when_it_stops_moving() {
        let p = Progress::new(1000);
        let started = Instant::now();
        // 10 bytes every 50 ms for 600 ms, with a 200 ms timeout: succeeds.
        let r = upload(&p, || async {
            for _ in 0..12 {
                tokio::time::sleep(Duration::from_millis(50)).await;
                p.advance(10);
            }
            Ok(7)
        });
        assert_eq!(r.unwrap(), 7);
        assert!(started.elapsed() >= Duration::from_millis(600));

        // 300 bytes, then silence: fails ~200 ms later, not retried.
        let started = Instant::now();
        let mut calls = 0;
        let r = upload(&p, || {
            calls += 1;
            async {
                for _ in 0..3 {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    p.advance(100);
                }
                std::future::pending::<std::result::Result<u32, u16>>().await
            }
        });
        let g = r.unwrap_err();
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(350), "{took:?}");
        assert!(took < Duration::from_millis(1500), "{took:?}");
        assert!(g.last.timed_out);
        assert_eq!((g.attempts, calls), (1, 1));
        assert!(
            g.last.message.contains("after 300 of 1000"),
            "{}",
            g.last.message
        );
    }
    /// Once the whole body is handed over, the answer may wait for what the
    /// connection still buffers: longer than the timeout, bounded.
    #[test]
    fn a_sent_body_gets_the_drain_allowance() {
        let p = Progress::new(1 << 20);
        let t = Duration::from_secs(1);
        let before = p.deadline(t);
        p.advance(1 << 20);
        let after = p.deadline(t);
        let allowance = Duration::from_secs_f64((1 << 20) as f64 / SLOWEST_DRAIN as f64);
        assert!(after >= before + allowance - Duration::from_millis(50));
        assert!(after <= Instant::now() + t + allowance);
        let huge = Progress::new(1 << 40);
        huge.advance(1 << 40);
        let cap = Duration::from_secs_f64(MAX_BUFFERED as f64 / SLOWEST_DRAIN as f64);
        assert!(huge.deadline(t) <= Instant::now() + t + cap);
    }
}
