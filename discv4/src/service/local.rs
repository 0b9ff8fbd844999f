//! Our own node: key, signed ENR with a persisted sequence number, and the endpoint we
//! advertise (static IP, else the PONG majority vote, else the listen address).

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
};

use secp256k1::SecretKey;

use crate::proto::Endpoint;

use enode::{
    PeerId, {EndpointConfig, EnrError, LocalEnr, NodeRecord},
};

/// Our signed node record.
pub type Enr = enode::Enr;

/// The parts of our identity the ingress workers need to answer PINGs on their own: read
/// lock-free on every PING.
#[derive(Debug)]
pub struct SharedLocal {
    /// Our key, to sign PONGs.
    pub key: SecretKey,
    /// Our identity.
    pub peer_id: PeerId,
    /// Current ENR seq, announced in PONGs.
    pub enr_seq: AtomicU64,
    /// The `from` endpoint of our PINGs (the workers sign ping-backs).
    ping_from: Mutex<Endpoint>,
}

impl SharedLocal {
    /// The `from` endpoint of our PINGs, as [`LocalNode::ping_endpoint`] last computed it.
    pub fn ping_endpoint(&self) -> Endpoint {
        match self.ping_from.lock() {
            Ok(endpoint) => *endpoint,
            Err(poisoned) => *poisoned.into_inner(),
        }
    }
}

/// Our record and the inputs it is built from.
#[derive(Debug)]
pub struct LocalNode {
    shared: Arc<SharedLocal>,
    enr: LocalEnr,
    listen: SocketAddr,
    static_ip: Option<IpAddr>,
    predicted: Option<SocketAddr>,
    tcp_port: u16,
    /// Application entries (EIP-868), e.g. `eth` = [fork id], kept across re-signs.
    entries: Vec<(String, Vec<u8>)>,
}

impl LocalNode {
    /// Builds our record. `stored_seq` is the seq persisted by the last run (if any); the new
    /// record gets a strictly higher one (a fresh node starts at Unix time in milliseconds).
    pub fn new(
        key: SecretKey,
        listen: SocketAddr,
        static_ip: Option<IpAddr>,
        tcp_port: u16,
        stored_seq: Option<u64>,
        entries: Vec<(String, Vec<u8>)>,
    ) -> Result<Self, EnrError> {
        let peer_id = PeerId::from_secret_key(&key);
        let advertised = advertised_udp(listen, static_ip, None);
        let enr = LocalEnr::new(
            key,
            endpoints(advertised, tcp_port, entries.clone()),
            stored_seq,
        )?;
        let shared = Arc::new(SharedLocal {
            key,
            peer_id,
            enr_seq: AtomicU64::new(enr.seq()),
            ping_from: Mutex::new(Endpoint::new(Ipv4Addr::LOCALHOST.into(), 0, 0)),
        });
        let local = Self {
            shared,
            enr,
            listen,
            static_ip,
            predicted: None,
            tcp_port,
            entries,
        };
        local.share_ping_endpoint();
        Ok(local)
    }

    /// State shared with the ingress workers.
    pub fn shared(&self) -> Arc<SharedLocal> {
        Arc::clone(&self.shared)
    }

    /// Our key, to sign packets.
    pub fn key(&self) -> &SecretKey {
        &self.shared.key
    }

    /// Our signed record.
    pub fn enr(&self) -> &Enr {
        self.enr.record()
    }

    /// The record's seq.
    pub fn seq(&self) -> u64 {
        self.enr.seq()
    }

    /// Our identity.
    pub fn peer_id(&self) -> PeerId {
        self.shared.peer_id
    }

    /// The endpoint we advertise, when we know a routable one.
    pub fn advertised_udp(&self) -> Option<SocketAddr> {
        advertised_udp(self.listen, self.static_ip, self.predicted)
    }

    /// The `from` endpoint of our PINGs. Receivers mostly ignore it, but ethereumjs pings back
    /// to it, so it falls back to 127.0.0.1 (as geth does) rather than an unspecified address.
    pub fn ping_endpoint(&self) -> Endpoint {
        let udp = self.node_record();
        Endpoint::new(udp.address, udp.udp_port, self.tcp_port)
    }

    fn share_ping_endpoint(&self) {
        let endpoint = self.ping_endpoint();
        match self.shared.ping_from.lock() {
            Ok(mut shared) => *shared = endpoint,
            Err(poisoned) => *poisoned.into_inner() = endpoint,
        }
    }

    /// Our node as an enode record (for printing and tests), falling back to 127.0.0.1 when
    /// no routable address is known yet.
    pub fn node_record(&self) -> NodeRecord {
        let udp = self.advertised_udp().unwrap_or_else(|| {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), self.listen.port())
        });
        NodeRecord {
            address: udp.ip(),
            udp_port: udp.port(),
            tcp_port: self.tcp_port,
            id: self.peer_id(),
        }
    }

    /// Takes the endpoint predictor's current answer. Returns the new seq when the record
    /// changed (the caller persists it).
    pub fn set_predicted(
        &mut self,
        predicted: Option<SocketAddr>,
    ) -> Result<Option<u64>, EnrError> {
        if predicted == self.predicted {
            return Ok(None);
        }
        self.predicted = predicted;
        self.share_ping_endpoint();
        let changed = self.enr.set_endpoints(endpoints(
            self.advertised_udp(),
            self.tcp_port,
            self.entries.clone(),
        ))?;
        if !changed {
            return Ok(None);
        }
        self.shared.enr_seq.store(self.enr.seq(), Ordering::Relaxed);
        Ok(Some(self.enr.seq()))
    }
}

/// Static IP first, then the predicted endpoint's IP, then a specific listen IP; the port is
/// the predicted one (what NAT maps us to) or the listen port.
fn advertised_udp(
    listen: SocketAddr,
    static_ip: Option<IpAddr>,
    predicted: Option<SocketAddr>,
) -> Option<SocketAddr> {
    let port = predicted.map_or(listen.port(), |p| p.port());
    let ip = static_ip
        .or(predicted.map(|p| p.ip()))
        .or_else(|| (!listen.ip().is_unspecified()).then(|| listen.ip()))?;
    Some(SocketAddr::new(ip, port))
}

fn endpoints(
    udp: Option<SocketAddr>,
    tcp_port: u16,
    extra: Vec<(String, Vec<u8>)>,
) -> EndpointConfig {
    let tcp = (tcp_port != 0).then_some(tcp_port);
    let config = match udp {
        None => EndpointConfig::default(),
        Some(SocketAddr::V4(v4)) => EndpointConfig {
            ip4: Some(*v4.ip()),
            udp4: Some(v4.port()),
            tcp4: tcp,
            ..Default::default()
        },
        Some(SocketAddr::V6(v6)) => EndpointConfig {
            ip6: Some(*v6.ip()),
            udp6: Some(v6.port()),
            tcp6: tcp,
            ..Default::default()
        },
    };
    EndpointConfig {
        extra: extra.into_iter().collect(),
        ..config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SecretKey {
        SecretKey::from_slice(&[7u8; 32]).unwrap()
    }

    #[test]
    fn record_carries_the_listen_endpoint_and_a_fresh_seq() {
        let node = LocalNode::new(
            key(),
            "127.0.0.1:30301".parse().unwrap(),
            None,
            0,
            None,
            Vec::new(),
        )
        .unwrap();
        assert!(
            node.seq() > 1_600_000_000_000,
            "first seq is Unix time in ms"
        );
        assert_eq!(node.enr().ip4(), Some(Ipv4Addr::LOCALHOST));
        assert_eq!(node.enr().udp4(), Some(30301));
        assert_eq!(node.enr().tcp4(), None);
        assert!(node.enr().verify());
        assert_eq!(node.shared().enr_seq.load(Ordering::Relaxed), node.seq());
    }

    #[test]
    fn stored_seq_only_grows() {
        let node = LocalNode::new(
            key(),
            "127.0.0.1:1".parse().unwrap(),
            None,
            30303,
            Some(41),
            Vec::new(),
        )
        .unwrap();
        assert_eq!(node.seq(), 42);
        assert_eq!(node.enr().tcp4(), Some(30303));
    }

    #[test]
    fn unspecified_listen_address_gives_no_ip_until_predicted() {
        let mut node = LocalNode::new(
            key(),
            "0.0.0.0:30301".parse().unwrap(),
            None,
            0,
            Some(1),
            Vec::new(),
        )
        .unwrap();
        assert_eq!(node.enr().ip4(), None);
        assert_eq!(
            node.ping_endpoint().udp_addr(),
            "127.0.0.1:30301".parse().unwrap()
        );
        let new_seq = node
            .set_predicted(Some("1.2.3.4:4000".parse().unwrap()))
            .unwrap();
        assert_eq!(new_seq, Some(3));
        assert_eq!(node.enr().ip4(), Some(Ipv4Addr::new(1, 2, 3, 4)));
        assert_eq!(node.enr().udp4(), Some(4000));
        // The same prediction again changes nothing.
        assert_eq!(
            node.set_predicted(Some("1.2.3.4:4000".parse().unwrap()))
                .unwrap(),
            None
        );
    }

    #[test]
    fn static_ip_wins_over_prediction() {
        let ip: IpAddr = "5.6.7.8".parse().unwrap();
        let mut node = LocalNode::new(
            key(),
            "0.0.0.0:30301".parse().unwrap(),
            Some(ip),
            0,
            Some(1),
            vec![("eth".to_owned(), vec![0xc7, 0xc6, 0x84, 1, 2, 3, 4, 0x80])],
        )
        .unwrap();
        assert_eq!(node.advertised_udp(), Some(SocketAddr::new(ip, 30301)));
        node.set_predicted(Some("1.2.3.4:4000".parse().unwrap()))
            .unwrap();
        assert_eq!(node.advertised_udp(), Some(SocketAddr::new(ip, 4000)));
        // The application entry survives the re-sign.
        let eth = node.enr().get_raw_rlp("eth").map(<[u8]>::to_vec);
        assert_eq!(eth, Some(vec![0xc7, 0xc6, 0x84, 1, 2, 3, 4, 0x80]));
    }
}
