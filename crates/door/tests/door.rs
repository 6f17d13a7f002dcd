//! A door over plain TCP: a visitor gets an answer, and closing the door ends the loop.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

#[tokio::test]
async fn a_visitor_is_answered_and_closing_the_door_ends_the_loop() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (close, closed) = oneshot::channel::<()>();
    let door = tokio::spawn(kubecorp_door::accept_loop(
        listener,
        async {
            let _ = closed.await;
        },
        |tcp, _peer, stop| async move {
            let service = service_fn(|_req| async {
                Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from("ok"))))
            });
            kubecorp_door::converse(tcp, service, stop).await;
        },
    ));

    let mut visitor = TcpStream::connect(addr).await.unwrap();
    visitor
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    visitor.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.ends_with("\r\n\r\nok"), "{answer}");

    // A visitor still connected does not keep the door open past the drain.
    let _lingering = TcpStream::connect(addr).await.unwrap();
    close.send(()).unwrap();
    assert_eq!(door.await.unwrap(), Ok(()));
}
