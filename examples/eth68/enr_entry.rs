//! The `eth` entry of a node record (EIP-868, as go-ethereum writes it in
//! `eth/protocols/eth/discovery.go`): `[[fork hash, fork next]]`. We put ours in our record so
//! that other clients' dialers pick us, and we dial only nodes whose entry our chain accepts.

use alloy_rlp::{Decodable, Encodable, Header};

use crate::status::{Chain, ForkId};

/// The entry's value for our record.
pub(crate) fn eth_entry(fork_id: ForkId) -> Vec<u8> {
    let fork_id_len = fork_id.hash.length() + fork_id.next.length();
    let inner = Header {
        list: true,
        payload_length: fork_id_len,
    };
    let mut out = Vec::new();
    Header {
        list: true,
        payload_length: inner.length() + fork_id_len,
    }
    .encode(&mut out);
    inner.encode(&mut out);
    fork_id.hash.encode(&mut out);
    fork_id.next.encode(&mut out);
    out
}

/// The fork id in a record's `eth` entry; `None` when the record has none or it does not
/// decode (extra trailing elements are allowed, as in go-ethereum's `rlp:"tail"`).
pub(crate) fn fork_id_of(record: &enode::Enr) -> Option<ForkId> {
    let mut raw = record.get_raw_rlp("eth")?;
    let outer = Header::decode(&mut raw).ok()?;
    let inner = Header::decode(&mut raw).ok()?;
    if !outer.list || !inner.list {
        return None;
    }
    let hash = <[u8; 4]>::decode(&mut raw).ok()?;
    let next = u64::decode(&mut raw).ok()?;
    Some(ForkId { hash, next })
}

/// The dial filter: a discovered node is dialed only when its record says it is on our chain.
pub(crate) fn same_chain(chain: Chain, head: (u64, u64)) -> kadnode::discovery::EnrFilter {
    std::sync::Arc::new(move |record| {
        fork_id_of(record).is_some_and(|remote| chain.accepts(head.0, head.1, remote))
    })
}
