//! Push: an image archive → an OCI registry, under one or more tags.
//!
//! In: any valid image archive ([`oci::peek`]: cargo-slim's tarball, an OCI archive
//! from skopeo or `docker save`, a docker-archive, a multi-platform OCI archive)
//! and a reference like `ghcr.io/acme/app:1.2.0` — the reference decides where the
//! image goes, whatever name the archive gives itself. Out: [`Pushed`], whose
//! `repository@digest` is what a deployment should pin (for a multi-platform
//! archive, the image index's digest), also written to the `--image-refs` file
//! when [`PushOptions`] names one. The steps:
//!
//! 1. find credentials ([`auth`]) and CA files: cheap, so a missing credential
//!    helper fails before the long check of a big tarball;
//! 2. read the archive's documents ([`oci::peek`]: manifests and indexes
//!    hashed, blob sizes compared with their descriptors), then check every blob
//!    byte ([`oci::check`]: digests, `diff_id`s, tar streams) on a second
//!    thread while 3 runs — a corrupted file is refused before anything is
//!    uploaded. An unchanged file that passed before is not re-hashed
//!    ([`verified`]);
//! 3. ping the registry ([`transport`]): scheme, auth challenge, and a wrong
//!    password caught once, up front; then HEAD the tags — when one already names
//!    our manifest (or index), the registry has every image blob and a re-push
//!    only reads (an attached artifact's blobs are still asked for: an SBOM may
//!    be new) — else HEAD every blob (each once, however many platforms share it);
//! 4. upload only the missing blobs, streamed from the file ([`layout`]), with a
//!    progress bar on a TTY; `--timeout` is a progress timeout here ([`retry::retry_upload`]);
//! 5. PUT each platform's manifest by digest (with an index on top), then the top
//!    document's raw bytes exactly as they are in the archive (so the registry's
//!    digest is the local one) under every tag that does not name it yet, then
//!    check the registry's `Docker-Content-Digest` for it equals ours. One image
//!    whose tarball index only adds its SBOMs is pushed as the image manifest;
//!    a multi-platform index that lists SBOMs goes as it is, after them;
//! 6. attach the SBOMs (`referrers`): each artifact manifest whose `subject`
//!    is an image pushed is PUT by digest and listed as a referrer of it — by the
//!    registry's referrers API, else under the `sha256-<hex>` tag, merged with
//!    what that tag holds. Other artifacts (no subject among the images, blobs
//!    missing) are skipped with a note.
//!
//! Every request goes through push's own registry client (`client`: blobs,
//! manifests, referrers; `token`: the Bearer flow; `transport`: the ping, TLS and
//! redirects) on `reqwest`, each body read with a cap. All of it
//! runs on a current-thread tokio runtime (push is I/O bound; a few concurrent
//! uploads need no thread pool), each request in a bounded retry for connection
//! errors, 429 and 5xx.

pub mod auth;
mod bars;
mod body;
pub mod client;
mod helper;
pub mod layout;
mod manifests;
mod options;
mod referrers;
pub mod remote;
pub mod retry;
mod signatures;
pub mod token;
pub mod transport;
pub mod verified;

use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use futures_util::future::try_join_all;

use crate::error::{io_failure, Failure};
use crate::oci;
use crate::reference::Reference;
use crate::shell::Shell;
use crate::units::human;
use client::Client;
use options::all_tags;
pub use options::{write_image_refs, PushOptions, Pushed};
pub use transport::RetryPolicy;
use transport::{gave_up, retry, Attempt, Tls};

/// Push the image tarball at `tarball` to `opts.reference` (plus `opts.extra_tags`).
pub fn push(tarball: &Path, opts: &PushOptions, shell: &Shell) -> Result<Pushed> {
    let started = Instant::now();
    opts.check_image_refs()?;
    // A FIFO or a device is refused before credentials, network or any read.
    crate::io::open_regular(tarball, "an image tarball")?;
    let target = Reference::parse(&opts.reference)?;
    let tags = all_tags(&target, &opts.extra_tags)?;

    // 1. Credentials and CAs.
    let (cred, tls) = credentials(&target, opts, shell)?;

    // 2. The archive. The documents and the blob list are read first (small); the
    // full check of every byte runs on a second thread while the registry is
    // pinged and asked which blobs it has — and must pass before any upload.
    let (peek, stamp, memo) = read_archive(tarball, shell)?;
    let rt = runtime()?;
    let job = Job {
        tarball,
        target: &target,
        tags: &tags,
        peek: &peek,
        cred: cred.as_ref(),
        tls: &tls,
        opts,
        shell,
    };
    let (uploaded, skipped) = std::thread::scope(|s| -> Result<(usize, usize)> {
        let check = (!memo).then(|| s.spawn(|| oci::check(tarball)));
        let prepared = rt.block_on(job.prepare());
        if let Some(check) = check {
            let checked = check
                .join()
                .unwrap_or_else(|_| Err(Failure::new("the archive check panicked")));
            accept(tarball, &peek, stamp, checked)?;
            shell.verbose(
                "Timing",
                format!("archive checked in {:.3}s", started.elapsed().as_secs_f64()),
            );
        }
        rt.block_on(job.finish(prepared?))
    })?;
    let pushed = Pushed {
        repository: format!("{}/{}", target.registry, target.repository),
        digest: peek.digest().to_string(),
        tags,
        blobs_uploaded: uploaded,
        blobs_skipped: skipped,
    };
    shell.status(
        "Finished",
        format!(
            "{} ({} uploaded, {} already present) in {:.2}s",
            pushed.pinned(),
            plural(uploaded, "blob"),
            skipped,
            started.elapsed().as_secs_f64()
        ),
    );
    if let Some(path) = &opts.image_refs {
        write_image_refs(path, &[pushed.pinned()])?;
    }
    Ok(pushed)
}

/// Step 1: the credentials for the registry (said in verbose output) and the
/// TLS settings with the CAs of `--ca-file`.
fn credentials(
    target: &Reference,
    opts: &PushOptions,
    shell: &Shell,
) -> Result<(Option<auth::Credential>, Tls)> {
    let cred = auth::find(&target.registry, opts.retry.timeout)?;
    if let Some(c) = &cred {
        shell.verbose(
            "Credentials",
            format!(
                "{}: user `{}` from {}",
                target.registry, c.username, c.source
            ),
        );
    }
    let tls = Tls {
        extra_roots: transport::load_roots(opts.ca_file.as_deref())?,
        insecure: opts.insecure,
    };
    Ok((cred, tls))
}

/// Step 2, the quick part: the archive's documents and blob list, the file's
/// stamp, and whether this very file already passed the full check.
fn read_archive(
    tarball: &Path,
    shell: &Shell,
) -> Result<(oci::Peek, Option<verified::Stamp>, bool)> {
    std::fs::metadata(tarball).map_err(|e| io_failure("read", tarball, &e))?;
    shell.status("Verifying", tarball.display());
    let stamp = verified::Stamp::of(tarball);
    let peek = oci::peek(tarball).map_err(|e| refuse(tarball, e))?;
    describe(&peek, shell);
    let memo = verified::is_verified(tarball, stamp, peek.digest());
    if memo {
        shell.verbose(
            "Verified",
            format!(
                "{} is unchanged since it passed the full check",
                tarball.display()
            ),
        );
    }
    Ok((peek, stamp, memo))
}

/// Step 2, the full check's verdict: it passed, on the bytes `peek` read (else
/// the file changed in between); remembered so an unchanged file is not
/// checked again.
fn accept(
    tarball: &Path,
    peek: &oci::Peek,
    stamp: Option<verified::Stamp>,
    checked: std::result::Result<String, Failure>,
) -> Result<()> {
    let digest = checked.map_err(|e| refuse(tarball, e))?;
    if digest != peek.digest() {
        return Err(refuse(
            tarball,
            Failure::new(format!(
                "the file changed while it was read: {} then {digest}",
                peek.digest(),
            )),
        )
        .into());
    }
    verified::remember(tarball, stamp, &digest);
    Ok(())
}

/// The runtime the registry steps run on: one thread, as push is I/O bound.
fn runtime() -> Result<tokio::runtime::Runtime> {
    // ring, not aws-lc: aws-lc seeds its RNG from CPU jitter, ~20 ms of CPU on
    // every run — half of an unchanged re-push. Installing fails harmlessly if the
    // process already chose a provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// The failure for an archive that did not pass the check: what is wrong with
/// it, and that nothing was uploaded.
fn refuse(tarball: &Path, e: Failure) -> Failure {
    let mut f = Failure::new(format!(
        "refusing to push `{}`: {}",
        tarball.display(),
        e.what
    ));
    f.details = e.details;
    f.details.push("nothing was uploaded".into());
    f.help = e.help;
    f
}

/// Say what the archive holds and what is left out (verbose: its own name).
fn describe(peek: &oci::Peek, shell: &Shell) {
    if let Some(name) = &peek.name {
        shell.verbose(
            "Archive",
            format!(
                "{} archive naming itself `{name}` (the reference given decides where it goes)",
                peek.format.as_str()
            ),
        );
    }
    if !peek.children.is_empty() {
        let platforms: Vec<&str> = peek
            .children
            .iter()
            .map(|c| c.platform.as_deref().unwrap_or("?"))
            .collect();
        shell.verbose(
            "Index",
            format!("{} ({})", short(peek.digest()), platforms.join(", ")),
        );
    }
    for n in &peek.notes {
        shell.note(n);
    }
    for a in &peek.artifacts {
        shell.note(format!(
            "skipping artifact {} ({}): only artifacts with a `subject` among the images pushed (and all their blobs in the archive) are sent",
            short(&a.descriptor.digest),
            a.artifact_type.as_deref().unwrap_or("no artifact type")
        ));
    }
    if !peek.attached.is_empty() {
        shell.verbose(
            "Artifacts",
            format!(
                "{} attached to the images, sent as their referrers",
                plural(peek.attached.len(), "artifact")
            ),
        );
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

pub(super) fn short(digest: &str) -> &str {
    &digest[..digest.len().min("sha256:".len() + 12)]
}

/// A registry ready to take blobs: logged in, and which blobs it has.
struct Prepared {
    client: Client,
    base: String,
    /// Per `Peek::blobs`: already in the registry.
    present: Vec<bool>,
    /// Per tag: the digest it pointed at before this push.
    tag_digests: Vec<Option<String>>,
    /// Per subject of an attached artifact: what the registry lists as its
    /// referrers already (read up front when the tag names our image).
    listed: referrers::Listed,
}

/// The host that serves the registry API of `registry` (`docker.io` is
/// `index.docker.io`, as docker and podman resolve it).
fn api_host(registry: &str) -> &str {
    if registry == "docker.io" {
        "index.docker.io"
    } else {
        registry
    }
}

/// Everything the async part needs, borrowed.
struct Job<'a> {
    tarball: &'a Path,
    target: &'a Reference,
    tags: &'a [String],
    peek: &'a oci::Peek,
    cred: Option<&'a auth::Credential>,
    tls: &'a Tls,
    opts: &'a PushOptions,
    shell: &'a Shell,
}

impl Job<'_> {
    /// Ping, log in, and ask which blobs the registry already has. Uploads nothing.
    async fn prepare(&self) -> Result<Prepared> {
        let shell = self.shell;
        let t = Instant::now();
        let (client, base) = self.connect(t).await?;

        // 4. Blobs: HEAD all (here), upload the missing (in `finish`).
        let total: u64 = self.peek.blobs.iter().map(|j| j.range.size).sum();
        shell.status(
            "Pushing",
            format!(
                "{}/{}:{} ({}, {})",
                self.target.registry,
                self.target.repository,
                self.tags[0],
                plural(self.peek.blobs.len(), "blob"),
                human(total)
            ),
        );
        // What the tags point at now. If one already names our manifest, the
        // registry holds every blob it references (it accepted that manifest).
        let tag_digests = try_join_all(
            self.tags
                .iter()
                .map(|tag| self.remote_digest(&client, &base, tag)),
        )
        .await?;
        let manifest_there = tag_digests
            .iter()
            .any(|d| d.as_deref() == Some(self.peek.digest()));
        // The tag names our image already: its blobs are there. An attached
        // artifact's are too when the registry lists it as a referrer; else (an
        // SBOM added since) they are asked for.
        let listed = if manifest_there {
            self.listed_all(&client).await
        } else {
            referrers::Listed::default()
        };
        let all_listed = manifest_there && listed.has_all(&self.peek.attached);
        let present = self
            .blobs_present(&client, &base, manifest_there, all_listed)
            .await?;
        shell.verbose(
            "Timing",
            format!("registry ready in {:.3}s", t.elapsed().as_secs_f64()),
        );
        Ok(Prepared {
            client,
            base,
            present,
            tag_digests,
            listed,
        })
    }

    /// Ping the registry (step 3, timed from `t`) and log in: a client for the
    /// repository, and the base URL the registry answered on.
    async fn connect(&self, t: Instant) -> Result<(Client, String)> {
        let (shell, policy) = (self.shell, &self.opts.retry);
        let endpoint = transport::ping(
            api_host(&self.target.registry),
            self.tls,
            self.opts.insecure,
            self.cred,
            policy,
            shell,
        )
        .await?;
        shell.verbose(
            "Timing",
            format!("ping in {:.3}s", t.elapsed().as_secs_f64()),
        );
        let base = format!("{}://{}", endpoint.scheme.as_str(), endpoint.registry);
        let auth = token::Authorizer::new(
            &endpoint,
            &self.target.repository,
            self.cred,
            self.opts.insecure,
            |scheme| transport::http_client(self.tls, scheme, policy.timeout),
        )?;
        let client = Client::new(&endpoint, &self.target.repository, auth)?;
        self.get_token(&client, &endpoint).await?;
        Ok((client, base))
    }

    /// With a Bearer token service: get the token now, so wrong credentials fail
    /// once, naming the registry (and warn when the service is plain HTTP behind
    /// TLS).
    async fn get_token(&self, client: &Client, endpoint: &transport::Endpoint) -> Result<()> {
        let (shell, policy) = (self.shell, &self.opts.retry);
        let registry = &self.target.registry;
        let Some(realm) = client.authorizer().realm() else {
            return Ok(());
        };
        if realm.scheme() == "http" && endpoint.scheme == transport::Scheme::Https {
            shell.warn(format!(
                "{registry} speaks TLS, but its token service {realm} is plain HTTP: with --insecure, the credentials and the token cross the network in clear"
            ));
        }
        let realm = realm.to_string();
        shell.verbose("Token", format!("from {realm} (Bearer)"));
        retry(
            policy,
            &format!("GET a token from {realm}"),
            shell,
            Attempt::clone,
            || client.authorizer().login(),
        )
        .await
        .map_err(|g| match (&g.last.message, self.cred) {
            (m, Some(c)) if m.starts_with("401") || m.starts_with("403") => {
                transport::rejected(registry, c, 401)
                    .detail(format!("token service: {}", first_line(m)))
            }
            _ => gave_up(g, "get a token", &realm),
        })?;
        Ok(())
    }

    /// Per blob: whether the registry has it. Not asked when the tag names our
    /// manifest (`manifest_there`), except for an attached artifact's blobs
    /// when the registry does not list them all yet (`all_listed`).
    async fn blobs_present(
        &self,
        client: &Client,
        base: &str,
        manifest_there: bool,
        all_listed: bool,
    ) -> Result<Vec<bool>> {
        let (shell, policy) = (self.shell, &self.opts.retry);
        let present = try_join_all(self.peek.blobs.iter().map(|j| async move {
            if manifest_there && (j.kind != referrers::ARTIFACT_BLOB || all_listed) {
                return Ok(true);
            }
            retry(
                policy,
                &format!("HEAD {} {}", j.kind, short(&j.digest)),
                shell,
                Attempt::clone,
                || client.blob_exists(&j.digest),
            )
            .await
            .map_err(|g| gave_up(g, &format!("check {} {}", j.kind, j.digest), base))
        }))
        .await?;
        for (j, p) in self.peek.blobs.iter().zip(&present) {
            if *p {
                shell.verbose(
                    "Skipping",
                    format!(
                        "{} {} (already in {})",
                        j.kind,
                        short(&j.digest),
                        self.target.registry
                    ),
                );
            }
        }
        Ok(present)
    }

    /// The digest `tag` points at in the registry, `None` if it does not exist.
    async fn remote_digest(
        &self,
        client: &Client,
        base: &str,
        tag: &str,
    ) -> Result<Option<String>> {
        let (shell, policy) = (self.shell, &self.opts.retry);
        let what = format!("HEAD manifest {}:{tag}", self.target.repository);
        let media_type = &self.peek.top.media_type;
        retry(policy, &what, shell, Attempt::clone, || {
            client.manifest_digest(tag, media_type)
        })
        .await
        .map_err(|g| gave_up(g, &format!("read the digest of `{tag}`"), base).into())
    }

    /// Upload the missing blobs, then the manifest under every tag.
    async fn finish(&self, p: Prepared) -> Result<(usize, usize)> {
        let shell = self.shell;
        let t = Instant::now();
        let Prepared {
            client,
            base,
            present,
            tag_digests,
            listed,
        } = p;
        let missing: Vec<&oci::BlobRef> = self
            .peek
            .blobs
            .iter()
            .zip(&present)
            .filter(|(_, p)| !**p)
            .map(|(j, _)| j)
            .collect();
        self.upload(&client, &base, &missing).await?;
        shell.verbose(
            "Timing",
            format!("blobs uploaded in {:.3}s", t.elapsed().as_secs_f64()),
        );
        self.put_manifests(&client, &base, &tag_digests).await?;
        let attach = async {
            self.put_referrers(&client, &base, listed).await?;
            self.put_signature_tags(&client, &base).await
        };
        attach
            .await
            .map_err(|e| {
                let f = match e.downcast::<Failure>() {
                    Ok(f) => f,
                    Err(e) => Failure::new(format!("{e:#}")),
                };
                f.detail(format!(
                    "the image itself is pushed: {}/{}@{}",
                    self.target.registry,
                    self.target.repository,
                    self.peek.digest()
                ))
                .detail("only attaching its SBOMs or signatures failed: push again to attach them (what is there is not sent twice)")
            })?;
        Ok((missing.len(), self.peek.blobs.len() - missing.len()))
    }
}

impl Job<'_> {
    /// Upload `missing` (blobs of the archive the registry lacks), side by side.
    async fn upload(&self, client: &Client, base: &str, missing: &[&oci::BlobRef]) -> Result<()> {
        let (shell, policy) = (self.shell, &self.opts.retry);
        let bars = bars::bars(self.opts.progress, shell);
        try_join_all(missing.iter().map(|j| {
            let bars = &bars;
            async move {
                shell.status(
                    "Uploading",
                    format!("{} {} ({})", j.kind, short(&j.digest), human(j.range.size)),
                );
                let bar = bars::bar(bars.as_ref(), j.range.size, short(&j.digest));
                let watch = retry::Progress::new(j.range.size);
                let body = || {
                    reqwest::Body::wrap_stream(layout::blob_stream(
                        self.tarball.to_path_buf(),
                        j.range,
                        bar.clone(),
                        Some(watch.clone()),
                    ))
                };
                let r = retry::retry_upload(
                    policy,
                    &format!("upload {} {}", j.kind, j.digest),
                    shell,
                    Attempt::clone,
                    &watch,
                    || client.upload_blob(&j.digest, j.range.size, body),
                )
                .await;
                if let Some(b) = bar {
                    b.finish_and_clear();
                }
                r.map_err(|g| gave_up(g, &format!("upload {} {}", j.kind, j.digest), base))
            }
        }))
        .await?;
        Ok(())
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}
