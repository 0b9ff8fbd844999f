//! `GET /health` beside `/metrics`: 200 while the node can do its job, 503 when it cannot,
//! for load balancers, systemd watchdogs and container orchestrators.
//!
//! Healthy means the discovery service runs (its socket is bound: it answers the handle) and
//! the table holds nodes — or is still bootstrapping: within [`BOOTSTRAP_GRACE`] of start, or
//! for a node with no bootnodes at all (the first bootnode of a network waits for others to
//! arrive; an empty table is its normal state).

use std::time::Duration;

use discv4::service::Discv4Handle;
use serde_json::json;

use super::Response;

/// How long after start an empty table still counts as bootstrapping.
pub const BOOTSTRAP_GRACE: Duration = Duration::from_secs(120);

/// What the health check decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// The table holds this many nodes.
    Ok(usize),
    /// The table is empty but the node is still bootstrapping.
    Bootstrapping,
    /// The table stayed empty past the grace period although bootnodes were given.
    EmptyTable,
    /// The discovery service does not answer (stopped).
    Stopped,
}

impl Health {
    /// The decision from the table size (`None`: the service did not answer), the uptime and
    /// whether bootnodes were configured.
    pub fn decide(table_len: Option<usize>, uptime: Duration, has_bootnodes: bool) -> Self {
        match table_len {
            None => Self::Stopped,
            Some(0) if uptime < BOOTSTRAP_GRACE || !has_bootnodes => Self::Bootstrapping,
            Some(0) => Self::EmptyTable,
            Some(n) => Self::Ok(n),
        }
    }

    /// The HTTP status for this state.
    pub const fn status(self) -> u16 {
        match self {
            Self::Ok(_) | Self::Bootstrapping => 200,
            Self::EmptyTable | Self::Stopped => 503,
        }
    }
}

/// Answers `/health` for the node behind `handle`.
pub async fn respond(handle: &Discv4Handle, uptime: Duration, has_bootnodes: bool) -> Response {
    let table_len = handle
        .buckets()
        .await
        .ok()
        .map(|buckets| buckets.iter().map(|b| b.entries.len()).sum());
    let health = Health::decide(table_len, uptime, has_bootnodes);
    let (status, detail) = match health {
        Health::Ok(_) => ("ok", "the table holds nodes".to_owned()),
        Health::Bootstrapping => (
            "bootstrapping",
            "the table is empty; waiting for nodes".to_owned(),
        ),
        Health::EmptyTable => (
            "unhealthy",
            format!(
                "the table is still empty {}s after start: no bootnode answered",
                uptime.as_secs()
            ),
        ),
        Health::Stopped => ("unhealthy", "the discovery service stopped".to_owned()),
    };
    let body = json!({
        "status": status,
        "detail": detail,
        "tableNodes": table_len,
        "uptimeSeconds": uptime.as_secs(),
    });
    Response::new(health.status(), "application/json", format!("{body}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions() {
        let early = Duration::from_secs(5);
        let late = BOOTSTRAP_GRACE + Duration::from_secs(1);
        assert_eq!(Health::decide(Some(3), late, true), Health::Ok(3));
        assert_eq!(Health::decide(Some(0), early, true), Health::Bootstrapping);
        assert_eq!(Health::decide(Some(0), late, false), Health::Bootstrapping);
        assert_eq!(Health::decide(Some(0), late, true), Health::EmptyTable);
        assert_eq!(Health::decide(None, early, false), Health::Stopped);
        assert_eq!(Health::EmptyTable.status(), 503);
        assert_eq!(Health::Bootstrapping.status(), 200);
    }
}
