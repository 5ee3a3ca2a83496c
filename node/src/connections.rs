//! The listeners' TCP connections, each with a kill switch a request can reach.
//!
//! The Socket.IO library cannot close a socket whose outbound buffer is full: its
//! disconnect needs a free slot for the DISCONNECT packet, and the engine.io transport
//! stays open until the heartbeat gives up (85 s). A slow consumer (issue 12) must go
//! at once, so each accepted connection is wrapped in a [`Connection`] whose reads end
//! and writes fail once its [`KillSwitch`] is thrown; the server then drops the
//! connection, the engine.io socket closes as if the transport failed, and the client
//! reconnects. Every request (and so every socket, through `req_parts`) carries the
//! switch of its connection as `ConnectInfo<Peer>`, and `ConnectInfo<SocketAddr>` as
//! before.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, Request};
use axum::serve::{IncomingStream, Listener};
use futures::task::AtomicWaker;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// Ends one connection: its pending and later reads see end of stream, its writes fail.
#[derive(Debug, Default)]
pub(crate) struct KillSwitch {
    killed: AtomicBool,
    reader: AtomicWaker,
    writer: AtomicWaker,
}

impl KillSwitch {
    /// Throw the switch; returns false when it was thrown already.
    pub(crate) fn kill(&self) -> bool {
        let first = !self.killed.swap(true, Ordering::AcqRel);
        self.reader.wake();
        self.writer.wake();
        first
    }

    fn killed(&self) -> bool {
        self.killed.load(Ordering::Acquire)
    }
}

/// What a request knows of its connection.
#[derive(Debug, Clone)]
pub(crate) struct Peer {
    pub addr: SocketAddr,
    pub kill: Arc<KillSwitch>,
}

/// A TCP listener whose connections can be killed.
pub(crate) struct KillableListener(pub TcpListener);

impl Listener for KillableListener {
    type Io = Connection;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Connection, SocketAddr) {
        let (stream, addr) = Listener::accept(&mut self.0).await;
        (Connection { stream, kill: Arc::default() }, addr)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Listener::local_addr(&self.0)
    }
}

impl Connected<IncomingStream<'_, KillableListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, KillableListener>) -> Self {
        Self { addr: *stream.remote_addr(), kill: stream.io().kill.clone() }
    }
}

/// Adds `ConnectInfo<SocketAddr>` (what the handlers read) from `ConnectInfo<Peer>`.
pub(crate) async fn peer_addr(mut request: Request) -> Request {
    if let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<Peer>>().cloned() {
        request.extensions_mut().insert(ConnectInfo(peer.addr));
    }
    request
}

/// One accepted connection and its switch.
pub(crate) struct Connection {
    stream: TcpStream,
    kill: Arc<KillSwitch>,
}

fn killed() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionAborted, "connection killed by the server")
}

impl AsyncRead for Connection {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        self.kill.reader.register(cx.waker());
        if self.kill.killed() {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Connection {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.kill.writer.register(cx.waker());
        if self.kill.killed() {
            return Poll::Ready(Err(killed()));
        }
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.kill.writer.register(cx.waker());
        if self.kill.killed() {
            return Poll::Ready(Err(killed()));
        }
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.kill.writer.register(cx.waker());
        if self.kill.killed() {
            return Poll::Ready(Err(killed()));
        }
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
