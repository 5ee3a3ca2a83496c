//! The moto EC2 emulator for `chatctl aws` tests: `moto_server` (installed into the
//! repository's `.venv` by `scripts/test.sh`) on a free loopback port, with
//! instance-type validation on, killed by its pid when the [`Moto`] drops; and
//! `chatctl` run as an operator would, with fake credentials that never leave
//! this machine (no profile files, no instance metadata lookups).
//!
//! - `inspect`: what chatctl did, read back through the SDK.
//! - `fault_proxy`: EC2 errors injected between chatctl and moto.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_ec2::config::{BehaviorVersion, Credentials, Region};

mod fault_proxy;
pub mod inspect;

pub use fault_proxy::FaultProxy;

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

    /// The shared configuration for clients of the other services moto emulates
    /// (SSM, IAM, CloudWatch, CloudWatch Logs, Auto Scaling, ELBv2).
    pub fn config(&self) -> aws_config::SdkConfig {
        aws_config::SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(self.url())
            .credentials_provider(aws_sdk_ec2::config::SharedCredentialsProvider::new(Credentials::new(
                "testing", "testing", None, None, "moto",
            )))
            .build()
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
