//! `kadnode key …` and `kadnode enr decode`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod cli_support;

use cli_support::*;

#[test]
fn key_generate_and_convert() {
    let dir = TempDir::new("tool-key");
    let key = dir.join("node.key");
    let key = key.display().to_string();
    let out = run(KADNODE, &["key", "generate", &key]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("wrote new node key"));
    let text = std::fs::read_to_string(&key).unwrap();
    assert_eq!(text.len(), 64);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "key file must be private");
    }
    // Never overwritten.
    let again = run(KADNODE, &["key", "generate", &key]);
    assert_eq!(again.code, 2);
    assert!(again.stderr.contains("already exists"));
    assert_eq!(std::fs::read_to_string(&key).unwrap(), text);

    let id = run(KADNODE, &["key", "to-id", &key]).stdout;
    assert_eq!(id.trim().len(), 64);

    let enode = run(
        KADNODE,
        &[
            "key", "to-enode", &key, "--ip", "10.0.0.1", "--tcp", "30303", "--udp", "30301",
        ],
    );
    assert_eq!(enode.code, 0, "{enode:?}");
    assert!(
        enode
            .stdout
            .trim()
            .ends_with("@10.0.0.1:30303?discport=30301"),
        "{enode:?}"
    );

    let enr = run(
        KADNODE,
        &[
            "key", "to-enr", &key, "--ip", "10.0.0.1", "--tcp", "30303", "--udp", "30301", "--seq",
            "7",
        ],
    );
    assert_eq!(enr.code, 0, "{enr:?}");
    let enr = enr.stdout.trim().to_owned();
    assert!(enr.starts_with("enr:"));

    let decoded = run(KADNODE, &["enr", "decode", &enr]);
    assert_eq!(decoded.code, 0, "{decoded:?}");
    assert!(decoded.stdout.contains("sequence number 7"), "{decoded:?}");
    assert!(decoded.stdout.contains("Signature valid: yes"));
    assert!(decoded.stdout.contains(id.trim()), "node id shown");
    assert!(decoded.stdout.contains("10.0.0.1"));

    let json = run(KADNODE, &["--json", "enr", "decode", &enr]);
    let value: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(value["seq"], 7);
    assert_eq!(value["ip"], "10.0.0.1");
    assert_eq!(value["udp"], 30301);
    assert_eq!(value["tcp"], 30303);
    assert_eq!(value["id"], id.trim());
    assert_eq!(value["signatureValid"], true);
    assert!(value["fields"]["secp256k1"].is_string());
}

#[test]
fn enr_decode_known_record() {
    // EIP-778's example record (private key b71c71a6…).
    let example = "enr:-IS4QHCYrYZbAKWCBRlAy5zzaDZXJBGkcnh4MHcBFZntXNFrdvJjX04jRzjzCBOonrkTfj499SZuOh8R33Ls8RRcy5wBgmlkgnY0gmlwhH8AAAGJc2VjcDI1NmsxoQPKY0yuDUmstAHYpMa2_oxVtw0RW_QAdpzBQA8yWM0xOIN1ZHCCdl8";
    let out = run(KADNODE, &["--json", "enr", "decode", example]);
    assert_eq!(out.code, 0, "{out:?}");
    let value: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(value["seq"], 1);
    assert_eq!(value["ip"], "127.0.0.1");
    assert_eq!(value["udp"], 30303);
    assert_eq!(
        value["id"],
        "a448f24c6d18e575453db13171562b71999873db5b286df957af199ec94617f7"
    );
}
