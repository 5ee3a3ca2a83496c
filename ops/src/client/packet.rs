//! The text frames of Engine.IO v4 (one packet per websocket frame) carrying Socket.IO
//! v5 packets of the default namespace: parsing what the server sends, encoding what a
//! client sends. Binary attachments are not used by the chat protocol and are skipped.

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

/// One packet from the server, as far as a chat client cares.
#[derive(Debug, PartialEq)]
pub(crate) enum Packet {
    /// Engine.IO OPEN: the heartbeat the server promises.
    Open { ping_interval: Duration, ping_timeout: Duration },
    /// Engine.IO PING: answer with [`PONG`].
    Ping,
    /// Engine.IO CLOSE or Socket.IO DISCONNECT: the server ended the session.
    Disconnect,
    /// Socket.IO CONNECT acknowledged.
    Connected,
    /// Socket.IO CONNECT_ERROR with the server's message.
    ConnectError(String),
    /// Socket.IO EVENT: name and arguments.
    Event { name: String, args: Vec<Value> },
    /// Anything a client may ignore (pong, noop, acks, binary packets).
    Ignored,
}

/// The answer to a server ping.
pub(crate) const PONG: &str = "3";
/// Socket.IO DISCONNECT of the default namespace, sent before closing.
pub(crate) const DISCONNECT: &str = "41";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OpenPayload {
    ping_interval: u64,
    ping_timeout: u64,
}

#[derive(Deserialize)]
struct ErrorPayload {
    message: String,
}

/// Parses one text frame.
pub(crate) fn parse(frame: &str) -> Result<Packet, String> {
    let mut chars = frame.chars();
    match chars.next() {
        Some('0') => {
            let open: OpenPayload =
                serde_json::from_str(chars.as_str()).map_err(|e| format!("bad OPEN packet {frame:?}: {e}"))?;
            Ok(Packet::Open {
                ping_interval: Duration::from_millis(open.ping_interval),
                ping_timeout: Duration::from_millis(open.ping_timeout),
            })
        }
        Some('1') => Ok(Packet::Disconnect),
        Some('2') => Ok(Packet::Ping),
        Some('3' | '5' | '6') => Ok(Packet::Ignored),
        Some('4') => parse_socket_packet(chars.as_str()),
        _ => Err(format!("not an Engine.IO packet: {frame:?}")),
    }
}

fn parse_socket_packet(packet: &str) -> Result<Packet, String> {
    let mut chars = packet.chars();
    let kind = chars.next();
    let body = skip_namespace(chars.as_str());
    match kind {
        Some('0') => Ok(Packet::Connected),
        Some('1') => Ok(Packet::Disconnect),
        Some('2') => parse_event(body.trim_start_matches(|c: char| c.is_ascii_digit())),
        Some('4') => Ok(Packet::ConnectError(connect_error_message(body))),
        Some('3' | '5' | '6') => Ok(Packet::Ignored),
        _ => Err(format!("not a Socket.IO packet: {packet:?}")),
    }
}

/// The default namespace has no prefix; another one (`/admin,`) would not be ours.
fn skip_namespace(body: &str) -> &str {
    match body.strip_prefix('/') {
        Some(rest) => rest.split_once(',').map_or("", |(_, after)| after),
        None => body,
    }
}

fn parse_event(body: &str) -> Result<Packet, String> {
    let mut items: Vec<Value> = serde_json::from_str(body).map_err(|e| format!("bad EVENT {body:?}: {e}"))?;
    if items.is_empty() {
        return Err("EVENT without a name".into());
    }
    match items.remove(0) {
        Value::String(name) => Ok(Packet::Event { name, args: items }),
        other => Err(format!("EVENT name is not a string: {other}")),
    }
}

/// The object form `{"message": ...}`, or the bare string some servers send.
fn connect_error_message(body: &str) -> String {
    if let Ok(ErrorPayload { message }) = serde_json::from_str(body) {
        return message;
    }
    match serde_json::from_str::<Value>(body) {
        Ok(Value::String(message)) => message,
        _ => body.to_string(),
    }
}

/// Socket.IO CONNECT to the default namespace with an auth payload.
pub(crate) fn connect(auth: &Value) -> String {
    format!("40{auth}")
}

/// Socket.IO EVENT `name` with `args` (a JSON array; any other value is one argument).
pub(crate) fn event(name: &str, args: &Value) -> String {
    let mut items = vec![Value::String(name.to_string())];
    match args {
        Value::Array(list) => items.extend(list.iter().cloned()),
        other => items.push(other.clone()),
    }
    format!("42{}", Value::Array(items))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_the_handshake() {
        let open =
            parse(r#"0{"sid":"abc","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#);
        assert_eq!(
            open.unwrap(),
            Packet::Open { ping_interval: Duration::from_secs(25), ping_timeout: Duration::from_secs(20) }
        );
        assert_eq!(parse(r#"40{"sid":"x"}"#).unwrap(), Packet::Connected);
        assert_eq!(
            parse(r#"44{"message":"Invalid session"}"#).unwrap(),
            Packet::ConnectError("Invalid session".into())
        );
        assert_eq!(parse(r#"44"Authentication error""#).unwrap(), Packet::ConnectError("Authentication error".into()));
    }

    #[test]
    fn parses_events_with_and_without_ack_ids() {
        let plain = parse(r#"42["message",{"content":"hi"}]"#).unwrap();
        assert_eq!(plain, Packet::Event { name: "message".into(), args: vec![json!({"content": "hi"})] });
        let acked = parse(r#"4212["joinRoomSuccess",{"roomId":"r"}]"#).unwrap();
        assert_eq!(acked, Packet::Event { name: "joinRoomSuccess".into(), args: vec![json!({"roomId": "r"})] });
        assert_eq!(parse("2").unwrap(), Packet::Ping);
        assert_eq!(parse("41").unwrap(), Packet::Disconnect);
        assert_eq!(parse("1").unwrap(), Packet::Disconnect);
        assert_eq!(parse("6").unwrap(), Packet::Ignored);
    }

    #[test]
    fn refuses_garbage() {
        assert!(parse("").is_err());
        assert!(parse("x").is_err());
        assert!(parse("42{not json").is_err());
        assert!(parse("42[]").is_err());
        assert!(parse("42[1]").is_err());
    }

    #[test]
    fn encodes_client_packets() {
        assert_eq!(connect(&json!({"token": "t"})), r#"40{"token":"t"}"#);
        assert_eq!(event("joinRoom", &json!(["r1"])), r#"42["joinRoom","r1"]"#);
        assert_eq!(event("ping", &Value::Null), r#"42["ping",null]"#);
    }
}
