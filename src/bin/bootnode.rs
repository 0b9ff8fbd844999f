//! `bootnode`: a long-lived discovery v4 bootnode.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args = match kadnode::cli::parse_args::<kadnode::cli::bootnode::BootnodeArgs>("bootnode") {
        Ok(args) => args,
        Err(code) => return code,
    };
    match kadnode::cli::bootnode::main(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => kadnode::cli::report("bootnode", &error),
    }
}
