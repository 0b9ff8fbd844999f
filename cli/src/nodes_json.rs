//! go-ethereum's `nodes.json` format (`cmd/devp2p/nodeset.go`): node id (64 hex) →
//! `{seq, record, score, firstResponse, lastResponse, lastCheck}`, keys sorted.

use std::{collections::BTreeMap, path::Path, time::SystemTime};

use enode::{parse_enr, Enr};
use serde::{Deserialize, Serialize};

use super::timefmt::{format_rfc3339, parse_rfc3339};

/// Largest nodes.json read (a mainnet crawl is a few MB).
pub const MAX_FILE_SIZE: u64 = 256 * 1024 * 1024;

/// One node of the set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeEntry {
    /// The record's sequence number.
    pub seq: u64,
    /// The record, `enr:…`.
    pub record: String,
    /// Crawler score: +1 per answer, halved per failure; 0 removes the node.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub score: i64,
    /// First successful check.
    #[serde(
        default,
        rename = "firstResponse",
        skip_serializing_if = "Option::is_none"
    )]
    pub first_response: Option<String>,
    /// Last successful check.
    #[serde(
        default,
        rename = "lastResponse",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_response: Option<String>,
    /// Last check, successful or not.
    #[serde(default, rename = "lastCheck", skip_serializing_if = "Option::is_none")]
    pub last_check: Option<String>,
}

fn is_zero(score: &i64) -> bool {
    *score == 0
}

impl NodeEntry {
    /// A fresh entry for a record.
    pub fn new(enr: &Enr) -> Self {
        Self {
            seq: enr.seq(),
            record: enr.to_base64(),
            score: 0,
            first_response: None,
            last_response: None,
            last_check: None,
        }
    }

    /// The decoded record.
    pub fn enr(&self) -> Option<Enr> {
        parse_enr(&self.record).ok()
    }

    /// When the node was last checked (Go's zero time counts as never).
    pub fn last_check_time(&self) -> Option<SystemTime> {
        self.last_check.as_deref().and_then(parse_rfc3339)
    }

    /// Records a successful check with the record the node returned.
    pub fn on_success(&mut self, enr: &Enr, now: SystemTime) {
        if enr.seq() >= self.seq {
            self.seq = enr.seq();
            self.record = enr.to_base64();
        }
        self.score += 1;
        let stamp = format_rfc3339(now);
        if self
            .first_response
            .as_deref()
            .and_then(parse_rfc3339)
            .is_none()
        {
            self.first_response = Some(stamp.clone());
        }
        self.last_response = Some(stamp.clone());
        self.last_check = Some(stamp);
    }

    /// Records a failed check; returns false when the node should be removed.
    pub fn on_failure(&mut self, now: SystemTime) -> bool {
        self.score /= 2;
        self.last_check = Some(format_rfc3339(now));
        self.score > 0
    }
}

/// The whole set, sorted by id.
pub type NodeSet = BTreeMap<String, NodeEntry>;

/// Reads a nodes.json; a missing file is an empty set.
pub fn load(path: &Path) -> Result<NodeSet, String> {
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(NodeSet::new()),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    if metadata.len() > MAX_FILE_SIZE {
        return Err(format!(
            "{} is larger than {MAX_FILE_SIZE} bytes",
            path.display()
        ));
    }
    let text = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if text.iter().all(u8::is_ascii_whitespace) {
        return Ok(NodeSet::new());
    }
    serde_json::from_slice(&text)
        .map_err(|e| format!("{} is not a valid nodes.json: {e}", path.display()))
}

/// Writes a nodes.json atomically (temporary file, then rename).
pub fn save(path: &Path, set: &NodeSet) -> Result<(), String> {
    let mut text =
        serde_json::to_vec_pretty(set).map_err(|e| format!("cannot encode nodes.json: {e}"))?;
    text.push(b'\n');
    let mut temp = path.as_os_str().to_owned();
    temp.push(".tmp");
    let temp = std::path::PathBuf::from(temp);
    std::fs::write(&temp, &text)
        .and_then(|()| std::fs::rename(&temp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&temp);
            format!("cannot write {}: {e}", path.display())
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn geth_zero_time_is_never_and_scores_halve() {
        let json = r#"{"seq":1,"record":"enr:x","score":5,"lastCheck":"0001-01-01T00:00:00Z"}"#;
        let mut entry: NodeEntry = serde_json::from_str(json).unwrap();
        assert_eq!(entry.last_check_time(), None);
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert!(entry.on_failure(now));
        assert_eq!(entry.score, 2);
        assert!(entry.on_failure(now));
        assert!(!entry.on_failure(now));
        assert_eq!(entry.last_check_time(), Some(now));
    }
}
