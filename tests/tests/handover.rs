//! Planned leadership transfer against real `chat-node` processes: `transfer-leader`
//! hands leadership to the chosen (or the most up-to-date) voter while writes keep
//! flowing through every node, and none of them fails; bad targets are refused and
//! change nothing; a leader stopped with SIGTERM hands over before it exits.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use chat_raft::api::ServerState;
use chat_raft::{Error, NodeId};
use chat_tests::fixtures::register;
use chat_tests::{wait_until, NodeSpec, TestCluster};
use tokio::task::JoinHandle;

const CONVERGE: Duration = Duration::from_secs(20);

/// Writes through every node in turn until stopped; counts successes and failures.
struct Writer {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    task: JoinHandle<Vec<String>>,
}

impl Writer {
    fn start(cluster: &TestCluster, through: Vec<NodeId>, tag: &str) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let client = cluster.client().clone();
        let addrs: Vec<String> = through.iter().map(|id| cluster.node(*id).addr.cluster.clone()).collect();
        let (stop_flag, ok_count, failed_count, tag) = (stop.clone(), ok.clone(), Arc::clone(&failed), tag.to_owned());
        let task = tokio::spawn(async move {
            let mut errors = Vec::new();
            let mut n = 0usize;
            while !stop_flag.load(Ordering::Relaxed) {
                let (_, command) = register(&format!("{tag}-{n}@example.com"));
                match client.propose(&addrs[n % addrs.len()], command).await {
                    Ok(_) => ok_count.fetch_add(1, Ordering::Relaxed),
                    Err(e) => {
                        errors.push(format!("write {n} via {}: {e}", addrs[n % addrs.len()]));
                        failed_count.fetch_add(1, Ordering::Relaxed)
                    }
                };
                n += 1;
            }
            errors
        });
        Writer { stop, ok, failed, task }
    }

    /// Wait until `more` further writes succeeded (the writer is really running).
    async fn wait_progress(&self, more: u64) -> Result<()> {
        let target = self.ok.load(Ordering::Relaxed) + more;
        wait_until("writes to go through", CONVERGE, || async {
            (self.ok.load(Ordering::Relaxed) >= target).then_some(())
        })
        .await?;
        Ok(())
    }

    /// Stop writing; returns (successes, failure descriptions).
    async fn finish(self) -> Result<(u64, Vec<String>)> {
        self.stop.store(true, Ordering::Relaxed);
        let errors = self.task.await?;
        assert_eq!(self.failed.load(Ordering::Relaxed), errors.len() as u64);
        Ok((self.ok.load(Ordering::Relaxed), errors))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn transfer_leader_hands_over_to_the_chosen_voter_while_writes_go_on() -> Result<()> {
    let cluster = TestCluster::start(NodeSpec::voters(3).with_edges(1)).await?;
    let leader = cluster.wait_for_leader(CONVERGE).await?;
    let target = cluster.ids().into_iter().find(|id| *id != leader && *id != 4).expect("another voter");
    let before = cluster.status(leader).await?.term;
    let writer = Writer::start(&cluster, cluster.ids(), "transfer");
    writer.wait_progress(10).await?;

    // Asked through the edge: the request is forwarded to the leader.
    let handover = cluster.client().transfer_leader(&cluster.node(4).addr.cluster, Some(target)).await?;
    assert_eq!((handover.from, handover.to), (leader, target), "{handover:?}");
    let status = cluster.status(target).await?;
    assert_eq!(status.state, ServerState::Leader, "{status:?}");
    // One campaign, won at once: exactly one term later.
    assert_eq!(status.term, before + 1, "{status:?}");
    writer.wait_progress(10).await?;

    // Without --to: the most up-to-date other voter, never the edge.
    let second = cluster.client().transfer_leader(&cluster.node(leader).addr.cluster, None).await?;
    assert_eq!(second.from, target);
    assert!(second.to != target && second.to != 4, "{second:?}");
    writer.wait_progress(10).await?;

    let (ok, errors) = writer.finish().await?;
    assert!(errors.is_empty(), "writes failed during the transfers: {errors:#?}");
    println!("{ok} writes, none failed; transfers took {} ms and {} ms", handover.took_ms, second.took_ms);

    // Refused, and leadership stays where it is.
    let now = second.to;
    let addr = cluster.node(now).addr.cluster.clone();
    for (to, why) in [(4, "not a voter"), (99, "not a voter"), (now, "already leads")] {
        match cluster.client().transfer_leader(&addr, Some(to)).await {
            Err(Error::Invalid(message)) => assert!(message.contains(why), "to {to}: {message}"),
            other => panic!("transfer to {to} must be refused as invalid, got {other:?}"),
        }
    }
    assert_eq!(cluster.leader().await, Some(now));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_leader_stopped_with_sigterm_hands_over_before_it_exits() -> Result<()> {
    let mut cluster = TestCluster::start(NodeSpec::voters(3)).await?;
    let leader = cluster.wait_for_leader(CONVERGE).await?;
    let others: Vec<NodeId> = cluster.ids().into_iter().filter(|id| *id != leader).collect();
    let before = cluster.status(leader).await?.term;
    let writer = Writer::start(&cluster, others.clone(), "sigterm");
    writer.wait_progress(10).await?;

    let exit = cluster.terminate(leader).await?;
    assert!(exit.success(), "node {leader} exited with {exit}");
    let log = std::fs::read_to_string(cluster.node(leader).data_dir.join("node.log"))?;
    assert!(log.contains("handed leadership over"), "no handover in node {leader}'s log:\n{log}");
    // The successor leads in the very next term: it did not wait for an election timeout.
    let successor = cluster.wait_for_leader(CONVERGE).await?;
    assert!(others.contains(&successor));
    assert_eq!(cluster.status(successor).await?.term, before + 1);
    writer.wait_progress(10).await?;
    let (ok, errors) = writer.finish().await?;
    assert!(errors.is_empty(), "writes failed while the leader stopped: {errors:#?}");
    println!("{ok} writes through nodes {others:?}, none failed; node {successor} took over");
    Ok(())
}
