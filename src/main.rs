//! The `cargo-slim` executable: parse arguments, run the library, print results on
//! stdout, and map errors to exit codes (0 ok, 1 error, 2 usage — clap's own,
//! 3 size budget exceeded, whatever the output format).

mod cli;

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use cargo_slim::commands::{self, build::build};
use cargo_slim::error::{BudgetExceeded, Failure};
use cargo_slim::push::{push, PushOptions};
use cargo_slim::report::BuildReport;
use cargo_slim::shell::{Shell, Verbosity};
use cargo_slim::verify::{verify_path, Report};
use cargo_slim::{config, engine};
use cli::{Command, IndexArgs, InitArgs, KeygenArgs, MessageFormat, RunArgs, SignArgs, VerifyArgs};

fn main() -> ExitCode {
    // cargo runs us as its RUSTC_WORKSPACE_WRAPPER when we link mimalloc.
    if let Some(code) = cargo_slim::compile::wrap::run_if_wrapper() {
        return code;
    }
    let args = cli::parse();
    if let Err(e) = cargo_slim::interrupt::install() {
        eprintln!("warning: cannot watch for Ctrl-C ({e}); an interrupt may leave temporary files");
    }
    let verbosity = if args.global.quiet {
        Verbosity::Quiet
    } else if args.global.verbose > 0 {
        Verbosity::Verbose
    } else {
        Verbosity::Normal
    };
    let shell = Shell::new(verbosity, args.global.color.into());
    let format = args.global.message_format;
    let result = match args.command {
        Command::Build(b) => config::resolve_all(&b.to_request()).and_then(|mut plans| {
            // The key is read (its password checked) before anything is built.
            let key = b.flags.sign_key();
            commands::sign::set_signers(&mut plans, key.as_deref(), cli::read_signer)?;
            // Before the build, not after it and the push.
            if let Some(p) = plans.iter().find_map(|p| p.push.as_ref()) {
                p.check_image_refs()?;
            }
            if b.load.engine.is_some() && !b.load.load {
                return Err(
                    Failure::new("`--engine` names where `--load` loads the image")
                        .help("add --load, or leave --engine out")
                        .usage()
                        .into(),
                );
            }
            let engine = b
                .load
                .load
                .then(|| engine::find(b.load.engine.map(Into::into)))
                .transpose()?;
            match plans.as_slice() {
                [plan] => build_one(plan, engine.as_ref(), format, &shell),
                _ => build_many(&plans, engine.as_ref(), format, &shell),
            }
        }),
        Command::Report(r) => {
            let plan = config::report_plan(&r.budget.to_request(), false, None);
            plan.and_then(|plan| commands::report::report(&r.tarball, &plan, &shell))
                .and_then(|(reports, over)| emit(format, &reports, over))
        }
        Command::Verify(v) => run_verify(&v, format, &shell),
        Command::Push(p) => p
            .sign
            .as_deref()
            .map(cli::read_signer)
            .transpose()
            .map_err(anyhow::Error::from)
            .and_then(|signer| {
                push_and_print(&p.tarball, &p.to_options(), signer.as_ref(), format, &shell)
            })
            .map(drop),
        Command::Index(i) => run_index(&i, format, &shell),
        Command::Init(i) => run_init(&i, format, &shell),
        Command::Keygen(k) => run_keygen(&k, format, &shell),
        Command::Sign(s) => run_sign(&s, format, &shell),
        Command::Run(r) => run_image(&r, &shell),
        Command::Resolve(r) => run_resolve(&r, &shell),
        Command::Load(l) => engine::find(l.engine.map(Into::into))
            .map_err(Into::into)
            .and_then(|e| load_and_print(&l.tarball, &e, format, &shell)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is::<ContainerExit>() => {
            ExitCode::from(e.downcast_ref::<ContainerExit>().map_or(1, |c| c.0))
        }
        Err(e) => {
            shell.error(&e);
            if let Some(sig) = cargo_slim::interrupt::received() {
                ExitCode::from(cargo_slim::interrupt::exit_code(sig))
            } else if e.chain().any(|c| c.is::<BudgetExceeded>()) {
                ExitCode::from(3)
            } else if e
                .chain()
                .any(|c| c.downcast_ref::<Failure>().is_some_and(|f| f.usage))
            {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

/// `cargo slim build` of one image: build, print, then push and load it.
fn build_one(
    plan: &config::Plan,
    engine: Option<&engine::Engine>,
    format: MessageFormat,
    shell: &Shell,
) -> Result<()> {
    let out = build(plan, shell)?;
    emit(format, &out.reports, out.over_budget)?;
    if let Some(p) = &plan.push {
        push_and_print(&out.path, p, plan.signer.as_ref(), format, shell)?;
    }
    match engine {
        Some(e) => load_and_print(&out.path, e, format, shell),
        None => Ok(()),
    }
}

/// `cargo slim build` of several images: build them all, then print, push and
/// load each one that was built; `--image-refs` lists every pushed image. The
/// table of all images closes the human output. Exit: 1 when an image failed
/// (the others are complete), else 3 when one is over its budget.
fn build_many(
    plans: &[config::Plan],
    engine: Option<&engine::Engine>,
    format: MessageFormat,
    shell: &Shell,
) -> Result<()> {
    let outcomes = commands::build::build_all(plans, shell)?;
    let mut over = Vec::new();
    let mut failed = Vec::new();
    let mut pinned = Vec::new();
    for (plan, o) in plans.iter().zip(&outcomes) {
        let out = match &o.result {
            Ok(out) => out,
            Err(_) => {
                failed.push(o.name.clone());
                continue;
            }
        };
        over.extend(out.over_budget.iter().map(|c| format!("{}: {c}", o.name)));
        emit(format, &out.reports, Vec::new())?;
        if let Some(p) = &plan.push {
            // One `--image-refs` file for all images, written below.
            let one = PushOptions {
                image_refs: None,
                ..p.clone()
            };
            pinned.push(push_and_print(
                &out.path,
                &one,
                plan.signer.as_ref(),
                format,
                shell,
            )?);
        }
        if let Some(e) = engine {
            load_and_print(&out.path, e, format, shell)?;
        }
    }
    if let Some(path) = plans
        .iter()
        .find_map(|p| p.push.as_ref()?.image_refs.as_ref())
    {
        cargo_slim::push::write_image_refs(path, &pinned)?;
    }
    if format == MessageFormat::Human {
        shell.print_err(&commands::build::summary::table(&outcomes));
    }
    if !failed.is_empty() {
        return Err(Failure::new(format!(
            "{} of {} images failed: {}",
            failed.len(),
            outcomes.len(),
            failed.join(", ")
        ))
        .detail("the other images were built, and their files written in full")
        .detail("a failed image wrote nothing: its files from an earlier run are as they were")
        .into());
    }
    emit(format, &[], over)
}

/// Print the result (the tarball path, or a JSON line per platform), then turn a
/// budget failure into an error: the result is printed either way.
fn emit(format: MessageFormat, reports: &[BuildReport], over_budget: Vec<String>) -> Result<()> {
    match format {
        MessageFormat::Human => {
            if let Some(first) = reports.first() {
                cli::print_out(&first.path)?;
            }
        }
        MessageFormat::Json => {
            for report in reports {
                cli::print_out(&serde_json::to_string(report)?)?;
            }
        }
    }
    if over_budget.is_empty() {
        Ok(())
    } else {
        Err(BudgetExceeded {
            checks: over_budget,
        }
        .into())
    }
}

/// `cargo slim push` and `build --push`: push a tarball, then print
/// `REPO@sha256:DIGEST` (or the `pushed` JSON line); `push` also writes it to
/// `--image-refs FILE`.
fn push_and_print(
    tarball: &Path,
    opts: &PushOptions,
    signer: Option<&cargo_slim::sign::KeySigner>,
    format: MessageFormat,
    shell: &Shell,
) -> Result<String> {
    let signer = signer.map(|s| s as &dyn cargo_slim::sign::Signer);
    let pushed = commands::sign_ref::push_and_sign(tarball, opts, signer, shell)?;
    match format {
        MessageFormat::Human => cli::print_out(&pushed.pinned())?,
        MessageFormat::Json => cli::print_out(&pushed.to_json().to_string())?,
    }
    Ok(pushed.pinned())
}

/// `cargo slim index`: print the output path (or the `indexed` JSON line).
fn run_index(args: &IndexArgs, format: MessageFormat, shell: &Shell) -> Result<()> {
    let merged = commands::index::merge(&args.inputs, &args.output, args.force, shell)?;
    match format {
        MessageFormat::Human => cli::print_out(&merged.path.display().to_string())?,
        MessageFormat::Json => cli::print_out(
            &serde_json::json!({
                "reason": "indexed",
                "path": merged.path,
                "reference": merged.reference,
                "digest": merged.digest,
                "platforms": merged.platforms,
                "size": merged.size,
            })
            .to_string(),
        )?,
    }
    Ok(())
}

/// `cargo slim load` and `build --load`: load the tarball, then print the
/// reference the engine gave the image (or the `image-loaded` JSON line).
fn load_and_print(
    tarball: &Path,
    engine: &engine::Engine,
    format: MessageFormat,
    shell: &Shell,
) -> Result<()> {
    let loaded = commands::load::load(tarball, engine, shell)?;
    match format {
        MessageFormat::Human => cli::print_out(&loaded.reference)?,
        MessageFormat::Json => cli::print_out(&loaded.to_json(tarball).to_string())?,
    }
    Ok(())
}

/// `cargo slim resolve`: the YAML on stdout, exactly as resolved; the table of
/// the images on stderr.
fn run_resolve(args: &cli::ResolveArgs, shell: &Shell) -> Result<()> {
    let done = commands::resolve::resolve(&args.to_request()?, shell)?;
    shell.print_err(&done.table);
    let mut out = std::io::stdout().lock();
    match out
        .write_all(done.yaml.as_bytes())
        .and_then(|_| out.flush())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// `cargo slim run`: build (and push, if asked), load, run; the container's exit
/// code becomes ours ([`ContainerExit`]).
fn run_image(args: &RunArgs, shell: &Shell) -> Result<()> {
    let plan = config::resolve(&args.build.to_request())?;
    if let Some(p) = &plan.push {
        p.check_image_refs()?;
    }
    let engine = engine::find(args.build.load.engine.map(Into::into))?;
    let out = build(&plan, shell)?;
    if !out.over_budget.is_empty() {
        return Err(BudgetExceeded {
            checks: out.over_budget,
        }
        .into());
    }
    if let Some(p) = &plan.push {
        push(&out.path, p, shell)?;
    }
    let loaded = commands::load::load(&out.path, &engine, shell)?;
    let opts = commands::run::RunOptions {
        publish: args.publish.clone(),
        args: args.args.clone(),
    };
    match commands::run::run(&engine, &loaded.reference, &opts, shell)? {
        0 => Ok(()),
        code => Err(ContainerExit(u8::try_from(code).unwrap_or(1)).into()),
    }
}

/// The exit code of the container `cargo slim run` ran: ours too, with nothing
/// printed (the container said what it had to).
#[derive(Debug)]
struct ContainerExit(u8);

impl std::fmt::Display for ContainerExit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the container exited with status {}", self.0)
    }
}

impl std::error::Error for ContainerExit {}

/// `cargo slim init`: print the files written (or the `initialized` JSON line).
fn run_init(args: &InitArgs, format: MessageFormat, shell: &Shell) -> Result<()> {
    let done = commands::init::init(&args.to_request(), shell)?;
    print_paths(format, &[&done.workflow, &done.manifest], done.to_json())
}

/// `cargo slim keygen`: print the two paths (or the `key-generated` JSON line).
fn run_keygen(args: &KeygenArgs, format: MessageFormat, shell: &Shell) -> Result<()> {
    let (request, unset) = args.to_request();
    if unset {
        shell.warn("neither CARGO_SLIM_KEY_PASSWORD nor COSIGN_PASSWORD is set: the private key's password is empty (set COSIGN_PASSWORD to choose one)");
    }
    let done = commands::keygen::keygen(&request, shell)?;
    print_paths(format, &[&done.key, &done.public], done.to_json())
}

/// `cargo slim sign`: print each signed digest (or the `signed` JSON line).
fn run_sign(args: &SignArgs, format: MessageFormat, shell: &Shell) -> Result<()> {
    let remote = cli::as_remote(&args.target).transpose()?;
    let signer = cli::read_signer(&args.key)?;
    let done = match remote {
        Some(r) => commands::sign_ref::sign_ref(&r, &signer, &args.registry.options(), shell)?,
        None => commands::sign::sign(&args.target, &signer, shell)?,
    };
    match format {
        MessageFormat::Human => {
            for digest in &done.digests {
                cli::print_out(digest)?;
            }
        }
        MessageFormat::Json => cli::print_out(&done.to_json().to_string())?,
    }
    Ok(())
}

/// The files a command wrote, one per line, or its one JSON line.
fn print_paths(format: MessageFormat, paths: &[&Path], json: serde_json::Value) -> Result<()> {
    match format {
        MessageFormat::Human => {
            for path in paths {
                cli::print_out(&path.display().to_string())?;
            }
        }
        MessageFormat::Json => cli::print_out(&json.to_string())?,
    }
    Ok(())
}

/// Most errors printed per input in human output (JSON has them all).
const MAX_SHOWN_ERRORS: usize = 20;

/// `cargo slim verify PATH...`: exit 0 when every input passes, else an error.
fn run_verify(args: &VerifyArgs, format: MessageFormat, shell: &Shell) -> Result<()> {
    let arch = args.arch.as_deref();
    let key = args
        .key
        .as_deref()
        .map(cargo_slim::sign::PublicKey::read)
        .transpose()?;
    let mut failed = Vec::new();
    for path in &args.paths {
        if let Some(r) = cli::as_remote(path) {
            let r = r?;
            shell.status("Verifying", r.repository());
            let opts = args.registry.options();
            let required = args.require_provenance;
            if !cli::trust::verify_remote(&r, key.as_ref(), required, &opts, format, shell)? {
                failed.push(path.display().to_string());
            }
            continue;
        }
        shell.status("Verifying", path.display());
        let report = verify_path(path, arch);
        match format {
            MessageFormat::Json => cli::print_out(&report.to_json().to_string())?,
            MessageFormat::Human => render_verified(&report, shell)?,
        }
        let image = matches!(report.input, Some(cargo_slim::verify::Input::Image));
        let required = args.require_provenance;
        let provenance = image && (required || key.is_some());
        let trusted = match report.passed() && (key.is_some() || provenance) {
            true => {
                let k = key.as_ref();
                cli::trust::verify_tarball(path, k, (provenance, required), format, shell)?
            }
            false => true,
        };
        if !report.passed() || !trusted {
            failed.push(report.path.clone());
        }
    }
    match failed.as_slice() {
        [] => Ok(()),
        [one] if args.paths.len() == 1 => {
            Err(Failure::new(format!("`{one}` failed verification")).into())
        }
        _ => Err(Failure::new(format!(
            "{} of {} inputs failed verification: {}",
            failed.len(),
            args.paths.len(),
            failed.join(", ")
        ))
        .into()),
    }
}

fn render_verified(report: &Report, shell: &Shell) -> Result<()> {
    for f in &report.files {
        let v = &f.verdict;
        shell.verbose(
            "Checked",
            format!(
                "{} (layer {}): {}, {}{}",
                f.path,
                f.layer,
                v.kind.map(|k| k.as_str()).unwrap_or("not an executable"),
                v.arch.as_deref().unwrap_or("?"),
                if v.passed() { "" } else { " — FAILED" }
            ),
        );
    }
    for w in &report.warnings {
        shell.warn(format!("{}: {w}", report.path));
    }
    for n in &report.notes {
        shell.note(format!("{}: {n}", report.path));
    }
    for f in report.errors.iter().take(MAX_SHOWN_ERRORS) {
        shell.error(&anyhow::Error::new(f.clone()));
    }
    if report.errors.len() > MAX_SHOWN_ERRORS {
        shell.error(&anyhow::anyhow!(
            "… and {} more errors in `{}` (`--message-format json` lists them all)",
            report.errors.len() - MAX_SHOWN_ERRORS,
            report.path
        ));
    }
    for line in report.platform_lines() {
        cli::print_out(&line)?;
    }
    let verdict = if report.passed() { "ok" } else { "FAILED" };
    let summary = report.summary();
    if summary.is_empty() {
        cli::print_out(&format!("{}: {verdict}", report.path))?;
    } else {
        cli::print_out(&format!("{}: {verdict} ({summary})", report.path))?;
    }
    Ok(())
}
