//! `chatctl aws drill`: a fault performed on EC2 (stop or reboot an instance) and
//! the recovery measured from the cluster's own view, like the local drills.
//!
//! `stop-leader` asks the cluster which node leads (`/cluster/status` of the nodes,
//! or `--via` a tunnel) and stops the instance tagged with that node id; the
//! leader is never guessed from EC2. When no node answers, it says so and stops
//! nothing: `stop-node ID` stops a node the operator names.

use std::time::Duration;

use chat_raft::NodeId;
use tokio::time::Instant;

use super::args::{DrillOpts, Fault};
use super::ec2::{self, failed, Ec2, Instance};
use super::status::raft_view;
use crate::status::{ClusterStatus, NodeState};
use crate::Error;

const POLL: Duration = Duration::from_millis(250);
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

pub async fn drill(fault: Fault) -> Result<(), Error> {
    match fault {
        Fault::StopLeader(opts) => stop_leader(opts).await,
        Fault::StopNode { id, opts } => stop_node(id, opts).await,
        Fault::RebootNode { id, opts } => reboot_node(id, opts).await,
    }
}

/// What a drill knows before the fault.
struct Scene {
    ec2: Ec2,
    instances: Vec<Instance>,
    opts: DrillOpts,
}

impl Scene {
    async fn load(opts: DrillOpts) -> Result<Scene, Error> {
        let ec2 = Ec2::connect(&opts.target.ec2).await?;
        let instances = ec2::instances(&ec2, &opts.target.cluster).await?;
        Ok(Scene { ec2, instances, opts })
    }

    async fn view(&self) -> Result<ClusterStatus, Error> {
        raft_view(&self.ec2, &self.opts.target, &self.instances).await.map(|(_, _, merged)| merged)
    }

    fn instance_of(&self, id: NodeId) -> Result<&Instance, Error> {
        self.instances.iter().find(|i| i.node_id() == Some(id)).ok_or_else(|| {
            Error::Usage(format!("cluster {} has no instance tagged chat:node-id = {id}", self.opts.target.cluster))
        })
    }

    /// Poll the cluster view until `done` holds; the time since `since`.
    async fn wait_view(
        &self,
        since: Instant,
        what: &str,
        done: impl Fn(&ClusterStatus) -> bool,
    ) -> Result<(ClusterStatus, Duration), Error> {
        let deadline = since + self.opts.timeout;
        let mut told = Instant::now();
        loop {
            let seen = match self.view().await {
                Ok(view) if done(&view) => return Ok((view, since.elapsed())),
                Ok(view) => format!("leader {:?}, term {}", view.leader, view.term),
                Err(e) => e.to_string(),
            };
            if told.elapsed() >= PROGRESS_EVERY {
                println!(
                    "still waiting for {what} after {:.0} s (cluster view: {seen})",
                    since.elapsed().as_secs_f64()
                );
                told = Instant::now();
            }
            if Instant::now() >= deadline {
                return Err(Error::Timeout { what: what.to_string(), after: self.opts.timeout });
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Poll EC2 until the instance reaches `state`.
    async fn wait_state(&self, instance: &Instance, state: &str, since: Instant) -> Result<Duration, Error> {
        let deadline = since + self.opts.timeout;
        loop {
            let now = ec2::instances(&self.ec2, &self.opts.target.cluster).await?;
            if now.iter().any(|i| i.id == instance.id && i.state == state) {
                return Ok(since.elapsed());
            }
            if Instant::now() >= deadline {
                return Err(Error::Timeout {
                    what: format!("{} to be {state}", instance.id),
                    after: self.opts.timeout,
                });
            }
            tokio::time::sleep(POLL * 4).await;
        }
    }

    async fn stop(&self, instance: &Instance) -> Result<Instant, Error> {
        self.ec2.client.stop_instances().instance_ids(&instance.id).send().await.map_err(failed("StopInstances"))?;
        println!("stop requested: instance {} (node {}, {})", instance.id, instance.key, instance.zone);
        Ok(Instant::now())
    }
}

async fn stop_leader(opts: DrillOpts) -> Result<(), Error> {
    let scene = Scene::load(opts).await?;
    let before = scene.view().await.map_err(|e| {
        Error::Usage(format!(
            "cannot tell which node leads, so nothing was stopped: {e}. The leader is asked from the cluster \
             (/cluster/status); to stop a node you name, use `chatctl aws drill stop-node ID`"
        ))
    })?;
    let leader = before.leader.ok_or(Error::NoLeader)?;
    println!("leader: node {leader} (term {})", before.term);
    let instance = scene.instance_of(leader)?;
    let since = scene.stop(instance).await?;
    let (after, took) = scene
        .wait_view(since, "a new leader", |v| v.leader.is_some_and(|l| l != leader) && v.term > before.term)
        .await?;
    println!(
        "new leader: node {} (term {}) {:.2} s after the stop request",
        after.leader.expect("waited for a leader"),
        after.term,
        took.as_secs_f64()
    );
    let stopped = scene.wait_state(instance, "stopped", since).await?;
    println!("instance {} stopped {:.1} s after the request", instance.id, stopped.as_secs_f64());
    println!("to start it again: `chatctl aws up` with the same plan (it starts stopped instances)");
    Ok(())
}

async fn stop_node(id: NodeId, opts: DrillOpts) -> Result<(), Error> {
    let scene = Scene::load(opts).await?;
    let instance = scene.instance_of(id)?;
    let before = scene.view().await;
    if let Err(e) = &before {
        println!("raft view unavailable ({e}); the recovery will not be measured");
    }
    let since = scene.stop(instance).await?;
    if let Ok(before) = before {
        let (after, took) = if before.leader == Some(id) {
            scene.wait_view(since, "a new leader", |v| v.leader.is_some_and(|l| l != id)).await?
        } else {
            let gone =
                |v: &ClusterStatus| v.leader.is_some() && v.node(id).is_none_or(|n| n.state == NodeState::Unreachable);
            scene.wait_view(since, "the node to be reported down", gone).await?
        };
        let leader = after.leader.map_or("none".into(), |l| l.to_string());
        println!(
            "cluster without node {id}: leader node {leader} (term {}) after {:.2} s",
            after.term,
            took.as_secs_f64()
        );
    }
    let stopped = scene.wait_state(instance, "stopped", since).await?;
    println!("instance {} stopped {:.1} s after the request", instance.id, stopped.as_secs_f64());
    Ok(())
}

async fn reboot_node(id: NodeId, opts: DrillOpts) -> Result<(), Error> {
    let scene = Scene::load(opts).await?;
    let instance = scene.instance_of(id)?;
    let before = scene.view().await;
    scene.ec2.client.reboot_instances().instance_ids(&instance.id).send().await.map_err(failed("RebootInstances"))?;
    let since = Instant::now();
    println!("reboot requested: instance {} (node {id})", instance.id);
    if let Err(e) = before {
        println!("raft view unavailable ({e}); the recovery will not be measured");
        return Ok(());
    }
    let down = |v: &ClusterStatus| v.node(id).is_none_or(|n| n.state == NodeState::Unreachable);
    let (_, went) = scene.wait_view(since, "the node to go down", down).await?;
    println!("node {id} stopped answering {:.2} s after the request", went.as_secs_f64());
    let back = |v: &ClusterStatus| v.leader.is_some() && v.node(id).is_some_and(|n| n.state != NodeState::Unreachable);
    let (after, took) = scene.wait_view(since, "the node to answer again", back).await?;
    println!(
        "node {id} answers again after {:.2} s (leader node {}, term {})",
        took.as_secs_f64(),
        after.leader.unwrap_or_default(),
        after.term
    );
    Ok(())
}
