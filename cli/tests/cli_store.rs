//! `bootnode` and its node database: a damaged file is set aside with exactly one warning
//! (issue 12 #7); a file it may not use is a one-line error and exit 2, never moved aside
//! (issue 12 #6).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod cli_support;

use cli_support::*;

const DB: &str = "nodes.sqlite";
const KEY: &str = "b71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291";

#[test]
fn a_damaged_database_is_set_aside_with_one_warning() {
    let dir = TempDir::new("store-damaged");
    let garbage: Vec<u8> = (0..50_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    std::fs::write(dir.join(DB), &garbage).unwrap();
    let mut boot = Bootnode::start(dir.path(), &[]);
    boot.proc.wait_stderr(|l| l.contains("moved it to"));
    boot.proc.sigterm();
    let status = boot.proc.wait_exit(WAIT);
    assert!(status.success(), "{}", boot.proc.dump());
    let warnings = boot
        .proc
        .stderr
        .iter()
        .filter(|l| l.contains("moved it to"))
        .count();
    assert_eq!(warnings, 1, "{}", boot.proc.dump());
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().any(|n| n.starts_with("nodes.sqlite.corrupt-")),
        "{names:?}"
    );
    assert!(names.iter().any(|n| n == DB), "{names:?}");
}

#[test]
fn a_database_without_permission_is_an_error_with_exit_2_and_is_kept() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("store-perm");
    // A healthy database from a first run.
    let mut boot = Bootnode::start(dir.path(), &["--nodekeyhex", KEY]);
    boot.proc.sigterm();
    assert!(boot.proc.wait_exit(WAIT).success());
    let db = dir.join(DB);
    let healthy = std::fs::read(&db).unwrap();
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o600)).unwrap();
    let d = dir.str();
    let args = [
        "--addr",
        "127.0.0.1:0",
        "--datadir",
        &d,
        "--nodekeyhex",
        KEY,
    ];
    // As root the mode bits do not apply: run the node as an unprivileged user instead.
    let is_root = std::fs::metadata("/proc/self").map(|m| {
        use std::os::unix::fs::MetadataExt;
        m.uid() == 0
    });
    let out = if is_root.unwrap_or(false) {
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let mut wrapped = vec!["--reuid=65534", "--regid=65534", "--clear-groups", BOOTNODE];
        wrapped.extend_from_slice(&args);
        run("setpriv", &wrapped)
    } else {
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o000)).unwrap();
        run(BOOTNODE, &args)
    };
    assert_eq!(out.code, 2, "{out:?}");
    let error_lines: Vec<&str> = out.stderr.lines().filter(|l| l.contains(DB)).collect();
    assert_eq!(error_lines.len(), 1, "{out:?}");
    assert!(error_lines[0].contains("ermission denied"), "{out:?}");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o600)).unwrap();
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.contains("corrupt")), "{names:?}");
    assert_eq!(
        std::fs::read(&db).unwrap(),
        healthy,
        "the database is untouched"
    );
}
