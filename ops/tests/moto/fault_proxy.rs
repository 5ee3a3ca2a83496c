//! A loopback HTTP proxy in front of moto that injects EC2 errors moto never
//! produces (throttling, no capacity) into one action, forwarding the rest.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::Moto;

/// A loopback HTTP proxy in front of moto that answers one EC2 action (e.g.
/// `RunInstances`) with an EC2 error of our choice and forwards every other
/// request: how throttling and capacity errors, which moto never produces, reach
/// the real chatctl half-way through `up`.
pub struct FaultProxy {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FaultProxy {
    /// Lets the first `pass` requests of `action` through, then fails every one.
    pub fn start(upstream: &Moto, action: &str, pass: usize, status: u16, code: &str) -> FaultProxy {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let (flag, upstream, action, code) =
            (stop.clone(), upstream.port, format!("Action={action}&"), code.to_string());
        let seen = Arc::new(AtomicUsize::new(0));
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if flag.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (action, code, seen) = (action.clone(), code.clone(), seen.clone());
                std::thread::spawn(move || serve(conn, upstream, &action, (&seen, pass), status, &code));
            }
        });
        FaultProxy { port, stop, thread: Some(thread) }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One request: read it whole, answer with the fault or relay moto's answer.
fn serve(
    mut conn: TcpStream,
    upstream: u16,
    action: &str,
    (seen, pass): (&AtomicUsize, usize),
    status: u16,
    code: &str,
) {
    conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut request = Vec::new();
    let mut buf = [0u8; 8192];
    let body_start = loop {
        let Ok(n) = conn.read(&mut buf) else { return };
        if n == 0 {
            return;
        }
        request.extend_from_slice(&buf[..n]);
        if let Some(at) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let head = String::from_utf8_lossy(&request[..body_start]).to_ascii_lowercase();
    let length: usize =
        head.lines().find_map(|l| l.strip_prefix("content-length:")).map_or(0, |v| v.trim().parse().unwrap_or(0));
    while request.len() < body_start + length {
        let Ok(n) = conn.read(&mut buf) else { return };
        if n == 0 {
            return;
        }
        request.extend_from_slice(&buf[..n]);
    }
    let body = String::from_utf8_lossy(&request[body_start..]);
    let matches = body.starts_with(action) || body.contains(&format!("&{action}"));
    if matches && seen.fetch_add(1, Ordering::SeqCst) >= pass {
        let xml = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code>\
             <Message>injected by the test proxy</Message></Error></Errors><RequestID>fault</RequestID></Response>"
        );
        let answer = format!(
            "HTTP/1.1 {status} Fault\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{xml}",
            xml.len()
        );
        let _ = conn.write_all(answer.as_bytes());
        return;
    }
    let Ok(mut moto) = TcpStream::connect((Ipv4Addr::LOCALHOST, upstream)) else { return };
    let _ = moto.write_all(&request);
    let mut answer = Vec::new();
    let _ = moto.read_to_end(&mut answer);
    let _ = conn.write_all(&answer);
}
