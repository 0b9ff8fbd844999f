//! `--config FILE`: flags from a TOML file, the command line winning, bad files refused.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod cli_support;

use cli_support::*;

const KEY_A: &str = "b71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291";
const KEY_B: &str = "49a7b37aa6f6645917e7b807e9d1c00d4fa71f18343b0d4122a4d2df64dd6fee";

#[test]
fn flags_come_from_the_config_file_and_the_command_line_wins() {
    let dir = TempDir::new("config-file");
    let file = dir.join("bootnode.toml");
    std::fs::write(
        &file,
        format!("# a bootnode\nnodekeyhex = \"{KEY_A}\"\nwriteaddress = true\nverbosity = 2\n"),
    )
    .unwrap();
    let file = file.display().to_string();
    let from_file = run(BOOTNODE, &["--config", &file]);
    assert_eq!(from_file.code, 0, "{from_file:?}");
    let a = from_file.stdout.trim().to_owned();
    assert_eq!(a.len(), 128, "{from_file:?}");

    let overridden = run(BOOTNODE, &["--config", &file, "--nodekeyhex", KEY_B]);
    assert_eq!(overridden.code, 0, "{overridden:?}");
    assert_ne!(overridden.stdout.trim(), a, "the command line wins");
    let direct = run(BOOTNODE, &["--nodekeyhex", KEY_B, "--writeaddress"]);
    assert_eq!(overridden.stdout.trim(), direct.stdout.trim());
}

#[test]
fn a_bad_config_file_is_a_usage_error_naming_the_problem() {
    let dir = TempDir::new("config-bad");
    let cases = [
        ("nodekeyhex = \"zz\"\nwriteaddress = true\n", "nodekeyhex"),
        ("[p2p]\nmaxpeers = 1\n", "p2p"),
        ("nodekeyhex = ", "not usable"),
        ("no-such-flag = 1\n", "no-such-flag"),
    ];
    for (i, (text, expected)) in cases.iter().enumerate() {
        let file = dir.join(&format!("bad{i}.toml"));
        std::fs::write(&file, text).unwrap();
        let out = run(BOOTNODE, &["--config", &file.display().to_string()]);
        assert_eq!(out.code, 2, "{text:?}: {out:?}");
        assert!(out.stderr.contains(expected), "{text:?}: {out:?}");
    }
    let missing = run(
        BOOTNODE,
        &["--config", &dir.join("none.toml").display().to_string()],
    );
    assert_eq!(missing.code, 2, "{missing:?}");
    assert!(missing.stderr.contains("none.toml"), "{missing:?}");
}
