//! The `cargo-slim` executable: parse arguments, run the library, map errors to
//! exit codes (0 ok, 1 error, 2 usage — clap's own, 3 size budget exceeded).

use std::process::ExitCode;

use cargo_slim::cli::{self, Command};
use cargo_slim::error::BudgetExceeded;
use cargo_slim::shell::{print_out, Shell, Verbosity};
use cargo_slim::{build, config};

fn main() -> ExitCode {
    let args = cli::parse();
    let verbosity = if args.global.quiet {
        Verbosity::Quiet
    } else if args.global.verbose > 0 {
        Verbosity::Verbose
    } else {
        Verbosity::Normal
    };
    let shell = Shell::new(verbosity, args.global.color);
    let result = match args.command {
        Command::Build(b) => config::resolve(&b)
            .and_then(|plan| build(&plan, &shell))
            .and_then(|out| Ok(print_out(&out.path.display().to_string())?)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            shell.error(&e);
            if e.chain().any(|c| c.is::<BudgetExceeded>()) {
                ExitCode::from(3)
            } else {
                ExitCode::from(1)
            }
        }
    }
}
