//! The `sealift` binary: parse arguments, run one library call, render its report.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::main()
}
