//! Starting PEX inside a node: our record for the `pex/1` Status (discv4's when it runs, a
//! record of our own TCP endpoint when PEX runs alone), the service over the configured book,
//! and its protocol and candidate source handed to the server and the fair mix.

use std::{
    net::{IpAddr, SocketAddr},
    path::Path,
    sync::Arc,
};

use discv4::service::Discv4Handle;
use enode::{build_enr, unix_time_millis, EndpointConfig, Enr, NodeKey};

use crate::{
    config::P2pConfig,
    discovery::CandidateSource,
    error::NodeError,
    pex::{spawn_pex, BookContext, PexHandle},
};

/// A started PEX service: its source (for the mix) and its handle (kept by the node).
pub(super) struct StartedPex {
    pub(super) source: Box<dyn CandidateSource + Send>,
    pub(super) handle: PexHandle,
}

/// Starts PEX when `p2p.pex` is set, adding `pex/1` to `p2p.protocols`.
pub(super) async fn start(
    key: &NodeKey,
    p2p: &mut P2pConfig,
    discv4: Option<&Discv4Handle>,
    tcp_addr: Option<SocketAddr>,
    datadir: Option<&Path>,
) -> Result<Option<StartedPex>, NodeError> {
    let Some(config) = p2p.pex.take() else {
        return Ok(None);
    };
    let record = match discv4 {
        Some(handle) => match handle.local_enr().await {
            Ok(record) => record,
            Err(_) => own_record(key, tcp_addr)?,
        },
        None => own_record(key, tcp_addr)?,
    };
    let book = (config.book)(&BookContext {
        datadir,
        local_id: Some(key.peer_id()),
        private_ids: &config.private_ids,
        seed_mode: config.seed_mode,
    });
    let parts = spawn_pex(book, config, record);
    p2p.protocols.push(Arc::new(parts.protocol));
    Ok(Some(StartedPex {
        source: Box::new(parts.source),
        handle: parts.handle,
    }))
}

/// Our record without discv4: the TCP listen endpoint (loopback for an unspecified
/// address), announced for UDP too because a record without a UDP port is unusable to
/// discovery-minded peers and we use the same port number for both.
fn own_record(key: &NodeKey, tcp_addr: Option<SocketAddr>) -> Result<Enr, NodeError> {
    let mut endpoints = EndpointConfig::default();
    if let Some(addr) = tcp_addr {
        let port = Some(addr.port());
        match super::printable_ip(addr.ip()) {
            IpAddr::V4(ip) => {
                endpoints.ip4 = Some(ip);
                endpoints.tcp4 = port;
                endpoints.udp4 = port;
            }
            IpAddr::V6(ip) => {
                endpoints.ip6 = Some(ip);
                endpoints.tcp6 = port;
                endpoints.udp6 = port;
            }
        }
    }
    build_enr(key.secret_key(), unix_time_millis(), &endpoints).map_err(NodeError::PexRecord)
}
