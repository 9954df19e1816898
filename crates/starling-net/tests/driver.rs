//! The driver's mechanics with a probe machine: reads handed over without
//! copies, deadlines, the idle timeout, the read-rate limit, end of file,
//! the caller's future, readiness on real TCP and inside TLS, and the
//! output written before a TLS upgrade.

mod common;

use std::time::Duration;

use common::{Ev, Probe, tls_configs};
use starling_auth::negotiate::Machine;
use starling_auth::tls;
use starling_net::{Driver, READ_CHUNK, Transport, Wake};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_rustls::{TlsAcceptor, TlsConnector};

fn pair() -> (Driver<Probe, DuplexStream>, DuplexStream) {
    let (a, b) = tokio::io::duplex(64 * 1024);
    (Driver::new(Transport::new(a), Probe::default()), b)
}

fn never() -> std::future::Pending<()> {
    std::future::pending()
}

#[tokio::test]
async fn reads_are_handed_over_without_copies() {
    let (mut driver, mut peer) = pair();
    let big = format!("<message>{}</message>", "x".repeat(3000));
    peer.write_all(big.as_bytes()).await.unwrap();
    assert!(matches!(driver.wait(never()).await, Wake::Input));
    peer.write_all(b"<message/>").await.unwrap();
    assert!(matches!(driver.wait(never()).await, Wake::Input));
    let probe = driver.machine();
    assert_eq!(probe.fed, format!("{big}<message/>").as_bytes());
    assert_eq!(probe.copies, 0, "nothing goes through feed()");
    // Each read is a buffer of its own, given away: a read that filled
    // its buffer at least half as it is, a small one in a buffer of its
    // own size (so that what is made of it does not keep 4 KiB alive).
    assert_eq!(probe.buffers, [(big.len(), READ_CHUNK), (10, 10)]);
    assert!(probe.shrinks >= 2, "the machine is shrunk before sleeping");
}

#[tokio::test]
async fn output_is_written_before_waiting_and_by_flush() {
    let (mut driver, mut peer) = pair();
    driver.machine_mut().out = b"<a/>".to_vec();
    driver.flush().await.unwrap();
    driver.machine_mut().out = b"<b/>".to_vec();
    // wait() writes what is left before sleeping.
    assert!(matches!(driver.wait(async { 7 }).await, Wake::Other(7)));
    let mut got = [0u8; 8];
    peer.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"<a/><b/>");
}

#[tokio::test]
async fn end_of_file_is_reported_once_and_reading_stops() {
    let (mut driver, peer) = pair();
    drop(peer);
    assert!(matches!(driver.wait(never()).await, Wake::Eof(None)));
    assert_eq!(driver.machine_mut().next_event(), Some(Ev::Eof));
    // Nothing more is read: only the caller's future can end a wait now.
    assert!(matches!(driver.wait(async { 1 }).await, Wake::Other(1)));
    assert_eq!(driver.machine().eofs, 1);
}

#[tokio::test]
async fn input_and_the_callers_future_both_come_through() {
    for _ in 0..20 {
        let (mut driver, mut peer) = pair();
        peer.write_all(b"data").await.unwrap();
        // Both are ready: either may come first, and neither is lost.
        match driver.wait(async { "queue" }).await {
            Wake::Other("queue") => {
                assert!(driver.machine().fed.is_empty());
                assert!(matches!(driver.wait(never()).await, Wake::Input));
            }
            Wake::Input => {
                assert!(matches!(
                    driver.wait(async { "queue" }).await,
                    Wake::Other("queue")
                ));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(driver.machine().fed, b"data");
    }
}

#[tokio::test(start_paused = true)]
async fn the_machines_deadline_is_handled() {
    let (mut driver, _peer) = pair();
    let start = Instant::now();
    let deadline = start + Duration::from_secs(30);
    driver.machine_mut().deadline = Some(deadline.into_std());
    assert!(matches!(driver.wait(never()).await, Wake::Timeout));
    let probe = driver.machine_mut();
    assert_eq!(probe.next_event(), Some(Ev::Timeout));
    assert!(probe.timeouts[0] >= deadline.into_std());
    assert!(Instant::now() - start >= Duration::from_secs(30));
}

#[tokio::test(start_paused = true)]
async fn the_idle_timeout_counts_from_the_last_input() {
    let (mut driver, mut peer) = pair();
    driver.set_idle_timeout(Some(Duration::from_secs(10)));
    let start = Instant::now();
    let writer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(6)).await;
        peer.write_all(b"x").await.unwrap();
        peer
    });
    assert!(matches!(driver.wait(never()).await, Wake::Input));
    assert!(matches!(driver.wait(never()).await, Wake::Idle));
    let idle_at = Instant::now() - start;
    assert!(
        idle_at >= Duration::from_secs(16) && idle_at < Duration::from_secs(17),
        "{idle_at:?}"
    );
    // The machine is not told; the clock starts over.
    assert_eq!(driver.machine().eofs, 0);
    assert!(matches!(driver.wait(never()).await, Wake::Idle));
    assert!(Instant::now() - start >= Duration::from_secs(26));
    drop(writer.await.unwrap());
}

#[tokio::test(start_paused = true)]
async fn the_read_rate_limit_pauses_reads() {
    let (mut driver, mut peer) = pair();
    // 1000 bytes a second, bursts of 1000.
    driver.set_read_rate(Some((1000, 1000)));
    peer.write_all(&[b'a'; 3000]).await.unwrap();
    let start = Instant::now();
    assert!(matches!(driver.wait(never()).await, Wake::Input));
    assert_eq!(driver.machine().fed.len(), 3000);
    // 2000 bytes overdrawn: about two seconds without reading.
    peer.write_all(b"b").await.unwrap();
    assert!(matches!(driver.wait(never()).await, Wake::Input));
    let paused = Instant::now() - start;
    assert!(paused >= Duration::from_secs(2), "{paused:?}");
    assert_eq!(driver.machine().fed.len(), 3001);
    // Deadlines are still handled during a pause.
    driver.set_read_rate(Some((1, 1)));
    peer.write_all(b"cc").await.unwrap();
    assert!(matches!(driver.wait(never()).await, Wake::Input));
    driver.machine_mut().deadline = Some((Instant::now() + Duration::from_millis(100)).into_std());
    assert!(matches!(driver.wait(never()).await, Wake::Timeout));
}

#[tokio::test]
async fn tcp_readiness_without_a_buffer_while_idle() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
    let mut peer = client.unwrap();
    let mut driver = Driver::new(Transport::new(accepted.unwrap().0), Probe::default());
    let (tx, rx) = tokio::sync::oneshot::channel();
    let talker = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        tx.send("wake").unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        peer.write_all(b"<presence/>").await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(peer);
    });
    // Idle until the caller's future fires: the read waited for
    // readiness and took nothing.
    assert!(matches!(driver.wait(rx).await, Wake::Other(Ok("wake"))));
    assert!(driver.machine().buffers.is_empty());
    assert!(matches!(driver.wait(never()).await, Wake::Input));
    assert_eq!(driver.machine().fed, b"<presence/>");
    assert!(matches!(driver.wait(never()).await, Wake::Eof(None)));
    talker.await.unwrap();
}

#[tokio::test]
async fn output_is_flushed_before_the_tls_upgrade() {
    let (server_cfg, client_cfg, leaf) = tls_configs();
    let (mut driver, mut peer) = pair();
    const PROCEED: &[u8] = b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>";
    driver.machine_mut().out = PROCEED.to_vec();
    let peer_side = async move {
        // The plaintext answer comes first, then the handshake.
        let mut proceed = vec![0u8; PROCEED.len()];
        peer.read_exact(&mut proceed).await.unwrap();
        assert_eq!(proceed, PROCEED);
        let connector = TlsConnector::from(client_cfg);
        let name = tls::server_name("localhost").unwrap();
        let mut tls = connector.connect(name, peer).await.unwrap();
        tls.write_all(b"<stream:stream>").await.unwrap();
        tls.flush().await.unwrap();
        tls
    };
    let acceptor = TlsAcceptor::from(server_cfg);
    let (info, _tls) = tokio::join!(driver.accept_tls(&acceptor), peer_side);
    let info = info.unwrap();
    assert!(driver.transport().is_tls());
    assert_eq!(info.server_name.as_deref(), Some("localhost"));
    assert_eq!(info.tls_exporter.as_ref().map(Vec::len), Some(32));
    assert_eq!(info.server_bindings(Some(&leaf)).len(), 2);
    // Application data sent right after the handshake is read.
    assert!(matches!(driver.wait(never()).await, Wake::Input));
    assert_eq!(driver.machine().fed, b"<stream:stream>");
}

#[tokio::test]
async fn plaintext_held_inside_rustls_is_read_without_more_socket_data() {
    let (server_cfg, client_cfg, _) = tls_configs();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let peer_side = async move {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let connector = TlsConnector::from(client_cfg);
        let mut tls = connector
            .connect(tls::server_name("localhost").unwrap(), tcp)
            .await
            .unwrap();
        // One record of ten bytes, then silence.
        tls.write_all(b"0123456789").await.unwrap();
        tls.flush().await.unwrap();
        tls
    };
    let server_side = async {
        let tcp = listener.accept().await.unwrap().0;
        Transport::accept(tcp, &TlsAcceptor::from(server_cfg))
            .await
            .unwrap()
    };
    let (_peer, (transport, _)) = tokio::join!(peer_side, server_side);
    let mut driver = Driver::new(transport, Probe::default());
    driver.set_read_chunk(4);
    let read_all = async {
        while driver.machine().fed.len() < 10 {
            assert!(matches!(driver.wait(never()).await, Wake::Input));
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read_all)
        .await
        .expect("the plaintext rustls held was read");
    assert_eq!(driver.machine().fed, b"0123456789");
    assert_eq!(driver.machine().buffers, [(4, 4), (4, 4), (2, 4)]);
}

#[tokio::test(start_paused = true)]
async fn a_write_without_progress_times_out_and_counts_what_was_written() {
    let (a, mut peer) = tokio::io::duplex(1024);
    let mut driver = Driver::new(Transport::new(a), Probe::default());
    driver.set_write_timeout(Some(Duration::from_secs(30)));
    driver.machine_mut().out = vec![b'x'; 600];
    driver.flush().await.unwrap();
    assert_eq!((driver.produced(), driver.written()), (600, 600));
    // The peer stops reading: 1024 bytes fit in the pipe, the rest never.
    driver.machine_mut().out = vec![b'y'; 4000];
    assert_eq!(driver.produced(), 4600);
    let started = Instant::now();
    let err = driver.flush().await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    assert!(started.elapsed() >= Duration::from_secs(30));
    // Only completed flushes count: the 1024 bytes the pipe took of the
    // failed one may or may not reach the peer.
    assert_eq!(driver.written(), 600);
    // Every later flush fails at once; the output is dropped.
    driver.machine_mut().out = b"<z/>".to_vec();
    assert!(driver.flush().await.is_err());
    assert_eq!(driver.produced(), 4604);
    let mut got = vec![0u8; 1024];
    peer.read_exact(&mut got).await.unwrap();
    assert!(got[..600].iter().all(|&b| b == b'x'));
    assert!(got[600..].iter().all(|&b| b == b'y'));
}

#[tokio::test(start_paused = true)]
async fn a_slow_reader_that_makes_progress_is_not_timed_out() {
    let (a, mut peer) = tokio::io::duplex(256);
    let mut driver = Driver::new(Transport::new(a), Probe::default());
    driver.set_write_timeout(Some(Duration::from_secs(5)));
    driver.machine_mut().out = vec![b'x'; 4096];
    let reader = tokio::spawn(async move {
        let mut got = Vec::new();
        let mut buf = [0u8; 256];
        while got.len() < 4096 {
            // Slower than the timeout in total, never idle for that long.
            tokio::time::sleep(Duration::from_secs(1)).await;
            let n = peer.read(&mut buf).await.unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        got.len()
    });
    driver.flush().await.unwrap();
    assert_eq!(driver.written(), 4096);
    assert_eq!(reader.await.unwrap(), 4096);
}
