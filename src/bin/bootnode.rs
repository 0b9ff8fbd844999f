//! `bootnode`: a long-lived discovery v4 bootnode.

use std::process::ExitCode;

fn main() -> ExitCode {
    let argv =
        kadnode::cli::geth_style_flags(std::env::args_os(), kadnode::cli::bootnode::GETH_FLAGS);
    let args = match kadnode::cli::parse_args_from::<kadnode::cli::bootnode::BootnodeArgs>(
        "bootnode", argv,
    ) {
        Ok(args) => args,
        Err(code) => return code,
    };
    match kadnode::cli::bootnode::main(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => kadnode::cli::report("bootnode", &error),
    }
}
