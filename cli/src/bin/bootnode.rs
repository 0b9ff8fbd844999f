//! `bootnode`: a long-lived discovery v4 bootnode.

use std::process::ExitCode;

fn main() -> ExitCode {
    let argv =
        kadnode_cli::geth_style_flags(std::env::args_os(), kadnode_cli::bootnode::GETH_FLAGS);
    let argv = match kadnode_cli::with_config_file("bootnode", argv) {
        Ok(argv) => argv,
        Err(code) => return code,
    };
    let args =
        match kadnode_cli::parse_args_from::<kadnode_cli::bootnode::BootnodeArgs>("bootnode", argv)
        {
            Ok(args) => args,
            Err(code) => return code,
        };
    match kadnode_cli::bootnode::main(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => kadnode_cli::report("bootnode", &error),
    }
}
