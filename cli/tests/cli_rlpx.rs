//! `kadnode rlpx ping` / `rlpx listen`: against each other and against ethereumjs.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod cli_support;
#[path = "../../tests/common/mod.rs"]
mod common;

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use cli_support::*;
use common::js::{listening, JsPeer};
use serde_json::json;

const JS_WAIT: Duration = Duration::from_secs(20);

fn start_listen(extra: &[&str]) -> (Proc, String) {
    let mut args = vec!["rlpx", "listen", "--addr", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    let mut proc = Proc::spawn(KADNODE, &args);
    let enode = proc.wait_stdout(|l| l.starts_with("enode://"));
    proc.wait_stdout(|l| l.starts_with("listening on tcp"));
    (proc, enode)
}

#[test]
fn ping_reads_the_hello_of_rlpx_listen() {
    let key = "3".repeat(64);
    let (mut listen, enode) = start_listen(&[
        "--nodekeyhex",
        &key,
        "--caps",
        "eth/68,snap/1",
        "--client-id",
        "probe-target",
    ]);
    let out = run(KADNODE, &["rlpx", "ping", &enode]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains("client id:    probe-target"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("capabilities: eth/68, snap/1"),
        "{}",
        out.stdout
    );
    assert!(out
        .stdout
        .contains(&format!("id:           {}", pubkey_of(&enode))));

    let out = run(KADNODE, &["--json", "rlpx", "ping", &enode]);
    let value: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(value["hello"]["clientId"], "probe-target");
    assert_eq!(value["hello"]["version"], 5);
    // ping never sends a Hello, so the listener sees the session fail, and says so.
    listen.wait_stdout(|l| l.contains("session not established"));

    // Nothing listens on a closed port: exit 1 with the reason.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let url = format!("{}@127.0.0.1:{port}", enode.split('@').next().unwrap());
    let out = run(KADNODE, &["rlpx", "ping", &url]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("TCP connect"), "{out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_prints_the_hello_of_ethereumjs() {
    let Some(mut js) = JsPeer::spawn("rlpx.mjs", &["0", "--client-id", "ethereumjs-interop"])
    else {
        return;
    };
    let (port, id) = listening(&js.wait_event("listening", JS_WAIT).await.unwrap());
    let enode = format!("enode://{id}@127.0.0.1:{port}");
    let out = tokio::task::spawn_blocking(move || run(KADNODE, &["rlpx", "ping", &enode]))
        .await
        .unwrap();
    assert_eq!(out.code, 0, "{out:?}\n{}", js.stderr());
    assert!(
        out.stdout.contains("client id:    ethereumjs-interop"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("capabilities: snap/1"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(&format!("id:           {id}")),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("version:      5"), "{}", out.stdout);
    js.exit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_shows_an_ethereumjs_session() {
    let Some(mut js) = JsPeer::spawn("rlpx.mjs", &["0", "--client-id", "ethereumjs-dialer"]) else {
        return;
    };
    let (_, js_id) = listening(&js.wait_event("listening", JS_WAIT).await.unwrap());
    let (listen, enode) = tokio::task::spawn_blocking(|| start_listen(&["--caps", "snap/1"]))
        .await
        .unwrap();
    let port: u16 = enode.rsplit(':').next().unwrap().parse().unwrap();
    let our_id = pubkey_of(&enode);
    js.send(json!({"cmd": "connect", "id": our_id, "address": "127.0.0.1", "tcpPort": port}))
        .await
        .unwrap();
    let added = js.wait_event("peer:added", JS_WAIT).await.unwrap();
    assert_eq!(
        added["clientId"],
        format!("kadnode/v{}", env!("CARGO_PKG_VERSION"))
    );

    // GetByteCodes: [reqID=1, [hash], bytes=100].
    let payload = format!("e401e1a0{}64", "11".repeat(32));
    js.send(json!({"cmd": "send", "id": our_id, "code": 4, "payload": payload}))
        .await
        .unwrap();
    js.wait_event("send:ok", JS_WAIT).await.unwrap();
    js.send(json!({"cmd": "disconnect", "id": our_id, "reason": 8}))
        .await
        .unwrap();

    let listen = tokio::task::spawn_blocking(move || {
        let mut listen = listen;
        listen.wait_stdout(|l| l.contains("client id:    ethereumjs-dialer"));
        listen.wait_stdout(|l| l.starts_with("id:") && l.contains(&js_id));
        listen.wait_stdout(|l| l.contains("shared:       snap/1"));
        listen.wait_stdout(|l| l.contains("snap/1 message code 0x04, 37 bytes"));
        listen.wait_stdout(|l| {
            l.contains("session ended: remote disconnected") && l.contains("0x08")
        });
        listen
    })
    .await
    .unwrap();
    drop(listen);
    js.exit().await;
}

/// `rlpx listen` runs every connection through `rlpx::session`, so a first frame larger than
/// the 2 KiB Hello cap is refused from its header, and the listener reports the failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_refuses_a_3_kib_first_frame() {
    use futures::SinkExt;

    let key = "4".repeat(64);
    let (listen, enode) =
        tokio::task::spawn_blocking(move || start_listen(&["--nodekeyhex", &key]))
            .await
            .unwrap();
    let record = enode::parse_node(&enode).unwrap().0;
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", record.tcp_port))
        .await
        .unwrap();
    let mut stream =
        rlpx::frame::UnauthedRlpx::new(tcp, enode::SecretKey::new(&mut rand::thread_rng()))
            .connect(record.id.to_public_key().unwrap())
            .await
            .unwrap();
    // A 3 KiB "Hello" (message code 0): over the cap, refused without being buffered.
    let oversize = rlpx::frame::encode_message(0, &vec![0xc0; 3 * 1024]);
    let _ = stream.send(oversize).await;
    let listen = tokio::task::spawn_blocking(move || {
        let mut listen = listen;
        let line = listen.wait_stdout(|l| l.contains("session not established"));
        eprintln!("listener: {line}");
        assert!(
            line.contains("too large") || line.contains("exceeds"),
            "{line}"
        );
        listen
    })
    .await
    .unwrap();
    drop(listen);
}

/// Connections the attacker keeps trying at once, all from one address.
const ATTACKERS: usize = 100;

/// Connects from `source` to `to`, holds the connection silently until the listener closes
/// it (or 10 s pass), and does it again, until `stop`.
async fn reconnect_in_a_loop(
    source: SocketAddr,
    to: SocketAddr,
    stop: Arc<AtomicBool>,
    attempts: Arc<AtomicUsize>,
    flood_going: Arc<tokio::sync::Notify>,
) {
    use tokio::io::AsyncReadExt;
    while !stop.load(Ordering::Relaxed) {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(source).unwrap();
        if let Ok(mut stream) = socket.connect(to).await {
            if attempts.fetch_add(1, Ordering::Relaxed) + 1 == 3 * ATTACKERS {
                flood_going.notify_one();
            }
            let mut buf = [0u8; 64];
            let _ = tokio::time::timeout(Duration::from_secs(10), async {
                while !matches!(stream.read(&mut buf).await, Ok(0) | Err(_)) {}
            })
            .await;
        }
        // A short pause: a tight loop would only measure this machine's CPU.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// With the production treatment of local addresses (`--limit-local`), one address
/// reconnecting in a loop cannot lock an honest `rlpx ping` from another address out: the
/// per-IP throttle and pending cap refuse the flood before any handshake work, so the global
/// pending slots stay free. (Without the flag, loopback is exempt and the same flood holds
/// every pending slot: the pings fail.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_reconnecting_in_a_loop_cannot_lock_out_an_honest_ping() {
    let (listen, enode) = tokio::task::spawn_blocking(|| start_listen(&["--limit-local"]))
        .await
        .unwrap();
    let port: u16 = enode.rsplit(':').next().unwrap().parse().unwrap();
    let target: SocketAddr = ([127, 0, 0, 1], port).into();
    let flooder: SocketAddr = ([127, 0, 0, 2], 0).into();
    let stop = Arc::new(AtomicBool::new(false));
    let attempts = Arc::new(AtomicUsize::new(0));
    let flood_going = Arc::new(tokio::sync::Notify::new());
    let tasks: Vec<_> = (0..ATTACKERS)
        .map(|_| {
            tokio::spawn(reconnect_in_a_loop(
                flooder,
                target,
                Arc::clone(&stop),
                Arc::clone(&attempts),
                Arc::clone(&flood_going),
            ))
        })
        .collect();
    // Wait until the flood has had every slot it could get.
    tokio::time::timeout(WAIT, flood_going.notified())
        .await
        .expect("the flood did not get going");

    // The honest ping comes from 127.0.0.1 (the kernel's source for a loopback target). One
    // only: the throttle admits one attempt per address every 30 s, honest or not.
    let url = enode.clone();
    let out = tokio::task::spawn_blocking(move || run(KADNODE, &["rlpx", "ping", &url]))
        .await
        .unwrap();
    assert_eq!(out.code, 0, "the honest ping was locked out: {out:?}");
    assert!(out.stdout.contains("client id:"), "{}", out.stdout);
    let flood = attempts.load(Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.abort();
    }
    let listen = tokio::task::spawn_blocking(move || {
        let mut listen = listen;
        // The flood was refused at admission, as throttled or over the per-IP cap.
        let line = listen.wait_stdout(|l| l.starts_with("127.0.0.2:") && l.contains("refused ("));
        assert!(
            line.contains("too many attempts") || line.contains("from this IP"),
            "{line}"
        );
        listen
    })
    .await
    .unwrap();
    eprintln!("{flood} flood connections from 127.0.0.2; the honest ping was answered");
    drop(listen);
}
