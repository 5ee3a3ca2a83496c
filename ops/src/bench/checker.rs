//! Delivery bookkeeping: what each bench message carries (run, sender, per-sender
//! sequence, send time), what each user saw (duplicates and out-of-order deliveries
//! are known at once), and, at the end, which acknowledged messages never reached a
//! member that was in the room and connected from before the send until the end.

use std::collections::HashMap;

/// A bench message's identity, written into its `content`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub run: u64,
    pub sender: u32,
    pub seq: u32,
    /// Microseconds since the run's clock started (one process, one clock).
    pub sent_us: u64,
}

/// Digits in groups of at most three (`1.234.567`), so that no content holds a run of
/// four or more `[a-z0-9]` characters: the server's banned-word filter (words of 4 to
/// 10 such characters, matched as substrings) can never reject a bench message.
pub(super) fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('.');
        }
        out.push(c);
    }
    out
}

fn ungrouped(s: &str) -> Option<u64> {
    let mut n: u64 = 0;
    let mut any = false;
    for c in s.chars() {
        match c {
            '.' => {}
            '0'..='9' => {
                n = n.checked_mul(10)?.checked_add(c as u64 - '0' as u64)?;
                any = true;
            }
            _ => return None,
        }
    }
    any.then_some(n)
}

impl Stamp {
    /// `r-<run> u-<sender> n-<seq> t-<µs>`, every number grouped.
    pub fn content(&self) -> String {
        format!(
            "r-{} u-{} n-{} t-{}",
            grouped(self.run),
            grouped(self.sender as u64),
            grouped(self.seq as u64),
            grouped(self.sent_us)
        )
    }

    /// The stamp in a message's content, if it is a bench message.
    pub fn parse(content: &str) -> Option<Stamp> {
        let mut parts = content.split(' ');
        let mut field = |prefix: &str| parts.next()?.strip_prefix(prefix).and_then(ungrouped);
        let stamp = Stamp {
            run: field("r-")?,
            sender: u32::try_from(field("u-")?).ok()?,
            seq: u32::try_from(field("n-")?).ok()?,
            sent_us: field("t-")?,
        };
        parts.next().is_none().then_some(stamp)
    }
}

/// What one receiver has seen from one sender: a bitset of sequence numbers.
#[derive(Debug, Clone, Default)]
pub struct SeenFrom {
    highest: u32,
    bits: Vec<u64>,
}

/// How a delivery compares with what the receiver saw before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    InOrder,
    /// A later message of the same sender arrived before this one.
    OutOfOrder,
    /// Seen before: not counted again.
    Duplicate,
}

impl SeenFrom {
    pub fn record(&mut self, seq: u32) -> Delivery {
        let (word, bit) = ((seq / 64) as usize, seq % 64);
        if self.bits.len() <= word {
            self.bits.resize(word + 1, 0);
        }
        if self.bits[word] & (1 << bit) != 0 {
            return Delivery::Duplicate;
        }
        self.bits[word] |= 1 << bit;
        if seq < self.highest {
            return Delivery::OutOfOrder;
        }
        self.highest = seq;
        Delivery::InOrder
    }

    pub fn has(&self, seq: u32) -> bool {
        self.bits.get((seq / 64) as usize).is_some_and(|w| w & (1 << (seq % 64)) != 0)
    }
}

/// A message one user sent: when, and whether its own echo came back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    pub sent_us: u64,
    pub acked: bool,
}

/// One user's record at the end of the run, for the loss check.
#[derive(Debug, Clone, Default)]
pub struct UserLedger {
    pub user: u32,
    pub room: u32,
    /// When `joinRoomSuccess` arrived (µs on the run clock); None if it never did.
    pub joined_us: Option<u64>,
    /// Whether the socket stayed connected from the join until the end of the run.
    pub connected_to_end: bool,
    /// Message `seq` (1-based) is `sent[seq - 1]`.
    pub sent: Vec<Sent>,
    pub seen: HashMap<u32, SeenFrom>,
}

/// The outcome of the loss check over every user.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct LossCheck {
    /// Deliveries owed: acknowledged messages times members present for them.
    pub expected: u64,
    pub lost: u64,
    /// Messages that were sent but whose echo never came back to the sender.
    pub unacknowledged: u64,
}

/// Count, for every acknowledged message, the members that should have received it
/// (same room, not the sender, joined before the send, connected until the end) and
/// did not.
pub fn check_losses(users: &[UserLedger]) -> LossCheck {
    let mut rooms: HashMap<u32, Vec<&UserLedger>> = HashMap::new();
    for u in users {
        rooms.entry(u.room).or_default().push(u);
    }
    let mut out = LossCheck::default();
    for members in rooms.values() {
        for sender in members {
            for (i, sent) in sender.sent.iter().enumerate() {
                if !sent.acked {
                    out.unacknowledged += 1;
                    continue;
                }
                let seq = i as u32 + 1;
                for m in members.iter().filter(|m| m.user != sender.user && m.connected_to_end) {
                    if m.joined_us.is_none_or(|joined| joined >= sent.sent_us) {
                        continue;
                    }
                    out.expected += 1;
                    if !m.seen.get(&sender.user).is_some_and(|s| s.has(seq)) {
                        out.lost += 1;
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_round_trip_and_never_hold_four_alphanumerics_in_a_row() {
        let s = Stamp { run: 123_456_789, sender: 2999, seq: 1234, sent_us: 901_234_567 };
        let content = s.content();
        assert_eq!(content, "r-123.456.789 u-2.999 n-1.234 t-901.234.567");
        assert_eq!(Stamp::parse(&content), Some(s));
        let longest_run = content.split(|c: char| !c.is_ascii_alphanumeric()).map(str::len).max().unwrap();
        assert!(longest_run <= 3, "{content}");
        for other in ["hello", "r-1 u-2 n-3", "r-1 u-2 n-3 t-x", "r-1 u-2 n-3 t-4 extra", "김님이 입장하였습니다."]
        {
            assert_eq!(Stamp::parse(other), None, "{other}");
        }
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(1000), "1.000");
    }

    #[test]
    fn duplicates_and_out_of_order_are_told_apart() {
        let mut seen = SeenFrom::default();
        assert_eq!(seen.record(1), Delivery::InOrder);
        assert_eq!(seen.record(3), Delivery::InOrder);
        assert_eq!(seen.record(2), Delivery::OutOfOrder);
        assert_eq!(seen.record(3), Delivery::Duplicate);
        assert_eq!(seen.record(200), Delivery::InOrder);
        assert!(seen.has(200) && seen.has(2) && !seen.has(4));
    }

    fn member(user: u32, joined: u64, to_end: bool, sent: &[(u64, bool)], seen: &[(u32, &[u32])]) -> UserLedger {
        UserLedger {
            user,
            room: 0,
            joined_us: Some(joined),
            connected_to_end: to_end,
            sent: sent.iter().map(|&(sent_us, acked)| Sent { sent_us, acked }).collect(),
            seen: seen
                .iter()
                .map(|(from, seqs)| {
                    let mut s = SeenFrom::default();
                    seqs.iter().for_each(|&q| {
                        s.record(q);
                    });
                    (*from, s)
                })
                .collect(),
        }
    }

    #[test]
    fn a_loss_is_an_acked_message_missing_at_a_member_present_throughout() {
        let users = vec![
            // Sender: three messages at 100, 200, 300; the third never echoed.
            member(1, 10, true, &[(100, true), (200, true), (300, false)], &[]),
            // Got both acknowledged messages.
            member(2, 20, true, &[], &[(1, &[1, 2])]),
            // Missed message 2: a loss.
            member(3, 30, true, &[], &[(1, &[1])]),
            // Joined after message 1 was sent: owed message 2 only, and got it.
            member(4, 150, true, &[], &[(1, &[2])]),
            // Disconnected before the end: owed nothing.
            member(5, 10, false, &[], &[]),
        ];
        let check = check_losses(&users);
        assert_eq!(check, LossCheck { expected: 2 + 2 + 1, lost: 1, unacknowledged: 1 });
    }
}
