//! The counters and latency histograms every simulated user records into, kept three
//! times over: for the whole run, for the current step, and for the current progress
//! window, so per-step rows and the live line need no second pass.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::histogram::Histogram;

/// Error samples kept for the report (the counters hold the full numbers).
const MAX_SAMPLES: usize = 20;

/// One REST endpoint's requests.
#[derive(Debug, Clone, Default)]
pub struct EndpointTally {
    pub total: u64,
    pub failed: u64,
    pub latency: Histogram,
}

/// Everything counted over some span of the run.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub connections_attempted: u64,
    pub connections_succeeded: u64,
    pub connections_failed: u64,
    /// Sockets that closed before the run asked them to.
    pub disconnects: u64,
    pub requests: BTreeMap<&'static str, EndpointTally>,
    pub sent: u64,
    pub acked: u64,
    pub delivered: u64,
    pub duplicated: u64,
    pub out_of_order: u64,
    pub reads_marked: u64,
    /// Socket `error` / `joinRoomError` events, and setup steps that timed out.
    pub server_errors: u64,
    /// Users whose setup failed (any of the steps above).
    pub users_failed: u64,
    /// Delivery latency to other members (send to receive, µs).
    pub delivery: Histogram,
    /// The part of `delivery` in the first room, the one a `--flood` socket is in.
    pub delivery_first_room: Histogram,
    /// The sender's own echo (send to echo, µs).
    pub ack: Histogram,
}

impl Tally {
    pub fn requests_total(&self) -> u64 {
        self.requests.values().map(|e| e.total).sum()
    }

    pub fn requests_failed(&self) -> u64 {
        self.requests.values().map(|e| e.failed).sum()
    }

    /// All REST latencies together.
    pub fn rest_latency(&self) -> Histogram {
        let mut all = Histogram::default();
        self.requests.values().for_each(|e| all.merge(&e.latency));
        all
    }
}

#[derive(Debug, Default)]
struct Spans {
    run: Tally,
    step: Tally,
    window: Tally,
    errors: Vec<String>,
    sessions: Histogram,
}

/// Shared by every user task of a run.
#[derive(Debug)]
pub struct Stats {
    epoch: Instant,
    spans: Mutex<Spans>,
    /// Users spawned and not finished.
    pub users_active: AtomicUsize,
    /// Users whose socket is connected and in its room.
    pub users_in_room: AtomicUsize,
}

impl Stats {
    pub fn new(epoch: Instant) -> Self {
        Self { epoch, spans: Mutex::default(), users_active: AtomicUsize::new(0), users_in_room: AtomicUsize::new(0) }
    }

    /// The run's clock: microseconds since it started.
    pub fn now_us(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }

    pub fn at_us(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.epoch).as_micros() as u64
    }

    fn each(&self, f: impl Fn(&mut Tally)) {
        let mut spans = self.spans.lock().expect("stats lock");
        f(&mut spans.run);
        f(&mut spans.step);
        f(&mut spans.window);
    }

    pub fn request(&self, endpoint: &'static str, took: Duration, ok: bool) {
        let us = took.as_micros() as u64;
        self.each(|t| {
            let e = t.requests.entry(endpoint).or_default();
            e.total += 1;
            e.failed += u64::from(!ok);
            e.latency.record(us);
        });
    }

    pub fn connection(&self, ok: bool) {
        self.each(|t| {
            t.connections_attempted += 1;
            t.connections_succeeded += u64::from(ok);
            t.connections_failed += u64::from(!ok);
        });
    }

    pub fn disconnect(&self) {
        self.each(|t| t.disconnects += 1);
    }

    pub fn sent(&self) {
        self.each(|t| t.sent += 1);
    }

    pub fn acked(&self, latency_us: u64) {
        self.each(|t| {
            t.acked += 1;
            t.ack.record(latency_us);
        });
    }

    /// A delivery to another member; `first_room` when it was in the first room.
    pub fn delivered(&self, latency_us: u64, first_room: bool) {
        self.each(|t| {
            t.delivered += 1;
            t.delivery.record(latency_us);
            if first_room {
                t.delivery_first_room.record(latency_us);
            }
        });
    }

    pub fn duplicated(&self) {
        self.each(|t| t.duplicated += 1);
    }

    pub fn out_of_order(&self) {
        self.each(|t| t.out_of_order += 1);
    }

    pub fn read_marked(&self) {
        self.each(|t| t.reads_marked += 1);
    }

    pub fn user_failed(&self) {
        self.each(|t| t.users_failed += 1);
    }

    /// A server error event or a failed setup step; `what` is kept as a sample.
    pub fn server_error(&self, what: impl FnOnce() -> String) {
        self.each(|t| t.server_errors += 1);
        self.sample(what);
    }

    /// Keep `what` among the first error samples (counted elsewhere).
    pub fn sample(&self, what: impl FnOnce() -> String) {
        let secs = self.epoch.elapsed().as_secs_f64();
        let mut spans = self.spans.lock().expect("stats lock");
        if spans.errors.len() < MAX_SAMPLES {
            spans.errors.push(format!("[{secs:.1}s] {}", what()));
        }
    }

    /// How long a user's session (setup to close) lasted.
    pub fn session(&self, took: Duration) {
        self.spans.lock().expect("stats lock").sessions.record(took.as_micros() as u64);
    }

    /// The current progress window's tally; a new window starts.
    pub fn take_window(&self) -> Tally {
        std::mem::take(&mut self.spans.lock().expect("stats lock").window)
    }

    /// The current step's tally; a new step starts.
    pub fn take_step(&self) -> Tally {
        std::mem::take(&mut self.spans.lock().expect("stats lock").step)
    }

    /// The whole run's tally, session lengths and error samples.
    pub fn run(&self) -> (Tally, Histogram, Vec<String>) {
        let spans = self.spans.lock().expect("stats lock");
        (spans.run.clone(), spans.sessions.clone(), spans.errors.clone())
    }

    pub fn users_active(&self) -> usize {
        self.users_active.load(Ordering::Relaxed)
    }

    pub fn users_in_room(&self) -> usize {
        self.users_in_room.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_count_the_same_events_and_reset_apart() {
        let stats = Stats::new(Instant::now());
        stats.request("POST /api/auth/login", Duration::from_millis(3), true);
        stats.request("POST /api/auth/login", Duration::from_millis(5), false);
        stats.connection(true);
        stats.delivered(1500, true);
        let window = stats.take_window();
        assert_eq!((window.requests_total(), window.requests_failed()), (2, 1));
        assert_eq!(window.delivery.count(), 1);
        stats.delivered(2500, false);
        stats.server_error(|| "joinRoomError: x".into());
        let step = stats.take_step();
        assert_eq!(step.delivered, 2);
        assert_eq!(stats.take_window().delivered, 1);
        let (run, _, errors) = stats.run();
        assert_eq!((run.delivered, run.connections_succeeded, run.server_errors), (2, 1, 1));
        assert_eq!(run.rest_latency().count(), 2);
        assert_eq!((run.delivery.count(), run.delivery_first_room.count()), (2, 1));
        assert!(errors[0].ends_with("joinRoomError: x"), "{errors:?}");
    }
}
