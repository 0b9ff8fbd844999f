//! `--config FILE`: a TOML file holding the same flags as the command line, for daemons whose
//! settings outgrow a command line. Each key is a long flag without its dashes; a flag given
//! on the command line wins over the file.
//!
//! ```toml
//! addr = "0.0.0.0:30303"
//! datadir = "/var/lib/kadnode"
//! bootnodes = ["enode://…@10.0.0.1:30303", "enode://…@10.0.0.2:30303"]
//! maxpeers = 50
//! nodial = true
//! "log.format" = "json"
//! ```
//!
//! The file is turned into flags before the command line is parsed, so every value goes
//! through the same checks and error messages as a flag: a string or number becomes
//! `--key=value`, `true` becomes `--key` (`false` leaves the flag out), and a list becomes a
//! comma-separated value.

use std::{ffi::OsString, path::Path};

/// The largest configuration file read.
const MAX_CONFIG_LEN: u64 = 1 << 20;

/// Why a configuration file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    /// `--config` without a file.
    #[error("--config needs a file")]
    MissingPath,
    /// The file could not be read.
    #[error("could not read the config file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// What the file system said.
        source: std::io::Error,
    },
    /// The file is larger than [`MAX_CONFIG_LEN`].
    #[error("the config file {path} is larger than 1 MiB")]
    TooLarge {
        /// The file.
        path: String,
    },
    /// The file is not TOML, or holds something no flag can take.
    #[error("the config file {path} is not usable: {why}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong, with the key.
        why: String,
    },
}

/// `args` (program name first) with the flags of the file named by `--config` appended,
/// except those the command line already gives. Without `--config`, `args` unchanged.
pub fn expand(args: Vec<OsString>) -> Result<Vec<OsString>, ConfigFileError> {
    let Some(path) = config_path(&args)? else {
        return Ok(args);
    };
    let text = read(&path)?;
    let flags = flags_from_toml(&text).map_err(|why| ConfigFileError::Invalid {
        path: path.clone(),
        why,
    })?;
    let mut out = args;
    for (key, value) in flags {
        if given(&out, &key) {
            continue;
        }
        match value {
            Some(value) => out.push(format!("--{key}={value}").into()),
            None => out.push(format!("--{key}").into()),
        }
    }
    Ok(out)
}

fn config_path(args: &[OsString]) -> Result<Option<String>, ConfigFileError> {
    let mut iter = args.iter().skip(1);
    while let Some(arg) = iter.next() {
        let Some(text) = arg.to_str() else { continue };
        if text == "--" {
            break;
        }
        if text == "--config" {
            return match iter.next().and_then(|p| p.to_str()) {
                Some(path) => Ok(Some(path.to_owned())),
                None => Err(ConfigFileError::MissingPath),
            };
        }
        if let Some(path) = text.strip_prefix("--config=") {
            return Ok(Some(path.to_owned()));
        }
    }
    Ok(None)
}

fn read(path: &str) -> Result<String, ConfigFileError> {
    use std::io::Read;
    let read_error = |source| ConfigFileError::Read {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(Path::new(path)).map_err(read_error)?;
    let mut text = String::new();
    file.take(MAX_CONFIG_LEN + 1)
        .read_to_string(&mut text)
        .map_err(read_error)?;
    if text.len() as u64 > MAX_CONFIG_LEN {
        return Err(ConfigFileError::TooLarge {
            path: path.to_owned(),
        });
    }
    Ok(text)
}

/// The flags a file sets, in file order: `(name, Some(value))` or `(name, None)` for a
/// switch that is on.
fn flags_from_toml(text: &str) -> Result<Vec<(String, Option<String>)>, String> {
    let table: toml::Table = toml::from_str(text).map_err(|e| e.message().to_owned())?;
    let mut flags = Vec::new();
    for (key, value) in table {
        let valid_name = key.starts_with(|c: char| c.is_ascii_alphanumeric())
            && key != "config"
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
        if !valid_name {
            return Err(format!("{key:?} is not a flag name"));
        }
        let scalar = |value: &toml::Value| -> Result<String, String> {
            match value {
                toml::Value::String(s) => Ok(s.clone()),
                toml::Value::Integer(n) => Ok(n.to_string()),
                toml::Value::Float(f) => Ok(f.to_string()),
                other => Err(format!("{key}: a {} is not a flag value", other.type_str())),
            }
        };
        match &value {
            toml::Value::Boolean(true) => flags.push((key, None)),
            toml::Value::Boolean(false) => {}
            toml::Value::Array(items) => {
                let items = items.iter().map(scalar).collect::<Result<Vec<_>, _>>()?;
                flags.push((key, Some(items.join(","))));
            }
            other => {
                let value = scalar(other)?;
                flags.push((key, Some(value)));
            }
        }
    }
    Ok(flags)
}

/// True when the command line already gives flag `key`.
fn given(args: &[OsString], key: &str) -> bool {
    let long = format!("--{key}");
    let geth = format!("-{key}");
    args.iter().skip(1).filter_map(|a| a.to_str()).any(|a| {
        a == long
            || a == geth
            || a.starts_with(&format!("{long}="))
            || a.starts_with(&format!("{geth}="))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn file_values_become_flags_and_the_command_line_wins() {
        let flags = flags_from_toml(
            "addr = \"0.0.0.0:30303\"\nmaxpeers = 10\nnodial = true\nnodiscover = false\n\
             bootnodes = [\"a\", \"b\"]\n\"log.format\" = \"json\"\n",
        )
        .unwrap();
        assert_eq!(
            flags,
            vec![
                ("addr".into(), Some("0.0.0.0:30303".into())),
                ("bootnodes".into(), Some("a,b".into())),
                ("log.format".into(), Some("json".into())),
                ("maxpeers".into(), Some("10".into())),
                ("nodial".into(), None),
            ]
        );
        assert!(given(&args(&["bootnode", "--addr=1"]), "addr"));
        assert!(given(&args(&["bootnode", "-addr", "1"]), "addr"));
        assert!(!given(&args(&["bootnode", "--address"]), "addr"));
    }

    #[test]
    fn bad_files_are_refused_with_the_key() {
        assert!(flags_from_toml("addr = ").is_err());
        assert!(flags_from_toml("[p2p]\nmaxpeers = 1")
            .unwrap_err()
            .contains("p2p"));
        assert!(flags_from_toml("\"--x\" = 1").unwrap_err().contains("--x"));
        assert!(flags_from_toml("config = \"loop.toml\"").is_err());
        assert!(matches!(
            config_path(&args(&["bootnode", "--config"])),
            Err(ConfigFileError::MissingPath)
        ));
    }
}
