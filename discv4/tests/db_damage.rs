//! Damage campaign: real node database files, written by the real code, damaged in the ways a
//! failing disk or a torn copy damages files (bit flips inside pages, truncation, zeroed
//! pages, garbage headers), then opened, read, written, closed and reopened through the
//! public API. A damaged file must never crash the node: it is either used (the damage was
//! not in anything we read) or moved aside with one warning and replaced by an empty
//! database — and in both cases the session's writes survive the reopen.
//!
//! `KADNODE_DAMAGE_FILES=n` changes the number of files (default 240).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers may panic

use std::{
    fs,
    net::{IpAddr, Ipv4Addr},
    panic::{catch_unwind, AssertUnwindSafe},
    path::{Path, PathBuf},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use discv4::db::{NodeDb, OpenWarning, DB_FILE_NAME, SEED_MAX_AGE};
use enode::{NodeRecord, PeerId};
use rand::{rngs::StdRng, Rng, SeedableRng};
use secp256k1::SecretKey;

const NOW: u64 = 1_800_000_000;
const PAGE: usize = 4096;

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir =
            std::env::temp_dir().join(format!("kadnode-{name}-{}-{nanos}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn record(n: u32, id: PeerId) -> NodeRecord {
    NodeRecord {
        address: IpAddr::V4(Ipv4Addr::from(0x0808_0000 + n)),
        udp_port: 30303,
        tcp_port: 30303,
        id,
    }
}

/// Writes a realistic database: 400 nodes (every fourth with a signed ENR), their endpoint
/// rows over several commits, a local seq, one expiry pass. Returns the file's bytes.
fn template(dir: &Path) -> Vec<u8> {
    let (mut db, warning) = NodeDb::open(dir).unwrap();
    assert_eq!(warning, None);
    db.set_flush_interval(Duration::from_secs(3600));
    for n in 0..400u32 {
        let key =
            SecretKey::from_slice(&[&[1u8; 28][..], &(n + 1).to_be_bytes()[..]].concat()).unwrap();
        let id = PeerId::from_secret_key(&key);
        let rec = record(n, id);
        let enr = (n % 4 == 0).then(|| {
            enr::Enr::builder()
                .seq(u64::from(n))
                .ip4(Ipv4Addr::from(0x0808_0000 + n))
                .udp4(30303)
                .build(&key)
                .unwrap()
        });
        db.update_node(&rec, enr.as_ref()).unwrap();
        db.set_last_ping(&id.node_id(), rec.address, NOW - u64::from(n))
            .unwrap();
        db.set_last_pong(&id.node_id(), rec.address, NOW - u64::from(n) * 300)
            .unwrap();
        if n % 50 == 49 {
            db.flush().unwrap();
        }
    }
    db.set_local_seq(&PeerId([9; 64]).node_id(), 1234).unwrap();
    db.expire(NOW).unwrap();
    drop(db);
    fs::read(dir.join(DB_FILE_NAME)).unwrap()
}

/// One damaged copy of `good`, named after what was done to it.
fn damage(good: &[u8], case: usize, rng: &mut StdRng) -> (String, Vec<u8>) {
    let mut bytes = good.to_vec();
    let pages = bytes.len().div_ceil(PAGE).max(1);
    match case % 6 {
        0 | 1 => {
            // Bit flips inside one page (a failing sector).
            let page = rng.gen_range(0..pages);
            let flips = rng.gen_range(1..=16);
            for _ in 0..flips {
                let at = (page * PAGE + rng.gen_range(0..PAGE)).min(bytes.len() - 1);
                bytes[at] ^= 1 << rng.gen_range(0..8);
            }
            (format!("{flips} flips in page {page}"), bytes)
        }
        2 => {
            // Truncation (a torn copy, a full disk).
            let len = match rng.gen_range(0..4) {
                0 => rng.gen_range(0..100),
                1 => rng.gen_range(0..PAGE),
                2 => rng.gen_range(1..pages) * PAGE,
                _ => rng.gen_range(0..bytes.len()),
            };
            bytes.truncate(len);
            (format!("truncated to {len}"), bytes)
        }
        3 => {
            // A zeroed page (a lost write).
            let page = if rng.gen_bool(0.2) {
                0
            } else {
                rng.gen_range(0..pages)
            };
            let end = ((page + 1) * PAGE).min(bytes.len());
            bytes[page * PAGE..end].fill(0);
            (format!("page {page} zeroed"), bytes)
        }
        4 => {
            // A garbage header.
            let len = rng.gen_range(1..=512).min(bytes.len());
            rng.fill(&mut bytes[..len]);
            (format!("first {len} bytes random"), bytes)
        }
        _ => {
            // Random bytes spread over the whole file.
            let flips = rng.gen_range(1..=64);
            for _ in 0..flips {
                let at = rng.gen_range(0..bytes.len());
                bytes[at] = rng.gen();
            }
            (format!("{flips} random bytes anywhere"), bytes)
        }
    }
}

/// What happened to one damaged file.
#[derive(Debug, Default)]
struct Outcome {
    /// The session panicked (a crash of the node).
    crashed: Option<String>,
    /// `NodeDb::open` failed (the node would refuse to start).
    open_error: Option<String>,
    /// The file was moved aside at open.
    quarantined_at_open: bool,
    /// The file moved aside differs from the damaged file (the store wrote to it first).
    altered_before_quarantine: bool,
    /// The session's writes were not there after the reopen.
    lost_writes: bool,
    /// The reopen reported a warning or failed.
    reopen_problem: Option<String>,
}

fn session(dir: &Path, damaged: &[u8]) -> Outcome {
    let mut out = Outcome::default();
    fs::write(dir.join(DB_FILE_NAME), damaged).unwrap();
    let fresh = PeerId([0xab; 64]);
    let fresh_rec = NodeRecord {
        address: "9.9.9.9".parse().unwrap(),
        udp_port: 1,
        tcp_port: 2,
        id: fresh,
    };
    let first = catch_unwind(AssertUnwindSafe(|| {
        let (mut db, warning) = match NodeDb::open(dir) {
            Ok(opened) => opened,
            Err(e) => return Err(e.to_string()),
        };
        let kept_as_is = match &warning {
            Some(OpenWarning::Corrupt { moved_to, .. }) => {
                fs::read(moved_to).is_ok_and(|old| old == damaged)
            }
            _ => true,
        };
        let quarantined = warning.is_some();
        // Reads: whatever they return, they must return.
        let mut rng = StdRng::seed_from_u64(7);
        let _ = db.seeds(30, SEED_MAX_AGE, NOW, &mut rng);
        for n in 0..20u32 {
            let id = PeerId([n as u8; 64]).node_id();
            let _ = db.node(&id);
            let _ = db.last_pong(&id, IpAddr::V4(Ipv4Addr::from(0x0808_0000 + n)));
        }
        let _ = db.local_seq(&PeerId([9; 64]).node_id());
        // Writes, a commit, an expiry, and the close.
        let _ = db.update_node(&fresh_rec, None);
        let _ = db.set_last_pong(&fresh.node_id(), fresh_rec.address, NOW);
        let _ = db.set_local_seq(&PeerId([9; 64]).node_id(), 1235);
        let _ = db.flush();
        let _ = db.expire(NOW);
        let _ = db.update_node(&fresh_rec, None);
        drop(db);
        Ok((quarantined, kept_as_is))
    }));
    match first {
        Err(panic) => {
            out.crashed = Some(panic_text(&panic));
            return out;
        }
        Ok(Err(e)) => {
            out.open_error = Some(e);
            return out;
        }
        Ok(Ok((quarantined, kept_as_is))) => {
            out.quarantined_at_open = quarantined;
            out.altered_before_quarantine = !kept_as_is;
        }
    }
    let second = catch_unwind(AssertUnwindSafe(|| {
        let (mut db, warning) = NodeDb::open(dir).map_err(|e| e.to_string())?;
        if let Some(w) = warning {
            return Err(format!("warning at reopen: {w}"));
        }
        let seeds = db
            .seeds(1000, SEED_MAX_AGE, NOW, &mut StdRng::seed_from_u64(1))
            .map_err(|e| e.to_string())?;
        let node = db.node(&fresh.node_id()).map_err(|e| e.to_string())?;
        Ok(node.is_some() && seeds.iter().any(|s| s.record.id == fresh))
    }));
    match second {
        Err(panic) => out.crashed = Some(format!("at reopen: {}", panic_text(&panic))),
        Ok(Err(e)) => out.reopen_problem = Some(e),
        Ok(Ok(found)) => out.lost_writes = !found,
    }
    out
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "panic".to_owned())
}

#[test]
fn damaged_databases_never_crash_and_are_quarantined_or_used() {
    let files: usize = std::env::var("KADNODE_DAMAGE_FILES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(240);
    let root = TempDir::new("db-damage");
    let good = template(&root.0.join("template"));
    assert!(good.len() >= 8 * PAGE, "template too small: {}", good.len());
    // The panics counted below are expected to be caught; keep their noise out of the log.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut rng = StdRng::seed_from_u64(0xda3a6e);
    let (mut crashes, mut open_errors, mut quarantined, mut lost, mut reopen, mut altered) =
        (Vec::new(), Vec::new(), 0, Vec::new(), Vec::new(), 0);
    for case in 0..files {
        let (what, bytes) = damage(&good, case, &mut rng);
        let dir = root.0.join(format!("case-{case}"));
        fs::create_dir_all(&dir).unwrap();
        let out = session(&dir, &bytes);
        if let Some(p) = out.crashed {
            crashes.push(format!("{what}: {p}"));
        }
        if let Some(e) = out.open_error {
            open_errors.push(format!("{what}: {e}"));
        }
        quarantined += usize::from(out.quarantined_at_open);
        altered += usize::from(out.altered_before_quarantine);
        if out.lost_writes {
            lost.push(what.clone());
        }
        if let Some(e) = out.reopen_problem {
            reopen.push(format!("{what}: {e}"));
        }
        let _ = fs::remove_dir_all(&dir);
    }
    std::panic::set_hook(hook);
    println!(
        "damage campaign: {files} files of {} bytes: {} crashes, {} open errors, {quarantined} quarantined at open, {} lost writes, {} reopen problems, {altered} quarantined files altered",
        good.len(),
        crashes.len(),
        open_errors.len(),
        lost.len(),
        reopen.len()
    );
    for line in crashes.iter().chain(&open_errors).chain(&reopen).take(20) {
        println!("  {line}");
    }
    assert!(
        crashes.is_empty(),
        "{} crashes: {crashes:#?}",
        crashes.len()
    );
    assert!(open_errors.is_empty(), "{open_errors:#?}");
    assert!(reopen.is_empty(), "{reopen:#?}");
    assert!(lost.is_empty(), "writes lost after: {lost:#?}");
    assert!(quarantined > 0, "some damage must be detected at open");
    assert_eq!(
        altered, 0,
        "a quarantined file must be kept as it was found"
    );
}
