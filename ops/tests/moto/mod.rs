//! The moto EC2 emulator for `chatctl aws` tests: `moto_server` (installed into the
//! repository's `.venv` by `scripts/test.sh`) on a free loopback port, with
//! instance-type validation on, killed by its pid when the [`Moto`] drops; and
//! `chatctl` run as an operator would, with fake credentials that never leave
//! this machine (no profile files, no instance metadata lookups).

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_ec2::config::{BehaviorVersion, Credentials, Region};

/// A running `moto_server` of this test.
pub struct Moto {
    port: u16,
    child: Child,
}

fn moto_binary() -> Option<PathBuf> {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/moto_server");
    if venv.exists() {
        return Some(venv);
    }
    let on_path = Command::new("moto_server").arg("--help").stdout(Stdio::null()).stderr(Stdio::null()).status();
    on_path.is_ok().then(|| PathBuf::from("moto_server"))
}

impl Moto {
    /// A fresh emulator with `env` added; `None` (after a loud notice) when
    /// moto_server is missing outside CI. With CI=true a missing moto fails the test.
    pub fn start(test: &str, env: &[(&str, &str)]) -> Option<Moto> {
        let Some(binary) = moto_binary() else {
            let why = format!(
                "{test}: moto_server is not installed (scripts/test.sh runs `.venv/bin/pip install 'moto[server]'`)"
            );
            if std::env::var("CI").is_ok_and(|ci| ci == "true") {
                panic!("{why}");
            }
            let _ = writeln!(std::io::stderr(), "\n!!!!!!!! SKIPPED {why} !!!!!!!!\n");
            return None;
        };
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap().local_addr().unwrap().port();
        let child = Command::new(binary)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("MOTO_EC2_ENABLE_INSTANCE_TYPE_VALIDATION", "true")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting moto_server");
        let moto = Moto { port, child };
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(Instant::now() < deadline, "moto_server did not listen on {addr} within 60 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(moto)
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// An SDK client on this emulator, for checking what chatctl did.
    pub fn client(&self) -> aws_sdk_ec2::Client {
        let config = aws_sdk_ec2::config::Builder::new()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(self.url())
            .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
            .build();
        aws_sdk_ec2::Client::from_conf(config)
    }

    /// `chatctl` against this emulator with fake credentials and no stdin.
    pub fn chatctl(&self, args: &[&str]) -> Output {
        chatctl_at(&self.url(), args, true)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `chatctl` command whose AWS chain sees only the environment we give it.
pub fn chatctl_command(endpoint: &str, args: &[&str], with_credentials: bool) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chatctl"));
    cmd.args(args)
        .args(["--endpoint-url", endpoint])
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
        .env_remove("AWS_CONTAINER_CREDENTIALS_FULL_URI")
        .env_remove("AWS_WEB_IDENTITY_TOKEN_FILE")
        .env_remove("CHAT_CLUSTER_SECRET")
        .stdin(Stdio::null());
    if with_credentials {
        cmd.env("AWS_ACCESS_KEY_ID", "testing").env("AWS_SECRET_ACCESS_KEY", "testing");
    } else {
        cmd.env_remove("AWS_ACCESS_KEY_ID").env_remove("AWS_SECRET_ACCESS_KEY");
    }
    cmd
}

pub fn chatctl_at(endpoint: &str, args: &[&str], with_credentials: bool) -> Output {
    let out = chatctl_command(endpoint, args, with_credentials).output().expect("running chatctl");
    eprintln!(
        "$ chatctl {}\n{}{}(exit {:?})",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        out.status.code()
    );
    out
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A loopback HTTP proxy in front of moto that answers one EC2 action (e.g.
/// `RunInstances`) with an EC2 error of our choice and forwards every other
/// request: how throttling and capacity errors, which moto never produces, reach
/// the real chatctl half-way through `up`.
pub struct FaultProxy {
    port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FaultProxy {
    /// Lets the first `pass` requests of `action` through, then fails every one.
    pub fn start(upstream: &Moto, action: &str, pass: usize, status: u16, code: &str) -> FaultProxy {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (flag, upstream, action, code) =
            (stop.clone(), upstream.port, format!("Action={action}&"), code.to_string());
        let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if flag.load(std::sync::atomic::Ordering::SeqCst) {
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
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
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
    (seen, pass): (&std::sync::atomic::AtomicUsize, usize),
    status: u16,
    code: &str,
) {
    use std::io::Read;
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
    if matches && seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) >= pass {
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
