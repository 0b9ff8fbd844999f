//! `kadnode`: the devp2p debugging tool.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args = match kadnode::cli::parse_args::<kadnode::cli::tool::ToolArgs>("kadnode") {
        Ok(args) => args,
        Err(code) => return code,
    };
    match kadnode::cli::tool::main(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => kadnode::cli::report("kadnode", &error),
    }
}
