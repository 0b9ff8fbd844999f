//! One parser for "a node" on a command line or in a config file: `enode://…` or `enr:…`,
//! the two forms go-ethereum's generic `enode.Parse` accepts.

use std::str::FromStr;

use super::{
    enode::{EnodeUrl, NodeRecord},
    enr::{enr_peer_id, enr_to_node_record, parse_enr, Enr, ENR_PREFIX},
    error::{EnrError, ParseNodeError},
};
use crate::id::PeerId;

const ENODE_SCHEME: &str = "enode://";

/// A node as a user wrote it, before DNS resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeArg {
    /// An `enode://` URL (may name a DNS host, or no host at all).
    Enode(EnodeUrl),
    /// A verified `enr:` record.
    Enr(Enr),
}

impl FromStr for NodeArg {
    type Err = ParseNodeError;

    /// Surrounding whitespace is ignored; the prefix decides the form (`enode://` in any
    /// case, `enr:` exactly as geth requires).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let is_enode = s
            .get(..ENODE_SCHEME.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(ENODE_SCHEME));
        if is_enode {
            Ok(Self::Enode(s.parse()?))
        } else if s.starts_with(ENR_PREFIX) {
            Ok(Self::Enr(parse_enr(s)?))
        } else {
            Err(ParseNodeError::UnknownFormat)
        }
    }
}

impl NodeArg {
    /// The node's public key.
    pub fn peer_id(&self) -> Result<PeerId, EnrError> {
        match self {
            Self::Enode(url) => Ok(url.id),
            Self::Enr(record) => enr_peer_id(record),
        }
    }

    /// A contactable node: resolves a DNS host (5 s limit) and checks the result like
    /// geth's `ValidateComplete`. The record is returned too when the input was one.
    pub async fn resolve(self) -> Result<(NodeRecord, Option<Enr>), ParseNodeError> {
        match self {
            Self::Enode(url) => {
                let node = url.resolve().await?;
                node.validate_complete()?;
                Ok((node, None))
            }
            Self::Enr(record) => complete_enr(record),
        }
    }
}

fn complete_enr(record: Enr) -> Result<(NodeRecord, Option<Enr>), ParseNodeError> {
    let node = enr_to_node_record(&record)?;
    node.validate_complete()?;
    Ok((node, Some(record)))
}

/// Parses a contactable node from `enode://<key>@<ip>:<port>[?discport=N]` or `enr:…`
/// without any DNS lookup (use [`NodeArg::resolve`] for host names). The node must pass
/// geth's `ValidateComplete` (IP not multicast/unspecified, UDP port set, key on curve).
pub fn parse_node(s: &str) -> Result<(NodeRecord, Option<Enr>), ParseNodeError> {
    match s.parse::<NodeArg>()? {
        NodeArg::Enode(url) => {
            let node = NodeRecord::try_from(url)?;
            node.validate_complete()?;
            Ok((node, None))
        }
        NodeArg::Enr(record) => complete_enr(record),
    }
}
