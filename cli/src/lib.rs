//! The command-line tools: the `bootnode` daemon and the `kadnode` debugging tool.
//!
//! Both binaries are thin `main` functions over this module so the parsing and the
//! behaviour can be unit-tested. Exit codes: 0 success, 1 the operation failed (a node did
//! not answer, a conformance case failed), 2 bad usage or bad input (flag values, key files,
//! node URLs, an address already in use).

pub mod bootnode;
pub mod config_file;
pub mod crawl;
pub mod discv4;
pub mod enr;
pub mod http;
pub mod key;
pub mod logging;
pub mod node;
pub mod nodes_json;
pub mod nodeset;
pub mod output;
pub mod p2p;
pub mod parse;
pub mod pex;
pub mod probe;
pub mod resolve_json;
pub mod rlpx;
pub mod timefmt;
pub mod tool;

use std::process::ExitCode;

/// Why a command failed; decides the exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad usage or bad input: exit code 2.
    #[error("{0}")]
    Usage(String),
    /// The command ran but did not succeed: exit code 1.
    #[error("{0}")]
    Failed(String),
}

impl CliError {
    /// A usage/bad-input error.
    pub fn usage(message: impl std::fmt::Display) -> Self {
        Self::Usage(message.to_string())
    }

    /// A runtime failure.
    pub fn failed(message: impl std::fmt::Display) -> Self {
        Self::Failed(message.to_string())
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) => 2,
            Self::Failed(_) => 1,
        }
    }
}

/// Parses the command line with clap, turning its errors into one line and exit code 2
/// (`--help` and `--version` print and exit 0).
pub fn parse_args<T: clap::Parser>(program: &str) -> Result<T, ExitCode> {
    parse_args_from(
        program,
        with_config_file(program, std::env::args_os().collect())?,
    )
}

/// `argv` with the flags of its `--config FILE` added (see [`config_file`]); a file that
/// cannot be used is a usage error (exit 2).
pub fn with_config_file(
    program: &str,
    argv: Vec<std::ffi::OsString>,
) -> Result<Vec<std::ffi::OsString>, ExitCode> {
    config_file::expand(argv).map_err(|error| {
        eprintln!("{program}: {error}");
        ExitCode::from(2)
    })
}

/// [`parse_args`] over an explicit argument list (the first item is the program name).
pub fn parse_args_from<T: clap::Parser>(
    program: &str,
    args: impl IntoIterator<Item = std::ffi::OsString>,
) -> Result<T, ExitCode> {
    match T::try_parse_from(args) {
        Ok(args) => Ok(args),
        Err(error) => {
            use clap::error::ErrorKind;
            match error.kind() {
                ErrorKind::DisplayHelp
                | ErrorKind::DisplayVersion
                | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                    let _ = error.print();
                    let code =
                        if error.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                            2
                        } else {
                            0
                        };
                    Err(ExitCode::from(code))
                }
                _ => {
                    eprintln!(
                        "{}",
                        one_line_usage_error(program, &error.render().to_string())
                    );
                    Err(ExitCode::from(2))
                }
            }
        }
    }
}

/// Folds clap's multi-line error into one line that keeps what clap said (the missing
/// argument's name, its "a similar subcommand exists" tip) and points at the help of the
/// subcommand that failed, read from clap's `Usage:` line.
fn one_line_usage_error(program: &str, rendered: &str) -> String {
    let mut parts = Vec::new();
    let mut command = program.to_owned();
    for line in rendered.lines() {
        let line = line.trim();
        if let Some(usage) = line.strip_prefix("Usage:") {
            let words: Vec<&str> = usage
                .split_whitespace()
                .take_while(|w| !w.starts_with(['[', '<', '-']))
                .collect();
            if !words.is_empty() {
                command = words.join(" ");
            }
            break;
        }
        if !line.is_empty() {
            parts.push(line.trim_start_matches("error: ").to_owned());
        }
    }
    let mut message = String::new();
    for part in parts {
        if !message.is_empty() {
            message.push_str(if message.ends_with(':') { " " } else { "; " });
        }
        message.push_str(&part);
    }
    if message.is_empty() {
        message.push_str("invalid arguments");
    }
    format!("{program}: {message} (see {command} --help)")
}

/// Rewrites go-style single-dash long flags (`-nodekey x`, `-addr=:30301`) to `--…` when
/// the name is one of `known`, so geth bootnode command lines keep working.
pub fn geth_style_flags(
    args: impl IntoIterator<Item = std::ffi::OsString>,
    known: &[&str],
) -> Vec<std::ffi::OsString> {
    args.into_iter()
        .map(|arg| {
            let Some(text) = arg.to_str() else { return arg };
            let Some(rest) = text.strip_prefix('-') else {
                return arg;
            };
            if rest.starts_with('-') {
                return arg;
            }
            let name = rest.split('=').next().unwrap_or_default();
            if known.contains(&name) {
                format!("-{text}").into()
            } else {
                arg
            }
        })
        .collect()
}

/// Prints `error` as one line and returns its exit code.
pub fn report(program: &str, error: &CliError) -> ExitCode {
    eprintln!("{program}: {error}");
    ExitCode::from(error.exit_code())
}

/// Builds a multi-threaded tokio runtime, or reports why it could not be built.
pub fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::failed(format!("cannot start the async runtime: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_errors_keep_the_argument_and_the_subcommand() {
        let rendered = "error: the following required arguments were not provided:\n  <NODE>\n\nUsage: kadnode discv4 ping <NODE>\n\nFor more information, try '--help'.\n";
        assert_eq!(
            one_line_usage_error("kadnode", rendered),
            "kadnode: the following required arguments were not provided: <NODE> (see kadnode discv4 ping --help)"
        );
    }

    #[test]
    fn single_dash_geth_flags() {
        let args = [
            "bootnode", "-nodekey", "k", "-addr=:1", "-h", "--json", "-x",
        ]
        .map(std::ffi::OsString::from);
        let out = geth_style_flags(args, &["nodekey", "addr"]);
        assert_eq!(
            out,
            [
                "bootnode",
                "--nodekey",
                "k",
                "--addr=:1",
                "-h",
                "--json",
                "-x"
            ]
            .map(std::ffi::OsString::from)
        );
    }
}
