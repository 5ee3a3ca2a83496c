//! `chatctl bench`'s command line (every option documented for `--help`) and the load
//! shape it describes: how many users exist at which moment, step by step.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

use crate::local::ClusterLayout;
use crate::{duration, Error};

/// A named load shape; any of --start, --step, --every, --max, --hold given on the
/// command line overrides the preset's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Profile {
    /// 100 users, +100 every 30 s up to 3,000, hold 30 s (15 min of load).
    Official,
    /// The same ramp compressed: 100 users, +100 every 5 s up to 3,000, hold 10 s.
    Compressed,
}

/// The socket event a `--flood` sends, named as on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FloodEvent {
    /// A short text message to the room (every member receives it).
    #[value(name = "chatMessage")]
    ChatMessage,
    /// A read mark of one message of the room (broadcast as `messagesRead`).
    #[value(name = "markMessagesAsRead")]
    MarkMessagesAsRead,
    /// A reaction on one message of the room, added and removed in turn.
    #[value(name = "messageReaction")]
    MessageReaction,
    /// `joinRoom` of the room the flooder is already in.
    #[value(name = "joinRoom")]
    JoinRoom,
    /// A history page of the room (30 messages).
    #[value(name = "fetchPreviousMessages")]
    FetchPreviousMessages,
}

impl FloodEvent {
    /// The event's name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            FloodEvent::ChatMessage => "chatMessage",
            FloodEvent::MarkMessagesAsRead => "markMessagesAsRead",
            FloodEvent::MessageReaction => "messageReaction",
            FloodEvent::JoinRoom => "joinRoom",
            FloodEvent::FetchPreviousMessages => "fetchPreviousMessages",
        }
    }
}

/// Simulate chat users over real HTTP and Socket.IO and measure true delivery latency.
///
/// Every simulated user does what the web client does: log in (registering on a 401),
/// list rooms, create or join its room over REST, connect a Socket.IO websocket,
/// `joinRoom`, `fetchPreviousMessages`, then send `chatMessage` at --rate and emit
/// `markMessagesAsRead` for every message it receives. Users are added step by step
/// (--start, --step every --every up to --max), the last step is held for --hold,
/// then sending stops, late deliveries get --drain, and every socket is closed.
///
/// Every message carries its sender, a per-sender sequence number and its send time,
/// so each receiver measures delivery latency (receive - send, one clock) and the
/// run counts lost, duplicated and out-of-order deliveries. Lost means: acknowledged
/// (the sender received its own echo) but never delivered to a member that was in the
/// room and connected from before the send until the end.
///
/// With --flood EVENT, one more user (`<prefix>-flood`) joins the first room and, for
/// the whole sending phase, emits EVENT at --flood-rate from one socket without waiting
/// for answers, reading and discarding what it receives; it reconnects once a second
/// when its socket is closed. Its messages and answers are kept out of every delivery
/// figure and of the loss check; the report has a `flood` section (attempted, sent,
/// refusals by code, disconnects and reconnects), to compare delivery p99 with and
/// without a flood.
///
/// Exit status 0 only when no connection, request or message failed, was lost,
/// duplicated or delivered out of order, and no server error event arrived.
#[derive(Debug, Clone, Args)]
#[command(after_help = "Examples:
  # the official profile against a local cluster, through every node's public listener
  chatctl bench --data-dir ./cluster --json bench.json --plot bench.svg
  # the same ramp, compressed (5 s steps), through the load balancer of `local up --lb`
  chatctl bench --data-dir ./cluster --via-lb --profile compressed
  # a 300-user smoke run against explicit addresses
  chatctl bench --targets 127.0.0.1:5001,http://127.0.0.1:5002 --start 100 --step 100 --every 5s --max 300 --hold 10s
  # the same run while one socket floods chatMessage at 2,000 events/s
  chatctl bench --data-dir ./cluster --profile compressed --max 300 --flood chatMessage")]
pub struct BenchArgs {
    /// Public addresses to load, comma-separated (`host:port` or `http://host:port`);
    /// user i uses address i mod N. Give one load-balancer address to go through it.
    #[arg(long, value_name = "ADDR,...", value_delimiter = ',', required_unless_present = "data_dir")]
    pub targets: Vec<String>,
    /// Local cluster directory (from `chatctl local up`): the targets are every node's
    /// public address, each node's CPU and RSS are sampled during the run, and the Raft
    /// term and leader are read before and after it.
    #[arg(long, value_name = "DIR", conflicts_with = "targets")]
    pub data_dir: Option<PathBuf>,
    /// With --data-dir: send every user through the load balancer recorded by
    /// `chatctl local up --lb` instead of straight to the nodes.
    #[arg(long)]
    pub via_lb: bool,

    /// Load shape preset; the flags below override single values of it.
    #[arg(long, value_enum, default_value = "official")]
    pub profile: Profile,
    /// Users at the first step [official: 100].
    #[arg(long, value_name = "N")]
    pub start: Option<usize>,
    /// Users added at each further step [official: 100].
    #[arg(long, value_name = "N")]
    pub step: Option<usize>,
    /// Time between steps, e.g. 30s or 3s [official: 30s, compressed: 5s].
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    pub every: Option<Duration>,
    /// Users at the last step [official: 3000].
    #[arg(long, value_name = "N")]
    pub max: Option<usize>,
    /// How long the last step is held before sending stops [official: 30s, compressed: 10s].
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    pub hold: Option<Duration>,
    /// Hard bound on the whole run, drain and shutdown included; the ramp is cut short
    /// (and the report says so) if it would not fit. The default fits the official
    /// profile's 15 minutes of load plus the drain and closing.
    #[arg(long, value_name = "DURATION", default_value = "16m", value_parser = duration::parse)]
    pub max_duration: Duration,

    /// Members per room: users 0..K-1 share the first room, K..2K-1 the second, ...
    #[arg(long, value_name = "K", default_value_t = 20)]
    pub room_size: usize,
    /// Chat messages each user sends per second once it is in its room (e.g. 0.1 =
    /// one every 10 s; each user starts at a random phase).
    #[arg(long, value_name = "PER_SECOND", default_value_t = 0.1)]
    pub rate: f64,
    /// Emit `markMessagesAsRead` for every message received, one id per event, as some
    /// load clients do (each raises a read watermark, coalesced per node, and is broadcast
    /// to the room as `messagesRead`).
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set)]
    pub mark_read: bool,
    /// Users setting up (log in or register, rooms, socket) at the same time; the rest of
    /// a step waits its turn.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub setup_concurrency: usize,
    /// How long one user's socket connect, `joinRoom` or history load may take.
    #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = duration::parse)]
    pub timeout: Duration,
    /// After sending stops, how long to wait for late deliveries before closing.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = duration::parse)]
    pub drain: Duration,
    /// Prefix of the users' names and e-mails (`<prefix>-<i>@bench.local`); reuse one to
    /// exercise the login path instead of registration [default: random per run].
    #[arg(long, value_name = "PREFIX")]
    pub users: Option<String>,
    /// Password of every simulated user.
    #[arg(long, value_name = "PASSWORD", default_value = "bench-password-1")]
    pub password: String,

    /// One extra user in the first room floods this event from one socket for the
    /// whole sending phase (not counted in the delivery figures).
    #[arg(long, value_name = "EVENT", value_enum)]
    pub flood: Option<FloodEvent>,
    /// Events per second the flooder tries to send (with --flood).
    #[arg(long, value_name = "PER_SECOND", default_value_t = 2000.0)]
    pub flood_rate: f64,

    /// Interval of the live progress line on stderr.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = duration::parse)]
    pub progress: Duration,
    /// Also write the full report (summary, per-step rows, timeline) as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Also draw users and delivery p99 over time as an SVG to FILE (with --data-dir,
    /// the highest node RSS too).
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
}

/// Users, step timing and the hard bound, resolved from a preset and overrides.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoadShape {
    pub start: usize,
    pub step: usize,
    pub every: Duration,
    pub max: usize,
    pub hold: Duration,
}

/// One step of the ramp: from `at` (since the run started) there are `users` users,
/// until `at + lasts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub index: usize,
    pub at: Duration,
    pub users: usize,
    pub lasts: Duration,
}

impl Profile {
    fn shape(self) -> LoadShape {
        let official = LoadShape {
            start: 100,
            step: 100,
            every: Duration::from_secs(30),
            max: 3000,
            hold: Duration::from_secs(30),
        };
        match self {
            Profile::Official => official,
            Profile::Compressed => {
                LoadShape { every: Duration::from_secs(5), hold: Duration::from_secs(10), ..official }
            }
        }
    }
}

impl BenchArgs {
    /// The load shape: the preset with the flags given on top, validated.
    pub fn shape(&self) -> Result<LoadShape, Error> {
        let preset = self.profile.shape();
        let shape = LoadShape {
            start: self.start.unwrap_or(preset.start),
            step: self.step.unwrap_or(preset.step),
            every: self.every.unwrap_or(preset.every),
            max: self.max.unwrap_or(preset.max),
            hold: self.hold.unwrap_or(preset.hold),
        };
        shape.validate()?;
        Ok(shape)
    }

    /// Check the values that clap cannot; the message names the flag.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |msg: &str| Err(Error::Usage(msg.into()));
        if self.via_lb && self.data_dir.is_none() {
            return bad("--via-lb needs --data-dir (the load balancer is recorded in cluster.json)");
        }
        if self.room_size < 2 {
            return bad("--room-size must be at least 2 (a sender and a receiver)");
        }
        if !(self.rate > 0.0 && self.rate <= 100.0) {
            return bad("--rate must be above 0 and at most 100 messages per second per user");
        }
        if !(self.flood_rate > 0.0 && self.flood_rate <= 100_000.0) {
            return bad("--flood-rate must be above 0 and at most 100000 events per second");
        }
        if self.setup_concurrency == 0 {
            return bad("--setup-concurrency must be at least 1");
        }
        if self.timeout.is_zero() || self.progress.is_zero() {
            return bad("--timeout and --progress must be above 0");
        }
        if self.password.len() < 6 || self.password.len() > 72 {
            return bad("--password must be 6 to 72 bytes (the server's rules)");
        }
        if self.users.as_deref().is_some_and(|p| p.is_empty() || p.contains(['@', ' '])) {
            return bad("--users must be a non-empty prefix without '@' or spaces");
        }
        self.shape().map(drop)
    }

    /// The addresses users connect to: --targets, or the nodes (or load balancer) of
    /// the local cluster in --data-dir.
    pub fn resolve_targets(&self) -> Result<Vec<String>, Error> {
        let Some(dir) = &self.data_dir else {
            let targets: Vec<String> =
                self.targets.iter().map(|t| t.trim().to_string()).filter(|t| !t.is_empty()).collect();
            if targets.is_empty() {
                return Err(Error::Usage("--targets needs at least one address".into()));
            }
            return Ok(targets);
        };
        let layout = ClusterLayout::load(dir)?;
        if self.via_lb {
            let lb = layout.lb.as_ref().ok_or_else(|| {
                Error::Usage(format!(
                    "--via-lb: {} records no load balancer (start the cluster with `chatctl local up --lb`)",
                    ClusterLayout::path(dir).display()
                ))
            })?;
            return Ok(vec![lb.public.clone()]);
        }
        Ok(layout.active().map(|n| n.public.clone()).collect())
    }
}

impl LoadShape {
    fn validate(&self) -> Result<(), Error> {
        let bad = |msg: String| Err(Error::Usage(msg));
        if self.start == 0 {
            return bad("--start must be at least 1".into());
        }
        if self.max < self.start {
            return bad(format!("--max ({}) must be at least --start ({})", self.max, self.start));
        }
        if self.max > self.start && (self.step == 0 || self.every.is_zero()) {
            return bad("--step and --every must be above 0 when --max is above --start".into());
        }
        if self.max > 100_000 {
            return bad("--max above 100000 users is not supported by one generator".into());
        }
        Ok(())
    }

    /// Every step in order; the last one (at --max) lasts --hold.
    pub fn steps(&self) -> Vec<Step> {
        let mut steps = Vec::new();
        let mut users = self.start;
        loop {
            let index = steps.len();
            let at = self.every * index as u32;
            let last = users >= self.max;
            steps.push(Step {
                index,
                at,
                users: users.min(self.max),
                lasts: if last { self.hold } else { self.every },
            });
            if last {
                return steps;
            }
            users += self.step;
        }
    }

    /// Time from the first step until sending stops.
    pub fn length(&self) -> Duration {
        self.steps().last().map_or(Duration::ZERO, |s| s.at + s.lasts)
    }

    /// `100 -> 3000 (+100 every 30s, hold 30s)`.
    pub fn describe(&self) -> String {
        format!(
            "{} -> {} users (+{} every {}, hold {})",
            self.start,
            self.max,
            self.step,
            duration::format(self.every),
            duration::format(self.hold)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn args(extra: &[&str]) -> BenchArgs {
        let argv = ["chatctl", "bench", "--targets", "127.0.0.1:1"].iter().chain(extra);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Bench(args) => args,
            _ => panic!("bench"),
        }
    }

    #[test]
    fn official_profile_is_100_to_3000_in_15_minutes() {
        let shape = args(&[]).shape().unwrap();
        let steps = shape.steps();
        assert_eq!(steps.len(), 30);
        assert_eq!(steps[0], Step { index: 0, at: Duration::ZERO, users: 100, lasts: Duration::from_secs(30) });
        assert_eq!(steps[29].users, 3000);
        assert_eq!(steps[29].at, Duration::from_secs(870));
        assert_eq!(shape.length(), Duration::from_secs(900));
    }

    #[test]
    fn flags_override_the_preset() {
        let shape = args(&["--profile", "compressed", "--max", "300", "--every", "3s"]).shape().unwrap();
        assert_eq!(
            shape,
            LoadShape { start: 100, step: 100, every: Duration::from_secs(3), max: 300, hold: Duration::from_secs(10) }
        );
        let users: Vec<usize> = shape.steps().iter().map(|s| s.users).collect();
        assert_eq!(users, vec![100, 200, 300]);
        assert_eq!(shape.length(), Duration::from_secs(16));
    }

    #[test]
    fn a_step_past_max_is_clamped() {
        let shape = args(&["--start", "100", "--step", "150", "--max", "300"]).shape().unwrap();
        let users: Vec<usize> = shape.steps().iter().map(|s| s.users).collect();
        assert_eq!(users, vec![100, 250, 300]);
        let flat = args(&["--start", "50", "--max", "50", "--step", "0"]).shape().unwrap();
        assert_eq!(flat.steps().len(), 1);
    }

    #[test]
    fn bad_values_are_refused_by_name() {
        let err = |extra: &[&str]| args(extra).validate().unwrap_err().to_string();
        assert!(err(&["--start", "0"]).contains("--start"));
        assert!(err(&["--start", "500", "--max", "100"]).contains("--max"));
        assert!(err(&["--step", "0"]).contains("--step"));
        assert!(err(&["--room-size", "1"]).contains("--room-size"));
        assert!(err(&["--rate", "0"]).contains("--rate"));
        assert!(err(&["--users", "a@b"]).contains("--users"));
        assert!(args(&["--mark-read", "false"]).validate().is_ok());
        assert!(err(&["--flood", "chatMessage", "--flood-rate", "0"]).contains("--flood-rate"));
    }

    #[test]
    fn flood_events_take_their_wire_names() {
        assert_eq!(args(&[]).flood, None);
        for name in ["chatMessage", "markMessagesAsRead", "messageReaction", "joinRoom", "fetchPreviousMessages"] {
            let a = args(&["--flood", name]);
            assert_eq!(a.flood.map(FloodEvent::name), Some(name));
            assert_eq!(a.flood_rate, 2000.0);
        }
        let argv = ["chatctl", "bench", "--targets", "a:1", "--flood", "chat-message"];
        assert!(Cli::try_parse_from(argv).is_err());
    }

    #[test]
    fn targets_or_a_directory_is_required() {
        assert!(Cli::try_parse_from(["chatctl", "bench"]).is_err());
        assert!(Cli::try_parse_from(["chatctl", "bench", "--data-dir", "/c", "--via-lb"]).is_ok());
        assert!(args(&["--via-lb"]).validate().unwrap_err().to_string().contains("--via-lb"));
        assert!(Cli::try_parse_from(["chatctl", "bench", "--targets", "a:1", "--data-dir", "/c"]).is_err());
        let a = args(&[]);
        assert_eq!(a.resolve_targets().unwrap(), vec!["127.0.0.1:1".to_string()]);
    }
}
