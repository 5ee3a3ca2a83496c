//! A lean client of the chat service's public API, spoken the way a chat user's program
//! speaks it: REST ([`ChatApi`]) and Socket.IO v5 over an Engine.IO v4 websocket
//! ([`ChatSocket`]).
//!
//! The load benchmark and the failover drills run thousands of these at once, so a
//! socket is one task and a few small buffers, and nothing here retries on its own:
//! callers count every failure and decide what a real client would do.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use chat_ops::client::{ChatApi, ChatSocket, Incoming};
//! use serde_json::json;
//!
//! let api = ChatApi::new("127.0.0.1:8080")?;
//! let me = api.register("Alice", "alice@example.com", "secret-pw").await?;
//! let room = api.create_room(&me, "general", None).await?;
//! let (socket, mut events) = ChatSocket::connect(api.base(), &me, Duration::from_secs(10)).await?;
//! socket.emit("joinRoom", json!([room.id]))?;
//! while let Some(Incoming::Event { name, args, .. }) = events.recv().await {
//!     if name == "joinRoomSuccess" { break; }
//!     let _ = args;
//! }
//! socket.close();
//! # Ok(()) }
//! ```

mod address;
mod error;
mod packet;
mod rest;
mod socket;

pub use address::http_base;
pub use error::{ApiError, SocketError};
pub use rest::{ChatApi, Login, Method, RoomInfo};
pub use socket::{ChatSocket, Events, Incoming};
