#![allow(unreachable_pub, dead_code)]
//! The `eth/68` Status handshake as a kadnode [`Protocol`]: both sides send Status (network
//! id, total difficulty, head, genesis, EIP-2124 fork id) and check the other's; a peer on
//! another network, genesis or fork is refused as incompatible. A real chain client would go
//! on to serve headers and bodies in the same loop.

use std::{future::Future, pin::Pin};

use alloy_rlp::{Decodable, Encodable, Header};
use bytes::{Bytes, BytesMut};
use kadnode::{PeerInfo, Protocol, ProtocolConn, ProtocolError, ProtocolSpec};
use tokio::sync::mpsc;

/// Message code of Status in eth/68.
const STATUS: u64 = 0x00;
/// eth/68 uses 17 message codes.
const ETH68_MESSAGES: u64 = 17;
/// Largest Status we decode (geth's limit for any eth message is 10 MiB; a Status is ~100 B).
const MAX_STATUS: usize = 1024;

/// EIP-2124 fork identifier: CRC32 over the genesis hash and every passed fork, plus the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForkId {
    /// CRC32 checksum of the genesis hash and the passed fork blocks/times.
    pub hash: [u8; 4],
    /// The next fork block or time, 0 if none is known.
    pub next: u64,
}

/// What a chain is, for the fork id: genesis and the activation points of its forks (block
/// numbers, then timestamps, as EIP-6122 orders them).
#[derive(Debug, Clone)]
pub struct Chain {
    /// Network id sent in Status.
    pub network_id: u64,
    /// Genesis block hash.
    pub genesis: [u8; 32],
    /// Fork activation block numbers, ascending.
    pub fork_blocks: Vec<u64>,
    /// Fork activation timestamps, ascending.
    pub fork_times: Vec<u64>,
}

impl Chain {
    /// Ethereum mainnet (network id 1) with its forks up to Prague.
    pub fn mainnet() -> Self {
        Self {
            network_id: 1,
            genesis: hex32("d4e56740f876aef8c010b86a40d5f56745a118d0906a34e69aec8c0db1cb8fa3"),
            fork_blocks: vec![
                1_150_000, 1_920_000, 2_463_000, 2_675_000, 4_370_000, 7_280_000, 9_069_000,
                9_200_000, 12_244_000, 12_965_000, 13_773_000, 15_050_000,
            ],
            fork_times: vec![1_681_338_455, 1_710_338_135, 1_746_612_311],
        }
    }

    fn forks(&self) -> impl Iterator<Item = u64> + '_ {
        let mut blocks = self.fork_blocks.clone();
        blocks.dedup();
        let mut times = self.fork_times.clone();
        times.dedup();
        blocks.into_iter().chain(times).filter(|f| *f != 0)
    }

    /// The fork id at a head block and time (EIP-2124, EIP-6122).
    pub fn fork_id(&self, head_block: u64, head_time: u64) -> ForkId {
        let mut hash = crc32(0, &self.genesis);
        let blocks = self.fork_blocks.len();
        for (index, fork) in self.forks().enumerate() {
            let head = if index < blocks {
                head_block
            } else {
                head_time
            };
            if fork > head {
                return ForkId {
                    hash: hash.to_be_bytes(),
                    next: fork,
                };
            }
            hash = crc32(hash, &fork.to_be_bytes());
        }
        ForkId {
            hash: hash.to_be_bytes(),
            next: 0,
        }
    }

    /// EIP-2124's validation of a remote fork id against ours at `head`.
    pub fn accepts(&self, head_block: u64, head_time: u64, remote: ForkId) -> bool {
        let forks: Vec<u64> = self.forks().collect();
        let blocks = self.fork_blocks.len();
        let passed = |index: usize, fork: u64| {
            fork <= if index < blocks {
                head_block
            } else {
                head_time
            }
        };
        let mut sums = vec![crc32(0, &self.genesis)];
        for fork in &forks {
            let last = sums[sums.len() - 1];
            sums.push(crc32(last, &fork.to_be_bytes()));
        }
        let current = forks
            .iter()
            .enumerate()
            .take_while(|(i, f)| passed(*i, **f))
            .count();
        let remote_hash = u32::from_be_bytes(remote.hash);
        if sums[current] == remote_hash {
            // Same fork: reject only if the remote announces a next fork we already passed.
            let head = if current < blocks {
                head_block
            } else {
                head_time
            };
            return remote.next == 0 || head < remote.next;
        }
        if let Some(i) = sums[..current].iter().position(|s| *s == remote_hash) {
            // The remote is behind: it must know our next fork after that point.
            return forks.get(i) == Some(&remote.next);
        }
        // The remote is ahead on a fork we know: it is fine, we will catch up.
        sums[current + 1..].contains(&remote_hash)
    }
}

/// A peer's Status, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// Protocol version (68).
    pub version: u64,
    /// Network id.
    pub network_id: u64,
    /// Total difficulty, big-endian without leading zeros.
    pub total_difficulty: Vec<u8>,
    /// Head block hash.
    pub head: [u8; 32],
    /// Genesis hash.
    pub genesis: [u8; 32],
    /// Fork id.
    pub fork_id: ForkId,
}

impl Status {
    /// The RLP encoding of the Status message body.
    pub fn encode(&self) -> Bytes {
        let fork = {
            let mut inner = BytesMut::new();
            self.fork_id.hash.as_slice().encode(&mut inner);
            self.fork_id.next.encode(&mut inner);
            let mut out = BytesMut::new();
            Header {
                list: true,
                payload_length: inner.len(),
            }
            .encode(&mut out);
            out.extend_from_slice(&inner);
            out
        };
        let mut body = BytesMut::new();
        self.version.encode(&mut body);
        self.network_id.encode(&mut body);
        self.total_difficulty.as_slice().encode(&mut body);
        self.head.as_slice().encode(&mut body);
        self.genesis.as_slice().encode(&mut body);
        body.extend_from_slice(&fork);
        let mut out = BytesMut::new();
        Header {
            list: true,
            payload_length: body.len(),
        }
        .encode(&mut out);
        out.extend_from_slice(&body);
        out.freeze()
    }

    /// Decodes a Status body; extra trailing list elements are ignored (EIP-8 leniency).
    pub fn decode(mut data: &[u8]) -> Result<Self, alloy_rlp::Error> {
        let outer = Header::decode(&mut data)?;
        if !outer.list || outer.payload_length > data.len() {
            return Err(alloy_rlp::Error::UnexpectedString);
        }
        let mut body = &data[..outer.payload_length];
        let version = u64::decode(&mut body)?;
        let network_id = u64::decode(&mut body)?;
        let total_difficulty = Bytes::decode(&mut body)?.to_vec();
        let head = <[u8; 32]>::decode(&mut body)?;
        let genesis = <[u8; 32]>::decode(&mut body)?;
        let fork = Header::decode(&mut body)?;
        if !fork.list {
            return Err(alloy_rlp::Error::UnexpectedString);
        }
        let hash = <[u8; 4]>::decode(&mut body)?;
        let next = u64::decode(&mut body)?;
        Ok(Self {
            version,
            network_id,
            total_difficulty,
            head,
            genesis,
            fork_id: ForkId { hash, next },
        })
    }
}

/// `eth/68` with only the Status exchange; every accepted peer's Status is reported on
/// `statuses` and the session is then held open.
pub struct EthStatus {
    /// Our chain.
    pub chain: Chain,
    /// Our head (block number, timestamp) for the fork id.
    pub head: (u64, u64),
    /// Where accepted peers' Status goes.
    pub statuses: mpsc::UnboundedSender<(PeerInfo, Status)>,
}

impl Protocol for EthStatus {
    fn spec(&self) -> ProtocolSpec {
        ProtocolSpec::new("eth", 68, ETH68_MESSAGES)
    }

    fn run(
        &self,
        peer: PeerInfo,
        mut conn: ProtocolConn,
    ) -> Pin<Box<dyn Future<Output = Result<(), ProtocolError>> + Send>> {
        let chain = self.chain.clone();
        let (head_block, head_time) = self.head;
        let statuses = self.statuses.clone();
        Box::pin(async move {
            let ours = Status {
                version: 68,
                network_id: chain.network_id,
                total_difficulty: vec![1],
                head: chain.genesis,
                genesis: chain.genesis,
                fork_id: chain.fork_id(head_block, head_time),
            };
            conn.send(STATUS, ours.encode()).await?;
            let (code, payload) =
                tokio::time::timeout(std::time::Duration::from_secs(5), conn.recv())
                    .await
                    .map_err(|_| ProtocolError::Timeout("no Status within 5 s".into()))??;
            if code != STATUS || payload.len() > MAX_STATUS {
                return Err(ProtocolError::BadMessage(format!(
                    "expected a Status, got code {code} ({} bytes)",
                    payload.len()
                )));
            }
            let theirs = Status::decode(&payload)
                .map_err(|e| ProtocolError::BadMessage(format!("undecodable Status: {e}")))?;
            if theirs.network_id != chain.network_id || theirs.genesis != chain.genesis {
                return Err(ProtocolError::Incompatible(format!(
                    "network {} / genesis {} is not ours",
                    theirs.network_id,
                    hex::encode(theirs.genesis)
                )));
            }
            if !chain.accepts(head_block, head_time, theirs.fork_id) {
                return Err(ProtocolError::Incompatible(format!(
                    "fork id {}/{} is incompatible with ours",
                    hex::encode(theirs.fork_id.hash),
                    theirs.fork_id.next
                )));
            }
            let _ = statuses.send((peer, theirs));
            // A chain client serves requests here; this example holds the session open.
            loop {
                conn.recv().await?;
            }
        })
    }
}

fn hex32(text: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    let _ = hex::decode_to_slice(text, &mut out);
    out
}

/// CRC-32 (IEEE 802.3), continuing from `crc` (0 to start), as EIP-2124 uses it.
pub fn crc32(crc: u32, data: &[u8]) -> u32 {
    let mut crc = !crc;
    for byte in data {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}
