//! `kadnode`: the devp2p debugging tool.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args = match kadnode_cli::parse_args::<kadnode_cli::tool::ToolArgs>("kadnode") {
        Ok(args) => args,
        Err(code) => return code,
    };
    match kadnode_cli::tool::main(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => kadnode_cli::report("kadnode", &error),
    }
}
