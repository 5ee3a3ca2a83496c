//! The run itself: add users step by step, print progress, hold, stop sending, drain,
//! close every socket, all inside --max-duration; then gather what was measured.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use tokio::sync::{watch, OnceCell, Semaphore};
use tokio::task::JoinSet;

use super::checker::{check_losses, UserLedger};
use super::flood::{FloodReport, Flooder};
use super::options::{BenchArgs, LoadShape, Step};
use super::report::{progress_line, Point, StepRow};
use super::stats::Stats;
use super::usage::{self, round1, ProcessSample, Tracked};
use super::user::{self, Phase, Plan, Shared};
use crate::client::ChatApi;
use crate::Error;

/// Time kept at the end of --max-duration for closing sockets and reporting.
const CLOSE_GRACE: Duration = Duration::from_secs(10);

/// Everything measured, before it is shaped into the report.
#[derive(Debug)]
pub struct Outcome {
    pub stats: Arc<Stats>,
    pub ledgers: Vec<UserLedger>,
    pub steps: Vec<StepRow>,
    pub timeline: Vec<Point>,
    pub users_max: usize,
    pub elapsed: Duration,
    pub truncated: bool,
    pub interrupted: bool,
    /// Users whose task had not ended by the hard deadline.
    pub unfinished: u64,
    pub generator_cpu_peak: f64,
    pub nodes: Vec<(Tracked, f64)>,
    /// What the `--flood` socket did, when there was one.
    pub flood: Option<FloodReport>,
}

/// CPU of the generator and the tracked processes over one span.
struct Meter {
    generator_cpu: f64,
    at: Instant,
    processes: Vec<Tracked>,
}

impl Meter {
    fn new(processes: &[(String, u32)]) -> Self {
        Self {
            generator_cpu: usage::generator().0,
            at: Instant::now(),
            processes: processes.iter().filter_map(|(name, pid)| Tracked::new(name.clone(), *pid)).collect(),
        }
    }

    /// Generator CPU % of one core since the last call, each process's sample, and
    /// the span in seconds.
    fn sample(&mut self) -> (f64, Vec<ProcessSample>, f64) {
        let cpu = usage::generator().0;
        let span = self.at.elapsed().as_secs_f64().max(1e-3);
        let pct = (cpu - self.generator_cpu) / span * 100.0;
        self.generator_cpu = cpu;
        self.at = Instant::now();
        (round1(pct), self.processes.iter_mut().map(Tracked::sample).collect(), span)
    }
}

pub struct Ramp {
    pub args: BenchArgs,
    pub shape: LoadShape,
    pub targets: Vec<String>,
    /// Processes whose CPU and RSS are sampled (local nodes, the load balancer).
    pub watched: Vec<(String, u32)>,
}

impl Ramp {
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<Outcome, Error> {
        let epoch = Instant::now();
        let hard_end = epoch + self.args.max_duration;
        let stats = Arc::new(Stats::new(epoch));
        let apis = self.targets.iter().map(|t| ChatApi::new(t)).collect::<Result<Vec<_>, _>>()?;
        let run: u64 = rand::thread_rng().gen_range(1..1_000_000_000);
        let rooms = self.shape.max.div_ceil(self.args.room_size);
        let shared = Arc::new(Shared {
            stats: stats.clone(),
            rooms: (0..rooms).map(|_| OnceCell::new()).collect(),
            run,
            prefix: self.args.users.clone().unwrap_or_else(|| format!("bench-{run}")),
            password: self.args.password.clone(),
            rate: self.args.rate,
            mark_read: self.args.mark_read,
            timeout: self.args.timeout,
        });
        let (phase_tx, phase_rx) = watch::channel(Phase::Sending);
        let setup = Arc::new(Semaphore::new(self.args.setup_concurrency));
        let mut users: JoinSet<UserLedger> = JoinSet::new();
        // The flooder goes through the first target, as user 0 (the first room's first
        // member) does.
        let flooder = self.args.flood.map(|event| {
            let flooder = Flooder { event, rate: self.args.flood_rate, api: apis[0].clone(), shared: shared.clone() };
            tokio::spawn(flooder.run(phase_rx.clone()))
        });

        // Sending must stop early enough to drain and close within --max-duration.
        let budget = self.args.max_duration.saturating_sub(self.args.drain + CLOSE_GRACE);
        let truncated = self.shape.length() > budget;
        if truncated {
            tracing::warn!(
                schedule_s = self.shape.length().as_secs(),
                budget_s = budget.as_secs(),
                "the ramp does not fit in --max-duration with the drain; it will be cut short"
            );
        }
        let stop_sending = epoch + budget.min(self.shape.length());
        let steps = self.shape.steps();
        let mut step_meter = Meter::new(&self.watched);
        let mut tick_meter = Meter::new(&self.watched);
        let mut peaks = PeakTracker::default();
        let mut out_steps = Vec::new();
        let mut timeline = Vec::new();
        let mut shutdown = std::pin::pin!(shutdown);
        let mut interrupted = false;
        let mut next_tick = epoch + self.args.progress;
        let mut spawned = 0;

        'steps: for step in &steps {
            let step_start = epoch + step.at;
            if step_start >= stop_sending {
                break;
            }
            for i in spawned..step.users {
                let plan =
                    Plan { user: i as u32, room: (i / self.args.room_size) as u32, api: apis[i % apis.len()].clone() };
                let (shared, setup, phase) = (shared.clone(), setup.clone(), phase_rx.clone());
                users.spawn(async move {
                    let permit = setup.acquire_owned().await.expect("the setup semaphore is never closed");
                    user::live(plan, shared, permit, phase).await
                });
            }
            spawned = spawned.max(step.users);
            let step_end = (step_start + step.lasts).min(stop_sending);
            loop {
                let wake = next_tick.min(step_end);
                tokio::select! {
                    () = tokio::time::sleep_until(wake.into()) => {}
                    () = &mut shutdown => {
                        interrupted = true;
                        tracing::warn!("interrupted: stopping the run early");
                        out_steps.push(self.step_row(step, &stats, &mut step_meter));
                        break 'steps;
                    }
                }
                let now = Instant::now();
                if now >= next_tick {
                    let point = self.tick(&stats, &mut tick_meter, &mut peaks, epoch);
                    let run_tally = stats.run().0;
                    eprintln!("{}", progress_line(point.t_s, step.index, steps.len(), &point, step.users, &run_tally));
                    timeline.push(point);
                    next_tick += self.args.progress;
                }
                if now >= step_end {
                    out_steps.push(self.step_row(step, &stats, &mut step_meter));
                    break;
                }
            }
        }

        let _ = phase_tx.send(Phase::Draining);
        if !interrupted {
            tokio::time::sleep(self.args.drain).await;
        }
        timeline.push(self.tick(&stats, &mut tick_meter, &mut peaks, epoch));
        let _ = phase_tx.send(Phase::Closing);
        let (ledgers, unfinished) = collect(users, hard_end).await;
        let flood = match flooder {
            Some(task) => Some(collect_flood(task, hard_end).await),
            None => None,
        };
        let loss = check_losses(&ledgers);
        tracing::info!(expected = loss.expected, lost = loss.lost, "loss check done");
        Ok(Outcome {
            stats,
            ledgers,
            steps: out_steps,
            timeline,
            users_max: peaks.users,
            elapsed: epoch.elapsed(),
            truncated,
            interrupted,
            unfinished,
            generator_cpu_peak: peaks.generator_cpu,
            nodes: tick_meter
                .processes
                .into_iter()
                .zip(peaks.process_cpu.into_iter().chain(std::iter::repeat(0.0)))
                .collect(),
            flood,
        })
    }

    fn tick(&self, stats: &Stats, meter: &mut Meter, peaks: &mut PeakTracker, epoch: Instant) -> Point {
        let window = stats.take_window();
        let (cpu, processes, span) = meter.sample();
        let users = stats.users_in_room();
        peaks.users = peaks.users.max(users);
        peaks.generator_cpu = peaks.generator_cpu.max(cpu);
        peaks.process_cpu.resize(processes.len(), 0.0);
        for (peak, p) in peaks.process_cpu.iter_mut().zip(&processes) {
            *peak = peak.max(p.cpu_pct);
        }
        let lat = window.delivery.summary_ms();
        Point {
            t_s: round1(epoch.elapsed().as_secs_f64()),
            users,
            sent_per_s: round1(window.sent as f64 / span),
            delivered_per_s: round1(window.delivered as f64 / span),
            p50_ms: lat.p50,
            p99_ms: lat.p99,
            generator_cpu_pct: cpu,
            node_rss_mb: processes.iter().map(|p| p.rss_mb).collect(),
        }
    }

    fn step_row(&self, step: &Step, stats: &Stats, meter: &mut Meter) -> StepRow {
        let tally = stats.take_step();
        let (cpu, nodes, span) = meter.sample();
        StepRow {
            step: step.index + 1,
            at_s: step.at.as_secs_f64(),
            span_s: round1(span),
            users_target: step.users,
            users_in_room: stats.users_in_room(),
            connections_attempted: tally.connections_attempted,
            connections_failed: tally.connections_failed,
            requests: tally.requests_total(),
            requests_failed: tally.requests_failed(),
            sent: tally.sent,
            delivered: tally.delivered,
            sent_per_s: round1(tally.sent as f64 / span),
            delivered_per_s: round1(tally.delivered as f64 / span),
            latency_ms: tally.delivery.summary_ms(),
            server_errors: tally.server_errors,
            generator_cpu_pct: cpu,
            nodes,
        }
    }
}

#[derive(Debug, Default)]
struct PeakTracker {
    users: usize,
    generator_cpu: f64,
    process_cpu: Vec<f64>,
}

/// Wait for every user to close and hand in its ledger, until `hard_end`; the rest
/// are aborted and counted.
async fn collect(mut users: JoinSet<UserLedger>, hard_end: Instant) -> (Vec<UserLedger>, u64) {
    let mut ledgers = Vec::with_capacity(users.len());
    let deadline = tokio::time::Instant::from_std(hard_end.max(Instant::now() + Duration::from_secs(5)));
    loop {
        match tokio::time::timeout_at(deadline, users.join_next()).await {
            Ok(Some(Ok(ledger))) => ledgers.push(ledger),
            Ok(Some(Err(e))) => tracing::error!(error = %e, "a user task failed"),
            Ok(None) => return (ledgers, 0),
            Err(_) => {
                let unfinished = users.len() as u64;
                users.abort_all();
                tracing::warn!(unfinished, "users still running at --max-duration were aborted");
                return (ledgers, unfinished);
            }
        }
    }
}

/// The flooder's report; it stops when sending stops, so it has normally ended by now.
async fn collect_flood(mut task: tokio::task::JoinHandle<FloodReport>, hard_end: Instant) -> FloodReport {
    let deadline = tokio::time::Instant::from_std(hard_end.max(Instant::now() + Duration::from_secs(5)));
    match tokio::time::timeout_at(deadline, &mut task).await {
        Ok(Ok(report)) => report,
        outcome => {
            task.abort();
            let why = match outcome {
                Ok(Err(e)) => format!("the flooder task failed: {e}"),
                _ => "the flooder had not ended at --max-duration".to_string(),
            };
            tracing::error!(error = %why, "flood report lost");
            FloodReport { setup_error: Some(why), ..FloodReport::default() }
        }
    }
}
