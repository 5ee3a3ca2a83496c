//! Users logging in and out over and over, each from two "devices" on different
//! nodes at once, so that every login replaces the other device's session: the load
//! behind the single-login check. A device logs in, lists rooms a few times, opens a
//! socket with its session, and sometimes logs out. A 401 after the other device's
//! login is the expected refusal; a retryable failure is retried as the web client
//! does, on the next node in rotation.

use std::time::Duration;

use chat_raft::NodeId;
use rand::Rng;
use tokio::sync::watch;

use super::history::Op;
use super::load::Shared;
use crate::client::{ApiError, ChatApi, ChatSocket, Login, Method};

/// Attempts of one REST call before it counts as failed.
const ATTEMPTS: usize = 5;
const RETRY_PAUSE: Duration = Duration::from_millis(200);

/// One device of a churning user.
pub(super) struct Device {
    pub name: String,
    pub user_id: String,
    pub email: String,
    pub password: String,
    pub home: usize,
    pub shared: Shared,
    pub stop: watch::Receiver<bool>,
}

impl Device {
    pub async fn run(self) {
        while !*self.stop.borrow() {
            let Some(login) = self.login().await else { continue };
            for _ in 0..3 {
                if !self.list_rooms(&login).await {
                    break;
                }
            }
            self.open_socket(&login).await;
            if rand::thread_rng().gen_ratio(1, 3) {
                self.logout(&login).await;
            }
            let pause = rand::thread_rng().gen_range(50..250);
            tokio::time::sleep(Duration::from_millis(pause)).await;
        }
    }

    fn api(&self, node: NodeId) -> Option<ChatApi> {
        ChatApi::with_client(&self.shared.public_of(node), self.shared.http.clone()).ok()
    }

    fn rotation(&self) -> Vec<NodeId> {
        let ids: Vec<NodeId> = self.shared.nodes.iter().map(|n| n.id).collect();
        self.shared.balancer.rotation(&ids, self.home)
    }

    /// Retry `call` on the nodes in rotation while it fails in a retryable way.
    async fn retried<T, F, Fut>(&self, op: Op, what: &str, call: F) -> Result<T, ApiError>
    where
        F: Fn(ChatApi) -> Fut,
        Fut: std::future::Future<Output = Result<T, ApiError>>,
        T: Answer,
    {
        let history = &self.shared.history;
        let mut last = None;
        for attempt in 0..ATTEMPTS {
            let nodes = self.rotation();
            let node = nodes[attempt % nodes.len()];
            let Some(api) = self.api(node) else { break };
            let id = history.invoke(&self.name, op.clone());
            match call(api).await {
                Ok(answer) => {
                    history.ok(id, &self.name, answer.recorded(&op));
                    return Ok(answer);
                }
                Err(e) => {
                    history.fail(id, &self.name, op.clone(), format!("node {node}: {e}"));
                    let retry = e.is_retryable();
                    last = Some(e);
                    if !retry {
                        break;
                    }
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
            }
        }
        let error = last.unwrap_or(ApiError::Transport { endpoint: what.into(), message: "no node".into() });
        if error.status() == Some(401) {
            self.shared.stats.lock().expect("stats").stale_session_refusals += 1;
        } else {
            self.shared.count_failed(format!("{}: {error}", self.name));
        }
        Err(error)
    }

    async fn login(&self) -> Option<Login> {
        let op = Op::Login { user: self.user_id.clone(), session: None };
        let (email, password) = (self.email.clone(), self.password.clone());
        self.retried(op, "POST /api/auth/login", |api| {
            let (email, password) = (email.clone(), password.clone());
            async move { api.login(&email, &password).await }
        })
        .await
        .ok()
    }

    /// Whether the session is still accepted.
    async fn list_rooms(&self, login: &Login) -> bool {
        let op = Op::Request {
            user: login.user_id.clone(),
            session: login.session_id.clone(),
            what: "GET /api/rooms".into(),
        };
        self.retried(op, "GET /api/rooms", |api| async move {
            api.call(Method::GET, "/api/rooms?page=0&pageSize=10", Some(login), None).await
        })
        .await
        .is_ok()
    }

    async fn open_socket(&self, login: &Login) {
        let Some(node) = self.rotation().first().copied() else { return };
        let op = Op::Request { user: login.user_id.clone(), session: login.session_id.clone(), what: "socket".into() };
        let history = &self.shared.history;
        let id = history.invoke(&self.name, op.clone());
        match ChatSocket::connect(&self.shared.public_of(node), login, Duration::from_secs(4)).await {
            Ok((socket, _events)) => {
                history.ok(id, &self.name, op);
                socket.close();
            }
            Err(e) => history.fail(id, &self.name, op, format!("node {node}: {e}")),
        }
    }

    async fn logout(&self, login: &Login) {
        let op = Op::Logout { user: login.user_id.clone(), session: login.session_id.clone() };
        let _ = self
            .retried(op, "POST /api/auth/logout", |api| async move {
                api.call(Method::POST, "/api/auth/logout", Some(login), None).await
            })
            .await;
    }
}

/// What an answer adds to the recorded operation (a login's new session).
trait Answer {
    fn recorded(&self, op: &Op) -> Op;
}

impl Answer for Login {
    fn recorded(&self, op: &Op) -> Op {
        match op {
            Op::Login { user, .. } => Op::Login { user: user.clone(), session: Some(self.session_id.clone()) },
            other => other.clone(),
        }
    }
}

impl Answer for serde_json::Value {
    fn recorded(&self, op: &Op) -> Op {
        op.clone()
    }
}
