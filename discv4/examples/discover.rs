//! Discovery as a library: start a discv4 node, bootstrap, and print the nodes a random walk
//! finds — the stream a dial scheduler consumes.
//!
//! `cargo run -p discv4 --example discover -- <enode-or-enr> [more bootnodes…]`
//! prints `local: enode://…` then one `found: enode://…` line per newly discovered node.

use std::sync::Arc;

use discv4::{
    db::NodeDb,
    service::{self, Discv4Config},
};

use enode::{parse_node, SecretKey};
use futures::StreamExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut bootnodes = Vec::new();
    for arg in std::env::args().skip(1) {
        let (record, _enr) = parse_node(&arg).map_err(|e| format!("{arg}: {e}"))?;
        bootnodes.push(record);
    }
    let config = Discv4Config {
        bootnodes,
        ..Default::default()
    };
    let transport = service::bind_udp("0.0.0.0:0".parse()?).await?;
    let key = SecretKey::new(&mut rand::thread_rng());
    let handle = service::spawn(config, key, Arc::clone(&transport), NodeDb::in_memory()?)?;
    println!(
        "local: enode://{}@127.0.0.1:0?discport={}",
        handle.local_id(),
        transport.local_addr()?.port()
    );

    let mut walk = handle.random_walk();
    while let Some(node) = walk.next().await {
        println!("found: {node}");
    }
    Ok(())
}
