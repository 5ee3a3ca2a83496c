//! Acceptance tests of the cluster core: replication, linearizable-looking reads,
//! failover, catch-up, membership changes, single login, partitions and the cluster
//! secret, all against real `chat-node` processes.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use chat_raft::api::{MemberRole, ServerState};
use chat_raft::Outcome;
use chat_tests::fixtures::{login, register};
use chat_tests::{wait_until, NodeSpec, TestCluster};

const CONVERGE: Duration = Duration::from_secs(20);

/// The status code of `GET /api/health` on a node's public listener (0 if unreachable).
async fn health(cluster: &TestCluster, id: u64) -> u16 {
    let url = format!("http://{}/api/health", cluster.node(id).addr.public);
    match reqwest::Client::new().get(url).timeout(Duration::from_secs(2)).send().await {
        Ok(resp) => resp.status().as_u16(),
        Err(_) => 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writes_on_any_node_are_visible_on_every_node_at_once() -> Result<()> {
    let cluster = TestCluster::start(NodeSpec::voters(3).with_edges(1)).await?;
    for round in 0..5 {
        for writer in cluster.ids() {
            let email = format!("r{round}-via-{writer}@example.com");
            let (user_id, cmd) = register(&email);
            let answer = cluster.propose(writer, cmd).await?;
            assert_eq!(answer.outcome, Outcome::UserRegistered { user_id: user_id.clone() });
            // Acknowledged: every node must already reflect it, with no waiting here.
            for reader in cluster.ids() {
                let state = cluster.state(reader).await?;
                assert!(
                    state.users.get(&user_id).is_some(),
                    "write via node {writer} acknowledged but not visible on node {reader}"
                );
            }
        }
    }
    // The unique-email rule holds across nodes.
    let (_, dup) = register("r0-via-1@example.com");
    assert_eq!(cluster.propose(4, dup).await?.outcome, Outcome::EmailTaken);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_voters_keep_working_with_two_killed() -> Result<()> {
    let mut cluster = TestCluster::start(NodeSpec::voters(5)).await?;
    let leader = cluster.wait_for_leader(CONVERGE).await?;
    // Kill the leader and one follower: 3 of 5 remain, still a quorum.
    let follower = cluster.ids().into_iter().find(|id| *id != leader).expect("a follower");
    cluster.kill(leader);
    cluster.kill(follower);
    cluster.wait_for_leader(CONVERGE).await?;
    for via in cluster.running_ids() {
        let (user_id, cmd) = register(&format!("after-kill-{via}@example.com"));
        let answer = cluster.propose(via, cmd).await?;
        assert_eq!(answer.outcome, Outcome::UserRegistered { user_id: user_id.clone() });
        for reader in cluster.running_ids() {
            assert!(cluster.state(reader).await?.users.get(&user_id).is_some());
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_idle_cluster_does_not_grow_its_log() -> Result<()> {
    let cluster = TestCluster::start(NodeSpec::voters(3).with_edges(1)).await?;
    let (_, cmd) = register("idle@example.com");
    cluster.propose(1, cmd).await?;
    // Let the liveness detector and heartbeats run for several grace periods.
    let before: Vec<u64> = statuses_last_log(&cluster).await?;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let after: Vec<u64> = statuses_last_log(&cluster).await?;
    assert_eq!(before, after, "log indexes moved while the cluster was idle");
    Ok(())
}

async fn statuses_last_log(cluster: &TestCluster) -> Result<Vec<u64>> {
    let mut out = Vec::new();
    for id in cluster.ids() {
        out.push(cluster.status(id).await?.last_log_index);
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_the_leader_under_writes_loses_no_acknowledged_write() -> Result<()> {
    let mut cluster = TestCluster::start(NodeSpec::voters(3)).await?;
    let leader = cluster.wait_for_leader(CONVERGE).await?;
    let survivors: Vec<u64> = cluster.ids().into_iter().filter(|id| *id != leader).collect();

    // (user id, when the write started, when it was acknowledged)
    let acked = Arc::new(Mutex::new(Vec::<(String, Instant, Instant)>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..8 {
        let (client, acked, stop) = (cluster.client().clone(), acked.clone(), stop.clone());
        // Writers talk to the survivors only: the point is the leader's death, not
        // clients losing their node.
        let addr = cluster.node(survivors[w % survivors.len()]).addr.cluster.clone();
        writers.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                let (user_id, cmd) = register(&format!("w{w}-{n}@example.com"));
                n += 1;
                let started = Instant::now();
                if let Ok(answer) = client.propose(&addr, cmd).await {
                    assert_eq!(answer.outcome, Outcome::UserRegistered { user_id: user_id.clone() });
                    acked.lock().unwrap().push((user_id, started, Instant::now()));
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    // While the election runs, the survivors must keep answering 200 on /api/health:
    // a load balancer would otherwise drop every node at once.
    let health_stop = Arc::new(AtomicBool::new(false));
    let unhealthy = Arc::new(Mutex::new(Vec::<(u64, u16)>::new()));
    let poller = {
        let (stop, unhealthy) = (health_stop.clone(), unhealthy.clone());
        let urls: Vec<(u64, String)> =
            survivors.iter().map(|id| (*id, format!("http://{}/api/health", cluster.node(*id).addr.public))).collect();
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            while !stop.load(Ordering::SeqCst) {
                for (id, url) in &urls {
                    let code = http.get(url).send().await.map(|r| r.status().as_u16()).unwrap_or(0);
                    if code != 200 {
                        unhealthy.lock().unwrap().push((*id, code));
                    }
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        })
    };
    let killed_at = Instant::now();
    cluster.kill(leader);
    let new_leader =
        wait_until("a new leader", CONVERGE, || async { cluster.leader().await.filter(|id| *id != leader) }).await?;
    let leaderless = killed_at.elapsed();
    let acked_at_kill = acked.lock().unwrap().len();
    wait_until("writes to resume", CONVERGE, || async {
        (acked.lock().unwrap().len() > acked_at_kill + 20).then_some(())
    })
    .await?;
    stop.store(true, Ordering::SeqCst);
    for w in writers {
        w.await?;
    }
    health_stop.store(true, Ordering::SeqCst);
    poller.await?;
    assert!(unhealthy.lock().unwrap().is_empty(), "survivors answered non-200 health: {:?}", unhealthy.lock().unwrap());
    let acked = acked.lock().unwrap().clone();
    // Writes resumed when the first write begun after the kill was acknowledged.
    let resumed = acked.iter().filter(|(_, start, _)| *start > killed_at).map(|(_, _, end)| *end).min();
    println!(
        "leader {leader} killed: new leader {new_leader} seen after {} ms, first write begun after the kill \
         acknowledged after {} ms",
        leaderless.as_millis(),
        resumed.map_or(0, |t| (t - killed_at).as_millis())
    );
    assert!(acked.len() > 40, "too few writes acknowledged: {}", acked.len());
    for id in survivors {
        let state = cluster.state(id).await?;
        let missing: Vec<&String> = acked.iter().map(|(u, _, _)| u).filter(|u| state.users.get(u).is_none()).collect();
        assert!(missing.is_empty(), "node {id} lost {} acknowledged writes", missing.len());
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn restarted_nodes_catch_up_from_log_and_from_snapshot() -> Result<()> {
    let mut cluster =
        TestCluster::start(NodeSpec::voters(3).with_args(&["--snapshot-every", "50", "--snapshot-keep", "0"])).await?;
    let leader = cluster.wait_for_leader(CONVERGE).await?;
    let victim = cluster.ids().into_iter().find(|id| *id != leader).expect("a follower");

    // A short absence: catch up from the log kept in sled.
    let (early_user, cmd) = register("before-kill@example.com");
    cluster.propose(leader, cmd).await?;
    cluster.kill(victim);
    let (short_user, cmd) = register("short-absence@example.com");
    cluster.propose(leader, cmd).await?;
    cluster.restart(victim).await?;
    cluster.wait_fresh(victim, CONVERGE).await?;
    let state = cluster.state(victim).await?;
    assert!(state.users.get(&early_user).is_some() && state.users.get(&short_user).is_some());

    // A long absence: the leader snapshots and purges past the victim's log.
    cluster.kill(victim);
    let before = cluster.status(leader).await?.last_log_index;
    let mut last_user = String::new();
    for n in 0..400 {
        let (user_id, cmd) = register(&format!("long-absence-{n}@example.com"));
        cluster.propose(leader, cmd).await?;
        last_user = user_id;
    }
    let leader_status = cluster.status(leader).await?;
    assert!(
        leader_status.purged_index > before,
        "leader should have purged past index {before} (purged {})",
        leader_status.purged_index
    );
    cluster.restart(victim).await?;
    cluster.wait_fresh(victim, CONVERGE).await?;
    let victim_status = cluster.status(victim).await?;
    assert!(
        victim_status.snapshot_index > before,
        "victim should have installed a snapshot past {before} (has {})",
        victim_status.snapshot_index
    );
    let state = cluster.state(victim).await?;
    assert!(state.users.get(&last_user).is_some());
    assert_eq!(state.users.len(), cluster.state(leader).await?.users.len());
    Ok(())
}

/// A follower restarted into a running cluster does not depose its leader: it holds its
/// own campaign until the leader reaches it (`raft/src/cluster/rejoin.rs`), where its
/// election timer (200–300 ms) could otherwise run out while the leader still backs
/// off from the peer that refused connections (500 ms). Four restarts, each after the
/// leader saw the follower gone; the leader and its term must survive all of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn restarted_followers_do_not_depose_the_leader() -> Result<()> {
    let mut cluster = TestCluster::start(NodeSpec::voters(3)).await?;
    let leader = cluster.wait_for_leader(CONVERGE).await?;
    let term = cluster.status(leader).await?.term;
    let followers: Vec<_> = cluster.ids().into_iter().filter(|id| *id != leader).collect();
    for round in 0..4 {
        let follower = followers[round % followers.len()];
        cluster.kill(follower);
        // Down long enough for the leader to find it unreachable and back off from it.
        tokio::time::sleep(Duration::from_millis(700)).await;
        cluster.restart(follower).await?;
        // Fresh means it heard from a leader; a campaign of its own would have come first.
        cluster.wait_fresh(follower, CONVERGE).await?;
        for id in cluster.ids() {
            let status = cluster.status(id).await?;
            assert_eq!(
                (status.leader, status.term),
                (Some(leader), term),
                "restart {round} of node {follower}: node {id} sees leader {:?} in term {}",
                status.leader,
                status.term
            );
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_edge_replicates_and_serves_reads_then_is_promoted() -> Result<()> {
    let mut cluster = TestCluster::start(NodeSpec::voters(3).with_edges(1)).await?;
    let edge = 4;
    let status = cluster.status(edge).await?;
    assert_eq!(status.role, Some(MemberRole::Learner));
    assert_eq!(status.state, ServerState::Learner);
    let voters: BTreeSet<u64> = status.members.iter().filter(|m| m.role == MemberRole::Voter).map(|m| m.id).collect();
    assert_eq!(voters, BTreeSet::from([1, 2, 3]));

    let (user_id, cmd) = register("via-edge@example.com");
    cluster.propose(edge, cmd).await?;
    assert!(cluster.state(edge).await?.users.get(&user_id).is_some());

    // Promote the edge to a voter, then remove another voter: three voters remain.
    cluster.client().promote(&cluster.node(1).addr.cluster, edge).await?;
    wait_until("edge to become a voter", CONVERGE, || async {
        let s = cluster.status(edge).await.ok()?;
        (s.role == Some(MemberRole::Voter)).then_some(())
    })
    .await?;

    let leader = cluster.wait_for_leader(CONVERGE).await?;
    let removed = if leader == 1 { 2 } else { 1 };
    cluster.client().remove(&cluster.node(leader).addr.cluster, removed).await?;
    cluster.kill(removed);
    let leader = cluster.wait_for_leader(CONVERGE).await?;
    let status = cluster.status(leader).await?;
    let voters: BTreeSet<u64> = status.members.iter().filter(|m| m.role == MemberRole::Voter).map(|m| m.id).collect();
    assert!(voters.contains(&edge) && !voters.contains(&removed) && voters.len() == 3, "voters {voters:?}");
    for via in cluster.running_ids() {
        let (user_id, cmd) = register(&format!("after-promotion-{via}@example.com"));
        cluster.propose(via, cmd).await?;
        for reader in cluster.running_ids() {
            assert!(cluster.state(reader).await?.users.get(&user_id).is_some());
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_logins_leave_exactly_one_session() -> Result<()> {
    let cluster = TestCluster::start(NodeSpec::voters(3).with_edges(1)).await?;
    let (user_id, cmd) = register("racer@example.com");
    cluster.propose(1, cmd).await?;

    let mut logins = Vec::new();
    for n in 0..24u64 {
        let via = cluster.ids()[(n as usize) % cluster.ids().len()];
        let addr = cluster.node(via).addr.cluster.clone();
        let client = cluster.client().clone();
        let (session_id, cmd) = login(&user_id);
        logins.push(tokio::spawn(async move { (session_id, client.propose(&addr, cmd).await) }));
    }
    let mut opened = Vec::new();
    let mut replaced = Vec::new();
    for login in logins {
        let (session_id, answer) = login.await?;
        match answer?.outcome {
            Outcome::SessionOpened { replaced: r } => {
                opened.push(session_id);
                replaced.push(r.map(|s| s.session_id));
            }
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    let current = cluster.state(2).await?.sessions.current(&user_id).cloned().expect("a session");
    // Every session but the final one was reported replaced exactly once; exactly one
    // login replaced nothing (the first to commit).
    let reported: Vec<String> = replaced.iter().flatten().cloned().collect();
    let reported_set: BTreeSet<String> = reported.iter().cloned().collect();
    let expected: BTreeSet<String> = opened.iter().filter(|s| **s != current.session_id).cloned().collect();
    assert_eq!(reported.len(), reported_set.len(), "a session was reported replaced twice");
    assert_eq!(reported_set, expected);
    assert_eq!(replaced.iter().filter(|r| r.is_none()).count(), 1);
    for id in cluster.ids() {
        let state = cluster.state(id).await?;
        assert_eq!(state.sessions.current(&user_id).map(|s| &s.session_id), Some(&current.session_id));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_partitioned_minority_cannot_commit_and_converges_after_healing() -> Result<()> {
    let cluster = TestCluster::start(NodeSpec::voters(3)).await?;
    let leader = cluster.wait_for_leader(CONVERGE).await?;
    // Isolate the leader: it is the minority now.
    cluster.isolate(leader, true).await?;
    let (lost_user, cmd) = register("minority@example.com");
    let started = Instant::now();
    let refused = cluster.propose(leader, cmd).await;
    assert!(refused.is_err(), "an isolated node committed a write: {refused:?}");
    println!("isolated node refused the write after {} ms", started.elapsed().as_millis());
    assert!(cluster.state(leader).await.is_err(), "an isolated node served a fresh read");
    // Past the health grace (2 s) the isolated node leaves the load balancer's pool.
    wait_until("the isolated node's health to turn 503", CONVERGE, || async {
        (health(&cluster, leader).await == 503).then_some(())
    })
    .await?;

    let majority: Vec<u64> = cluster.ids().into_iter().filter(|id| *id != leader).collect();
    let new_leader = wait_until("a majority leader", CONVERGE, || async {
        for id in &majority {
            if cluster.status(*id).await.ok()?.state == ServerState::Leader {
                return Some(*id);
            }
        }
        None
    })
    .await?;
    let (kept_user, cmd) = register("majority@example.com");
    cluster.propose(new_leader, cmd).await?;

    for id in cluster.ids().into_iter().filter(|id| *id != leader) {
        assert_eq!(health(&cluster, id).await, 200, "majority node {id} should stay healthy");
    }
    cluster.isolate(leader, false).await?;
    cluster.wait_fresh(leader, CONVERGE).await?;
    wait_until("the healed node's health to return to 200", CONVERGE, || async {
        (health(&cluster, leader).await == 200).then_some(())
    })
    .await?;
    let healed = cluster.state(leader).await?;
    assert!(healed.users.get(&kept_user).is_some());
    assert!(healed.users.get(&lost_user).is_none());
    // Liveness changes (NodeDown, then NodeUp) may still be in flight: wait until the
    // healed node's replica equals the leader's.
    wait_until("the healed node to converge", CONVERGE, || async {
        let (a, b) = (cluster.local_state(leader).await.ok()?, cluster.local_state(new_leader).await.ok()?);
        (a == b).then_some(())
    })
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_cluster_listener_refuses_requests_without_the_secret() -> Result<()> {
    let cluster = TestCluster::start(NodeSpec::voters(3)).await?;
    let http = reqwest::Client::new();
    let addr = &cluster.node(1).addr.cluster;
    let paths = [
        ("GET", "/cluster/status"),
        ("GET", "/admin/state"),
        ("POST", "/admin/propose"),
        ("POST", "/raft/append"),
        ("POST", "/raft/vote"),
        ("POST", "/cluster/write"),
        ("POST", "/admin/fault"),
    ];
    for (method, path) in paths {
        for secret in [None, Some("wrong-secret-value-123")] {
            let url = format!("http://{addr}{path}");
            let mut req = if method == "GET" { http.get(&url) } else { http.post(&url).json(&serde_json::json!({})) };
            if let Some(secret) = secret {
                req = req.header(chat_raft::api::SECRET_HEADER, secret);
            }
            let status = req.send().await?.status();
            assert_eq!(status.as_u16(), 401, "{method} {path} with secret {secret:?}");
        }
    }
    // The refused fault request changed nothing.
    assert!(!cluster.status(1).await?.isolated);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_silent_node_is_declared_down_and_its_presence_removed() -> Result<()> {
    let mut cluster =
        TestCluster::start(NodeSpec::voters(3).with_edges(1).with_args(&["--node-down-grace-ms", "1000"])).await?;
    let (user_id, cmd) = register("present@example.com");
    cluster.propose(1, cmd).await?;
    let (session_id, cmd) = login(&user_id);
    cluster.propose(1, cmd).await?;
    let edge = 4;
    let socket = chat_raft::state::SocketRef { node: edge, socket: "sock-on-edge".into() };
    let connect = chat_raft::Command::ConnectSocket { socket: socket.clone(), user_id, session_id };
    assert_eq!(cluster.propose(edge, connect).await?.outcome, Outcome::SocketConnected);

    cluster.kill(edge);
    wait_until("the edge to be declared down", CONVERGE, || async {
        let state = cluster.state(1).await.ok()?;
        (state.down_nodes.contains(&edge) && state.presence.socket(&socket).is_none()).then_some(())
    })
    .await?;

    cluster.restart(edge).await?;
    wait_until("the edge to be declared up again", CONVERGE, || async {
        let state = cluster.state(1).await.ok()?;
        (!state.down_nodes.contains(&edge)).then_some(())
    })
    .await?;
    Ok(())
}
