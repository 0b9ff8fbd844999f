//! `kadnode`: the devp2p debugging tool.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args = match kadnode_cli::parse_args::<kadnode_cli::tool::ToolArgs>("kadnode") {
        Ok(args) => args,
        Err(code) => return code,
    };
    let json = args.json;
    match kadnode_cli::tool::main(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // Every subcommand fails the same way: the exit code, the message on stderr and,
            // with --json, one JSON object on stdout for scripts.
            if json {
                kadnode_cli::output::emit_error(&error);
            }
            kadnode_cli::report("kadnode", &error)
        }
    }
}
