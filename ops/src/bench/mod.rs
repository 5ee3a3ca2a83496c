//! `chatctl bench`: a load benchmark of the public API that simulates chat users over
//! real HTTP and Socket.IO and measures true delivery latency (send until another
//! member receives it), losses, duplicates and ordering.
//!
//! - [`options`]: the command line and the load shape (steps of users over time).
//! - [`ramp`]: the run: spawn users per step, progress, hold, drain, close.
//! - [`user`]: one simulated user's life, on `chat_ops::client`.
//! - [`checker`]: message stamps, duplicates and out-of-order, the loss check.
//! - [`flood`]: `--flood`, one extra socket in the first room flooding one event.
//! - [`stats`], [`histogram`]: counters and latency histograms per run, step, window.
//! - [`usage`]: CPU and RSS of the generator and of local nodes (RSS per node per tick).
//! - [`report`]: the JSON report, the human table, the live line, the verdict; with
//!   `--data-dir` also the Raft term and leader read (as `chatctl status` does) just
//!   before and after the ramp.
//! - [`plot`]: users, p99 and the highest node RSS over time as an SVG.

pub mod checker;
pub mod flood;
pub mod histogram;
pub mod options;
pub mod plot;
pub mod ramp;
pub mod report;
pub mod stats;
pub mod usage;
pub mod user;

use std::future::Future;
use std::path::Path;

pub use options::{BenchArgs, LoadShape, Profile};
pub use report::Report;

use crate::local::ClusterLayout;
use crate::status::{self, NodeState};
use crate::target::Target;
use crate::Error;
use checker::check_losses;
use ramp::{Outcome, Ramp};
use report::{
    Connections, Generator, Messages, NodeUsage, ProfileJson, RaftTerms, RaftView, Requests, ServerErrors, Sessions,
};
use usage::round1;

/// Run the benchmark, print the report, write `--json` and `--plot`; an error when the
/// run failed its own checks ([`Error::BenchFailed`]).
pub async fn run(args: BenchArgs, shutdown: impl Future<Output = ()>) -> Result<Report, Error> {
    args.validate()?;
    let shape = args.shape()?;
    let targets = args.resolve_targets()?;
    let watched = match &args.data_dir {
        Some(dir) => watched_processes(dir)?,
        None => Vec::new(),
    };
    eprintln!(
        "bench: {} against {} ({} rooms of {}, {} msg/s per user, mark read: {}), bounded by {}",
        shape.describe(),
        targets.join(","),
        shape.max.div_ceil(args.room_size),
        args.room_size,
        args.rate,
        args.mark_read,
        crate::duration::format(args.max_duration)
    );
    if let Some(event) = args.flood {
        eprintln!("bench: one more socket in the first room floods {} at {}/s", event.name(), args.flood_rate);
    }
    let raft_before = match &args.data_dir {
        Some(dir) => Some(raft_view(dir).await),
        None => None,
    };
    let ramp = Ramp { args: args.clone(), shape, targets: targets.clone(), watched };
    let outcome = ramp.run(shutdown).await?;
    let raft = match (&args.data_dir, raft_before) {
        (Some(dir), Some(before)) => Some(RaftTerms::from_views(before, raft_view(dir).await)),
        _ => None,
    };
    let report = build_report(&args, &shape, targets, &outcome, raft);
    print!("{}", report.render());
    if let Some(path) = &args.json {
        crate::json_report::write(path, &report)?;
    }
    if let Some(path) = &args.plot {
        let title = format!(
            "chatctl bench: {} (delivery p99 per {} window)",
            shape.describe(),
            crate::duration::format(args.progress)
        );
        std::fs::write(path, plot::svg(&title, &report.timeline)).map_err(Error::io(path))?;
        println!("plot written to {}", path.display());
    }
    if report.ok {
        Ok(report)
    } else {
        Err(Error::BenchFailed { reasons: report.failures.join("; ") })
    }
}

/// Every node of the cluster in `dir` that has a pid, and its load balancer.
fn watched_processes(dir: &Path) -> Result<Vec<(String, u32)>, Error> {
    let layout = ClusterLayout::load(dir)?;
    let mut watched: Vec<(String, u32)> =
        layout.active().filter_map(|n| n.pid.map(|pid| (format!("node {}", n.id), pid))).collect();
    watched.extend(layout.lb.as_ref().and_then(|lb| lb.pid).map(|pid| ("haproxy".to_string(), pid)));
    Ok(watched)
}

/// The term and leader of the cluster in `dir`, read the way `chatctl status` reads
/// them; `None` (and a warning) when no node answered, because the bench measures the
/// chat path and must not fail for want of a status.
async fn raft_view(dir: &Path) -> Option<RaftView> {
    match status::gather(&Target::Local { dir: dir.to_path_buf() }).await {
        Ok((_, _, merged)) if merged.nodes.iter().any(|n| n.state != NodeState::Unreachable) => {
            Some(RaftView { term: merged.term, leader: merged.leader })
        }
        Ok(_) => {
            tracing::warn!("raft status unreadable: no node of the cluster answered");
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, "raft status unreadable");
            None
        }
    }
}

fn build_report(
    args: &BenchArgs,
    shape: &LoadShape,
    targets: Vec<String>,
    o: &Outcome,
    raft: Option<RaftTerms>,
) -> Report {
    let (run, sessions, samples) = o.stats.run();
    let loss = check_losses(&o.ledgers);
    let (cpu_s, max_rss_mb) = usage::generator();
    let secs = o.elapsed.as_secs_f64().max(1e-3);
    let mut report = Report {
        ok: false,
        failures: Vec::new(),
        targets,
        profile: ProfileJson {
            start: shape.start,
            step: shape.step,
            every_s: shape.every.as_secs_f64(),
            max: shape.max,
            hold_s: shape.hold.as_secs_f64(),
            max_duration_s: args.max_duration.as_secs_f64(),
            room_size: args.room_size,
            rate_per_user: args.rate,
            mark_read: args.mark_read,
            truncated: o.truncated,
        },
        duration_s: round1(secs),
        users_max: o.users_max,
        connections: Connections::from(&run),
        requests: Requests::from(&run),
        messages: Messages::from(&run, &loss),
        latency_ms: run.delivery.summary_ms(),
        first_room_latency_ms: run.delivery_first_room.summary_ms(),
        ack_latency_ms: run.ack.summary_ms(),
        session_s: Sessions::from(&sessions),
        server_errors: ServerErrors { total: run.server_errors, users_failed: run.users_failed, samples },
        generator: Generator {
            cpu_s: round1(cpu_s),
            cpu_pct: round1(cpu_s / secs * 100.0),
            cpu_pct_peak: o.generator_cpu_peak,
            max_rss_mb: round1(max_rss_mb),
        },
        nodes: o
            .nodes
            .iter()
            .map(|(p, peak)| NodeUsage {
                name: p.name.clone(),
                pid: p.pid,
                cpu_pct: round1(p.cpu_total / secs * 100.0),
                cpu_pct_peak: *peak,
                rss_mb: round1(p.rss_mb),
                rss_mb_peak: round1(p.peak_rss_mb),
            })
            .collect(),
        raft,
        steps: o.steps.clone(),
        timeline: o.timeline.clone(),
        flood: o.flood.clone(),
    };
    report.failures = report::verdict(&report);
    if o.unfinished > 0 {
        report.failures.push(format!("{} users had not finished at --max-duration", o.unfinished));
    }
    if o.interrupted {
        report.failures.push("interrupted before the end of the ramp".into());
    }
    report.ok = report.failures.is_empty();
    report
}
