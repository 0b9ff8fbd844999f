use std::sync::Arc;

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use super::*;

async fn start() -> SocketAddr {
    let listener = bind("127.0.0.1:0".parse().unwrap(), "test").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handler: Handler = Arc::new(|request: Request| {
        Box::pin(async move {
            Response::new(
                200,
                "text/plain",
                format!("{} {} {}", request.method, request.path, request.body.len()),
            )
        })
    });
    tokio::spawn(serve(listener, handler));
    addr
}

async fn exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    // The server may answer (and close) before the whole request is written.
    let _ = stream.write_all(request).await;
    let _ = stream.shutdown().await;
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    String::from_utf8_lossy(&response).into_owned()
}

#[tokio::test]
async fn serves_a_request_with_body() {
    let addr = start().await;
    let response = exchange(
        addr,
        b"POST /x?y=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(response.contains("Connection: close"));
    assert!(response.ends_with("POST /x 5"), "{response}");
}

#[tokio::test]
async fn rejects_oversized_head() {
    let addr = start().await;
    let mut request = b"GET / HTTP/1.1\r\nX: ".to_vec();
    request.extend(std::iter::repeat_n(b'a', MAX_HEAD + 10));
    request.extend_from_slice(b"\r\n\r\n");
    let response = exchange(addr, &request).await;
    assert!(response.starts_with("HTTP/1.1 431"), "{response}");
}

#[tokio::test]
async fn rejects_oversized_body_and_chunked() {
    let addr = start().await;
    let request = format!(
        "POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
        MAX_BODY + 1
    );
    let response = exchange(addr, request.as_bytes()).await;
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    let response = exchange(
        addr,
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 501"), "{response}");
}

#[tokio::test]
async fn rejects_malformed_requests() {
    let addr = start().await;
    for bad in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET / HTTP/2\r\n\r\n",
        b"GET / HTTP/1.1\r\nNoColon\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"GET / HTTP/1.1\r\n",
    ] {
        let response = exchange(addr, bad).await;
        assert!(
            response.starts_with("HTTP/1.1 4") || response.starts_with("HTTP/1.1 505"),
            "{:?} -> {response}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn head_parser_lowercases_names() {
    let (request, length) =
        parse_head(b"GET /metrics HTTP/1.0\r\nContent-Length: 0\r\nX-A: b ").unwrap();
    assert_eq!(request.path, "/metrics");
    assert_eq!(request.header("x-a"), Some("b"));
    assert_eq!(length, 0);
}
