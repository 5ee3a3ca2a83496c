//! Carrying out a parsed command: call the module that owns it and print the result
//! for the operator (stdout: results; stderr: progress logs through tracing).

use std::future::Future;

use chat_raft::api::AdminOk;
use chat_raft::state::Role;
use chat_raft::NodeAddr;

use super::args::*;
use crate::local::{self, ClusterLayout, LocalCluster, Stopped, UpOptions};
use crate::roles::RoleChange;
use crate::target::Target;
use crate::{membership, raft_bench, roles, status, Error};

impl Cli {
    /// Carry out the command. `shutdown` (the binary passes SIGINT or SIGTERM) is
    /// how `local up` normally ends; any other command it interrupts.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
        let command = match self.command {
            Command::Local(LocalCommand::Up(args)) => return up(args, shutdown).await,
            // The bench reports what it measured even when interrupted.
            Command::Bench(args) => return crate::bench::run(args, shutdown).await.map(drop),
            // Watching ends with Ctrl-C, which is success.
            Command::Status(args) if args.watch => {
                let limits = crate::watch::Thresholds { p99: args.p99_alert, error_rate: args.error_alert / 100.0 };
                let target = args.target.target()?;
                return tokio::select! {
                    result = crate::watch::run(&target, args.interval, limits) => result,
                    () = shutdown => Ok(()),
                };
            }
            command => command,
        };
        tokio::select! {
            result = run_once(command) => result,
            () = shutdown => Err(Error::Interrupted),
        }
    }
}

async fn run_once(command: Command) -> Result<(), Error> {
    match command {
        Command::Local(LocalCommand::Up(_)) => unreachable!("`local up` runs until shutdown"),
        Command::Local(LocalCommand::Restart(args)) => restart(args).await,
        Command::Local(LocalCommand::Stop(args)) => stop(args).await,
        Command::Status(args) => print_status(args).await,
        Command::AddNode(args) => add_node(args).await,
        Command::Promote(args) => {
            let ok = membership::promote(&args.target.target()?, args.id).await?;
            println!("node {} promoted to voter{}", args.id, detail(&ok));
            Ok(())
        }
        Command::RemoveNode(args) => remove_node(args).await,
        Command::Admin(AdminCommand::Grant(args)) => set_role(args, Role::Admin).await,
        Command::Admin(AdminCommand::Revoke(args)) => set_role(args, Role::User).await,
        Command::TransferLeader(args) => {
            let handover = membership::transfer_leader(&args.target.target()?, args.to).await?;
            if args.json {
                println!("{}", serde_json::to_string(&handover).expect("a handover always serializes"));
            } else {
                println!(
                    "leadership handed from node {} to node {} in {} ms",
                    handover.from, handover.to, handover.took_ms
                );
            }
            Ok(())
        }
        Command::Backup(args) => backup(args).await,
        Command::Restore(args) => restore(args).await,
        Command::RaftBench(args) => bench(args).await,
        Command::Drill(args) => drill(args).await,
        Command::Bench(_) => unreachable!("bench is run with the shutdown signal"),
        Command::Aws(command) => crate::aws::run(command).await,
    }
}

async fn backup(args: BackupArgs) -> Result<(), Error> {
    let summary = crate::backup::take(&args.target.target()?, &args.out).await?;
    if args.json {
        println!("{}", serde_json::to_string(&summary).expect("a summary always serializes"));
    } else {
        let c = &summary.counts;
        println!(
            "backup of index {} (term {}, leader {}) in {}: {} users, {} rooms, {} memberships, {} messages, {} files; {} bytes in {} ms",
            summary.index,
            summary.term,
            summary.leader,
            summary.file.display(),
            c.users,
            c.rooms,
            c.memberships,
            c.messages,
            c.blobs,
            summary.bytes,
            summary.took_ms
        );
    }
    Ok(())
}

async fn restore(args: RestoreArgs) -> Result<(), Error> {
    let (from, dir, nodes) = (args.from, args.data_dir, args.nodes);
    let summary = tokio::task::spawn_blocking(move || crate::backup::restore(&from, &dir, nodes))
        .await
        .map_err(|e| Error::Usage(format!("the restore stopped: {e}")))??;
    if args.json {
        println!("{}", serde_json::to_string(&summary).expect("a summary always serializes"));
    } else {
        println!(
            "restored index {} (term {}) as a new cluster of {} nodes in {}: {} users, {} rooms, {} messages, {} files; start it with `chatctl local up --data-dir {}`",
            summary.index,
            summary.term,
            summary.nodes,
            summary.data_dir.display(),
            summary.counts.users,
            summary.counts.rooms,
            summary.counts.messages,
            summary.counts.blobs,
            summary.data_dir.display()
        );
    }
    Ok(())
}

async fn up(args: UpArgs, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
    let opts = UpOptions {
        data_dir: args.data_dir,
        voters: args.nodes,
        edges: args.edges,
        node_bin: args.node_bin,
        base_port: args.base_port,
        ready_timeout: args.ready_timeout,
        behind_lb: args.lb,
    };
    let cluster = LocalCluster::launch(opts)?;
    let mut shutdown = std::pin::pin!(shutdown);
    // Ctrl-C during the bootstrap must still stop the nodes that were started.
    let bootstrapped = tokio::select! {
        result = cluster.bootstrap() => Some(result),
        () = &mut shutdown => None,
    };
    let leader = match bootstrapped {
        Some(Ok(leader)) => leader,
        Some(Err(e)) => {
            cluster.stop().await?;
            return Err(e);
        }
        None => {
            tracing::info!("interrupted before the cluster was ready");
            return cluster.stop().await;
        }
    };
    let mut cluster = cluster;
    let lb = match args.lb {
        true => match cluster.start_lb(args.haproxy_bin.as_deref(), args.lb_port, args.ready_timeout).await {
            Ok(lb) => Some(lb),
            Err(e) => {
                cluster.stop().await?;
                return Err(e);
            }
        },
        false => None,
    };
    let layout = cluster.layout()?;
    print!("{}", local::up::nodes_table(&layout));
    if let Some(lb) = &lb {
        println!("load balancer: http://{} (haproxy, stats http://{}/)", lb.public, lb.stats);
    }
    println!("leader: node {leader}");
    // Every node serves the web console; the balancer, when there is one, is the address
    // that survives any single node.
    let console = match &lb {
        Some(lb) => Some(lb.public.clone()),
        None => layout.nodes.iter().find(|n| !n.removed).map(|n| n.public.clone()),
    };
    if let Some(addr) = console {
        println!("open the web console: http://{addr}/ (admins: /admin, /cluster)");
    }
    println!("cluster file: {}", ClusterLayout::path(cluster.dir()).display());
    println!("node logs: {}/node-<id>/node.log", cluster.dir().display());
    println!("running; Ctrl-C stops every node");
    cluster.run_until(shutdown).await?;
    println!("all nodes stopped");
    Ok(())
}

async fn restart(args: RestartArgs) -> Result<(), Error> {
    let node = local::restart(&args.data_dir, args.node, args.node_bin.as_deref(), args.timeout).await?;
    println!(
        "node {} restarted (pid {}), answering at {}; log: {}",
        node.id,
        node.pid.unwrap_or_default(),
        node.cluster,
        node.log_path().display()
    );
    Ok(())
}

async fn stop(args: StopArgs) -> Result<(), Error> {
    let (node, how) = local::stop_node(&args.data_dir, args.node, args.kill).await?;
    let how = match how {
        Stopped::Killed => "killed",
        Stopped::Exited | Stopped::NotRunning => "stopped",
    };
    println!("node {} (pid {}) {how}", node.id, node.pid.unwrap_or_default());
    Ok(())
}

async fn print_status(args: StatusArgs) -> Result<(), Error> {
    let (_, _, merged) = status::gather(&args.target.target()?).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&merged).expect("status always serializes"));
    } else {
        print!("{}", merged.render());
    }
    Ok(())
}

async fn add_node(args: AddNodeArgs) -> Result<(), Error> {
    let target = args.target.target()?;
    let (addr, started_in) = match (args.public, args.cluster_addr, &target) {
        (Some(public), Some(cluster), _) => (NodeAddr { public, cluster }, None),
        (None, None, Target::Local { dir }) => {
            let node = local::add_edge(dir, args.id, args.node_bin.as_deref(), args.timeout).await?;
            println!(
                "node {} started as an edge (pid {}), public {}, cluster {}; log: {}",
                node.id,
                node.pid.unwrap_or_default(),
                node.public,
                node.cluster,
                node.log_path().display()
            );
            (node.addr(), Some(dir))
        }
        _ => return Err(Error::Usage("give both --public and --cluster-addr, or neither with --data-dir".into())),
    };
    match membership::add_learner(&target, args.id, addr).await {
        Ok(ok) => {
            println!("node {} added as a learner{}", args.id, detail(&ok));
            Ok(())
        }
        Err(e) => {
            if let Some(dir) = started_in {
                local::add_edge::forget_edge(dir, args.id).await;
                println!("node {} stopped and taken out of cluster.json again", args.id);
            }
            Err(e)
        }
    }
}

async fn remove_node(args: RemoveNodeArgs) -> Result<(), Error> {
    let target = args.target.target()?;
    if args.stop && !matches!(target, Target::Local { .. }) {
        return Err(Error::Usage("--stop works with --data-dir only: chatctl cannot stop a remote process".into()));
    }
    let ok = membership::remove(&target, args.id).await?;
    println!("node {} removed from the membership{}", args.id, detail(&ok));
    let Target::Local { dir } = &target else { return Ok(()) };
    let recorded = ClusterLayout::update(dir, |layout| {
        Ok(layout.nodes.iter_mut().find(|n| n.id == args.id).map(|n| n.removed = true).is_some())
    })?;
    if recorded && args.stop {
        match local::stop_node(dir, args.id, false).await {
            Ok((node, _)) => println!("node {} (pid {}) stopped", node.id, node.pid.unwrap_or_default()),
            Err(Error::NotRunning { .. }) => println!("node {} was not running", args.id),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

async fn bench(args: RaftBenchArgs) -> Result<(), Error> {
    let result = raft_bench::run(&args.target.target()?, args.proposers, args.duration).await?;
    print!("{}", result.render());
    if let Some(path) = &args.json {
        crate::json_report::write(path, &result)?;
    }
    Ok(())
}

async fn drill(args: DrillArgs) -> Result<(), Error> {
    let load = (!args.no_load).then_some(crate::drill::load::LoadOptions {
        users_per_node: args.users_per_node,
        rooms: args.rooms,
        churn_users: args.churn_users,
        send_every: args.send_every,
    });
    let opts = crate::drill::DrillOptions {
        scenario: args.scenario,
        data_dir: args.data_dir,
        node_bin: args.node_bin,
        load,
        hold: args.hold,
        warmup: args.warmup,
        after: args.after,
        settle: args.settle,
        node: args.node,
        ready_timeout: args.ready_timeout,
        transfer: !args.no_transfer,
        history: args.history,
    };
    let report = crate::drill::run(&opts).await?;
    print!("{}", report.render());
    if let Some(path) = &args.json {
        crate::json_report::write(path, &report)?;
    }
    if report.passed {
        Ok(())
    } else {
        Err(Error::DrillFailed { scenario: report.scenario.name().into(), count: report.checker_errors.len() })
    }
}

fn detail(ok: &AdminOk) -> String {
    ok.message.as_deref().map(|m| format!(" ({m})")).unwrap_or_default()
}

async fn set_role(args: RoleArgs, role: Role) -> Result<(), Error> {
    let name = if role == Role::Admin { "admin" } else { "user" };
    match roles::set_role(&args.target.target()?, &args.email, role).await? {
        RoleChange::Changed { user_id } => println!("{} ({user_id}) is now {name}", args.email),
        RoleChange::Unchanged { user_id } => println!("{} ({user_id}) was {name} already", args.email),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[tokio::test]
    async fn remove_node_stop_needs_a_directory() {
        assert!(Cli::try_parse_from(["chatctl", "remove-node", "--data-dir", "/c", "--id", "2", "--stop"]).is_ok());
        // Refused before any node is contacted (nothing listens on port 1).
        let remote = Cli::try_parse_from([
            "chatctl",
            "remove-node",
            "--cluster",
            "127.0.0.1:1",
            "--secret",
            "s",
            "--id",
            "2",
            "--stop",
        ])
        .unwrap();
        let err = remote.run(std::future::pending()).await.unwrap_err();
        assert!(matches!(err, Error::Usage(_)), "{err}");
    }
}
