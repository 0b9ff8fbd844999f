//! How the service reacts to verified packets and to the end of its requests: the
//! endpoint-proof rules, reply matching, NEIGHBORS filtering and FINDNODE failure tracking.
//! Replies reach their waiters here: a handle's oneshot, a lookup, a bond, a liveness check.

use std::net::{IpAddr, SocketAddr};

use tokio::time::Instant;
use tracing::{debug, info, trace, warn};

use crate::{
    lookup::RESULT_SIZE,
    proto::{EnrResponse, FindNode, Neighbors, Packet, PacketKind, Ping, Pong},
    table::{CheckOutcome, NodeInfo},
};

use enode::{
    netutil::check_relay,
    PeerId, {enr_peer_id, enr_to_node_record, NodeRecord},
};

use super::{
    super::{
        bonding::AfterBond,
        command::{PongInfo, RequestError},
        ingress::Ingress,
        metrics::DropReason,
        pending::{
            Answered, EnrWaiter, Expect, NeighborsMatch, NeighborsWaiter, Pending, PongWaiter,
            Resend,
        },
        ping_back::PingBack,
    },
    Followup, Service,
};

impl Service {
    // ---------------------------------------------------------------- incoming packets

    pub(super) async fn on_packet(&mut self, ingress: Ingress) {
        let Ingress {
            src,
            decoded,
            ping_back,
        } = ingress;
        let sender = decoded.sender;
        trace!(target: "discv4", %src, kind = decoded.packet.kind().name(), "packet");
        match decoded.packet {
            Packet::Ping(ping) => self.on_ping(src, sender, &ping, ping_back).await,
            Packet::Pong(pong) => self.on_pong(src, sender, &pong),
            Packet::FindNode(findnode) => self.on_findnode(src, sender, &findnode).await,
            Packet::Neighbors(neighbors) => self.on_neighbors(src, sender, neighbors),
            Packet::EnrRequest(_) => self.on_enr_request(src, sender, decoded.hash).await,
            Packet::EnrResponse(response) => self.on_enr_response(src, sender, response),
        }
    }

    /// The PONG was already sent by the ingress worker; here we remember the PING (the sender
    /// has now proven our endpoint, which releases the requests a bond with it was holding)
    /// and bond back when we have no fresh proof of theirs: usually the worker has already
    /// sent the ping-back and we only expect its PONG.
    async fn on_ping(&mut self, src: SocketAddr, sender: PeerId, ping: &Ping, ping_back: PingBack) {
        let id = sender.node_id();
        self.db.set_last_ping(&id, src.ip(), self.clock.now_secs());
        let released = self.bonds.remote_pinged(&sender, src.ip());
        self.followups
            .extend(released.into_iter().map(Followup::AfterBond));
        let record = NodeRecord {
            address: src.ip(),
            udp_port: src.port(),
            tcp_port: ping.from.tcp_port,
            id: sender,
        };
        if self.is_bonded(&sender, src.ip()) {
            self.priority.bonded(src);
            self.add_inbound(record);
            return;
        }
        let awaited = self.pending.has(&sender, src.ip(), PacketKind::Pong);
        match ping_back {
            // Tracked even when another PING to it is awaited (the worker decided while this
            // task was sending a bond PING): its PONG is then expected, not unsolicited.
            PingBack::Sent { hash } => self.track_ping_back(record, hash),
            PingBack::OverBudget => {}
            // The worker thought it needed none (a stale bonded mark, or a ping-back moments
            // ago that we no longer await): sign one here, within the same budget.
            PingBack::Skipped => {
                if !awaited {
                    if self.ping_backs.take_budget(Instant::now()) {
                        self.send_ping(record, PongWaiter::PingBack { record })
                            .await;
                    } else {
                        self.metrics.dropped(DropReason::PingBackLimited);
                    }
                }
            }
        }
    }

    fn add_inbound(&mut self, record: NodeRecord) {
        if !self.allowed_by_netrestrict(record.address) {
            return;
        }
        let outcome = self
            .table
            .add_inbound(NodeInfo::new(record), Instant::now());
        trace!(target: "discv4", node = %record.id, ?outcome, "inbound node");
    }

    fn on_pong(&mut self, src: SocketAddr, sender: PeerId, pong: &Pong) {
        let Some((sent, waiter)) = self.pending.take_pong(&sender, src.ip(), &pong.ping_hash)
        else {
            self.metrics.dropped(DropReason::Unsolicited);
            return;
        };
        let now = Instant::now();
        self.db
            .set_last_pong(&sender.node_id(), src.ip(), self.clock.now_secs());
        self.seen_pong = true;
        self.priority.bonded(src);
        self.predictor
            .add_statement(sender.node_id(), pong.to.udp_addr(), now);
        self.update_predicted_endpoint(now);
        let rtt = now.saturating_duration_since(sent.at);
        match waiter {
            PongWaiter::Client(reply) => {
                let _ = reply.send(Ok(PongInfo {
                    enr_seq: pong.enr_seq,
                    rtt,
                }));
            }
            PongWaiter::Revalidation => {
                let outcome = CheckOutcome::Responded {
                    enr_seq: pong.enr_seq,
                };
                let result = self
                    .table
                    .on_revalidation_result(&sender.node_id(), outcome, now);
                self.after_revalidation(result);
            }
            PongWaiter::PingBack { record } => self.add_inbound(record),
            PongWaiter::Bond => self.bond_ping_ended(&sender, src.ip()),
        }
    }

    fn update_predicted_endpoint(&mut self, now: Instant) {
        let predicted = self.predictor.predict(now);
        match self.local.set_predicted(predicted) {
            Ok(Some(seq)) => {
                info!(target: "discv4", endpoint = ?self.local.advertised_udp(), seq, "local endpoint changed, record updated");
                self.db.set_local_seq(seq);
            }
            Ok(None) => {}
            Err(error) => warn!(target: "discv4", %error, "cannot update the local record"),
        }
    }

    async fn on_findnode(&mut self, src: SocketAddr, sender: PeerId, findnode: &FindNode) {
        if !self.is_bonded(&sender, src.ip()) {
            // Silently: answering would make us an amplifier for spoofed sources.
            self.metrics.dropped(DropReason::NotBonded);
            return;
        }
        let target = findnode.target.node_id();
        let closest: Vec<NodeRecord> = self
            .table
            .closest(&target, RESULT_SIZE, true)
            .into_iter()
            .map(|e| e.record)
            .filter(|r| check_relay(src.ip(), r.address).is_ok())
            .collect();
        for packet in Neighbors::split(&closest, self.expiration()) {
            self.reply(&Packet::Neighbors(packet), src).await;
        }
    }

    fn on_neighbors(&mut self, src: SocketAddr, sender: PeerId, neighbors: Neighbors) {
        let received = neighbors.nodes.len();
        let valid: Vec<NodeRecord> = neighbors
            .nodes
            .into_iter()
            .filter(|node| self.valid_neighbor(src.ip(), node))
            .collect();
        match self
            .pending
            .offer_neighbors(&sender, src.ip(), received, &valid)
        {
            NeighborsMatch::Unsolicited => self.metrics.dropped(DropReason::Unsolicited),
            NeighborsMatch::Accumulated => {}
            NeighborsMatch::Completed(done) => {
                for answered in done {
                    self.finish_findnode(answered);
                }
            }
        }
    }

    /// geth's checks on NEIGHBORS entries: a port above 1024, an address the sender may
    /// relay, inside netrestrict, a key on the curve, and never ourselves.
    fn valid_neighbor(&self, sender_ip: IpAddr, node: &NodeRecord) -> bool {
        node.udp_port > 1024
            && check_relay(sender_ip, node.address).is_ok()
            && self.allowed_by_netrestrict(node.address)
            && node.id != self.local.peer_id()
            && node.id.is_on_curve()
    }

    async fn on_enr_request(&mut self, src: SocketAddr, sender: PeerId, hash: [u8; 32]) {
        if !self.is_bonded(&sender, src.ip()) {
            self.metrics.dropped(DropReason::NotBonded);
            return;
        }
        let response = Packet::EnrResponse(EnrResponse {
            request_hash: hash,
            enr: self.local.enr().clone(),
        });
        self.reply(&response, src).await;
    }

    fn on_enr_response(&mut self, src: SocketAddr, sender: PeerId, response: EnrResponse) {
        let Some((_, waiter)) = self
            .pending
            .take_enr(&sender, src.ip(), &response.request_hash)
        else {
            self.metrics.dropped(DropReason::Unsolicited);
            return;
        };
        let enr = response.enr;
        let endpoint = enr_to_node_record(&enr).ok();
        let valid = enr_peer_id(&enr).ok() == Some(sender)
            && endpoint.is_none_or(|r| check_relay(src.ip(), r.address).is_ok());
        if !valid {
            Self::fail_enr(
                waiter,
                RequestError::UnexpectedReply("ENR of another node or unrelayable address"),
            );
            return;
        }
        match waiter {
            EnrWaiter::Client(reply) => {
                let _ = reply.send(Ok(enr));
            }
            EnrWaiter::Refresh { record } => {
                let record = endpoint.unwrap_or(record);
                self.db.update_node(&record, Some(&enr));
                let _ = self
                    .table
                    .add_found(NodeInfo::with_enr(record, enr), Instant::now());
            }
        }
    }

    // ---------------------------------------------------------------- request outcomes

    pub(super) fn expire_requests(&mut self) {
        for pending in self.pending.take_expired(Instant::now()) {
            match pending.expect {
                // NEIGHBORS that did not reach 16 entries: what arrived is the answer, even
                // when it is an empty packet (the node has nothing for us).
                Expect::Neighbors {
                    nodes,
                    received,
                    replied,
                    waiter,
                } if received > 0 || replied => self.finish_findnode(Answered {
                    sent: pending.sent,
                    nodes,
                    waiter,
                }),
                // A first attempt of our own PING or a lookup's FINDNODE: once more.
                Expect::Pong { waiter, .. } if pending.sent.resend.is_some() => {
                    if let Some(Resend::Ping(node)) = pending.sent.resend {
                        self.followups.push_back(Followup::ResendPing(node, waiter));
                    }
                }
                Expect::Neighbors { waiter, .. } if pending.sent.resend.is_some() => {
                    // Counted as a failure now, so the second attempt re-bonds first.
                    self.track_findnode(&pending.sent.peer, pending.sent.ip, &[]);
                    if let Some(Resend::FindNode(node, target)) = pending.sent.resend {
                        self.followups
                            .push_back(Followup::ResendFindNode(node, target, waiter));
                    }
                }
                expect => {
                    if matches!(expect, Expect::Neighbors { .. }) {
                        self.track_findnode(&pending.sent.peer, pending.sent.ip, &[]);
                    }
                    self.fail(
                        Pending {
                            sent: pending.sent,
                            expect,
                        },
                        RequestError::Timeout,
                    );
                }
            }
        }
    }

    fn finish_findnode(&mut self, answered: Answered) {
        let Answered {
            sent,
            nodes,
            waiter,
        } = answered;
        self.track_findnode(&sent.peer, sent.ip, &nodes);
        match waiter {
            NeighborsWaiter::Client(reply) => {
                let _ = reply.send(Ok(nodes));
            }
            NeighborsWaiter::Lookup(id) => {
                self.lookups.answered(id, &sent.peer.node_id(), nodes);
            }
        }
    }

    /// geth's `trackRequest`: an answer with nodes resets the failure count and offers the
    /// nodes to the table; none counts a failure, and a node failing too often is dropped
    /// when its bucket can spare it.
    fn track_findnode(&mut self, peer: &PeerId, ip: IpAddr, found: &[NodeRecord]) {
        let id = peer.node_id();
        if found.is_empty() {
            let failures = self.db.findnode_failures(&id, ip).saturating_add(1);
            self.db.set_findnode_failures(&id, ip, failures);
            if failures >= self.config.max_findnode_failures
                && self.table.bucket_len_for(&id) >= self.config.min_bucket_for_failure_drop
            {
                debug!(target: "discv4", node = %peer, failures, "dropping node after FINDNODE failures");
                let _ = self.table.remove(&id, Instant::now());
            }
            return;
        }
        if self.db.findnode_failures(&id, ip) != 0 {
            self.db.set_findnode_failures(&id, ip, 0);
        }
        let now = Instant::now();
        for found in found {
            let _ = self.table.add_found(NodeInfo::new(*found), now);
        }
    }

    /// Tells whoever waits for a request that it failed.
    pub(super) fn fail(&mut self, pending: Pending, error: RequestError) {
        let Pending { sent, expect } = pending;
        match expect {
            Expect::Pong { waiter, .. } => match waiter {
                PongWaiter::Client(reply) => {
                    let _ = reply.send(Err(error));
                }
                PongWaiter::Revalidation => {
                    let result = self.table.on_revalidation_result(
                        &sent.peer.node_id(),
                        CheckOutcome::Timeout,
                        Instant::now(),
                    );
                    self.after_revalidation(result);
                }
                // A failed PING does not stop the requests behind it: the node may still
                // answer them (geth goes on as well).
                PongWaiter::Bond => self.bond_ping_ended(&sent.peer, sent.ip),
                PongWaiter::PingBack { .. } => {}
            },
            Expect::Neighbors { waiter, .. } => match waiter {
                NeighborsWaiter::Client(reply) => {
                    let _ = reply.send(Err(error));
                }
                NeighborsWaiter::Lookup(id) => self.lookups.failed(id, &sent.peer.node_id()),
            },
            Expect::Enr { waiter, .. } => Self::fail_enr(waiter, error),
        }
    }

    /// Tells whoever waits for a request that never went out that it failed.
    pub(super) fn fail_held(&mut self, held: AfterBond, error: RequestError) {
        match held {
            AfterBond::FindNode { node, waiter, .. } => match waiter {
                NeighborsWaiter::Client(reply) => {
                    let _ = reply.send(Err(error));
                }
                NeighborsWaiter::Lookup(id) => self.lookups.failed(id, &node.id.node_id()),
            },
            AfterBond::EnrRequest { waiter, .. } => Self::fail_enr(waiter, error),
        }
    }

    fn fail_enr(waiter: EnrWaiter, error: RequestError) {
        match waiter {
            EnrWaiter::Client(reply) => {
                let _ = reply.send(Err(error));
            }
            EnrWaiter::Refresh { .. } => {}
        }
    }
}
