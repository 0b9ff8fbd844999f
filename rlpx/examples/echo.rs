//! A complete devp2p protocol in one file: `echo/1`, one message code (0 = "echo this").
//!
//! Terminal 1: `cargo run -p rlpx --example echo -- listen 127.0.0.1:30399`
//!   prints `listening: enode://<id>@127.0.0.1:30399`
//! Terminal 2: `cargo run -p rlpx --example echo -- dial enode://<id>@127.0.0.1:30399 hello`
//!   prints `echoed: hello (rtt …)`
//!
//! The session layer does the EIP-8 handshake, the Hellos, snappy, p2p pings and capability
//! offsets; the protocol only sees its own message codes.

use enode::NodeKey;
use std::{net::SocketAddr, time::Instant};

use bytes::Bytes;
use rlpx::{
    p2p::{DisconnectReason, Protocol},
    session::{accept, dial, SessionConfig},
    PublicKey, SecretKey,
};

const ECHO: u64 = 0;

fn config() -> SessionConfig {
    SessionConfig::new("echo-example/0.1", vec![Protocol::new("echo", 1, 1)])
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let key = NodeKey::from(SecretKey::new(&mut rand::thread_rng()));
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["listen", addr] => listen(addr.parse()?, key).await,
        ["dial", enode, text] => dial_and_echo(enode, text, key).await,
        _ => Err("usage: echo listen <ip:port> | echo dial <enode> <text>".into()),
    }
}

async fn listen(addr: SocketAddr, key: NodeKey) -> Result<(), Box<dyn std::error::Error>> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    println!(
        "listening: enode://{}@{}:{}",
        hex::encode(key.peer_id()),
        local.ip(),
        local.port()
    );
    loop {
        let (tcp, remote) = listener.accept().await?;
        let key = key.clone();
        tokio::spawn(async move {
            let mut session = match accept(tcp, &key, &config()).await {
                Ok(session) => session,
                Err(error) => return eprintln!("{remote}: {error}"),
            };
            println!("{remote}: {} joined", session.remote_hello.client_id);
            let Some(mut echo) = session.connection.take_handle("echo") else {
                return;
            };
            while let Some((code, payload)) = echo.recv().await {
                if code == ECHO && echo.send(ECHO, payload).await.is_err() {
                    break;
                }
            }
            println!(
                "{remote}: session ended: {}",
                session.connection.closed().await
            );
        });
    }
}

async fn dial_and_echo(
    enode: &str,
    text: &str,
    key: NodeKey,
) -> Result<(), Box<dyn std::error::Error>> {
    let (id, addr) = parse_enode(enode)?;
    let mut session = dial(addr, &key, id, &config()).await?;
    let mut echo = session
        .connection
        .take_handle("echo")
        .ok_or("the remote does not speak echo/1")?;
    let started = Instant::now();
    echo.send(ECHO, Bytes::copy_from_slice(text.as_bytes()))
        .await?;
    let (_, reply) = echo.recv().await.ok_or("session ended before the echo")?;
    println!(
        "echoed: {} (rtt {:?})",
        String::from_utf8_lossy(&reply),
        started.elapsed()
    );
    session
        .connection
        .disconnect(DisconnectReason::ClientQuitting);
    session.connection.closed().await;
    Ok(())
}

/// `enode://<128 hex>@<ip>:<port>` → (key, address). (The `discv4` crate has the full parser;
/// this example keeps to the rlpx crate.)
fn parse_enode(enode: &str) -> Result<(PublicKey, SocketAddr), Box<dyn std::error::Error>> {
    let rest = enode.strip_prefix("enode://").ok_or("expected enode://")?;
    let (id, host) = rest
        .split_once('@')
        .ok_or("expected enode://<id>@<ip>:<port>")?;
    let mut uncompressed = [4u8; 65];
    hex::decode_to_slice(id, &mut uncompressed[1..])?;
    let addr = host.split('?').next().unwrap_or(host).parse()?;
    Ok((PublicKey::from_slice(&uncompressed)?, addr))
}
