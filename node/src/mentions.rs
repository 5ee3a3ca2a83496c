//! User mentions (an addition to the protocol, see protocol §6.9): a message containing
//! `@<name>` of a room participant sends that user a `mention` event on every node
//! hosting one of their sockets.
//!
//! Names may contain spaces and are matched exactly (case-sensitive), the longest
//! participant name first, so `@Kim Minsu` is Kim Minsu even when `Kim` is in the room
//! too. A name ending in an ASCII letter or digit does not match inside a longer word
//! (`@Bob` is not in `@Bobby`), while Korean particles may follow (`@철수님`). Each
//! user is notified once per message, and never for mentioning themselves.

use chat_raft::messages::StoredMessage;
use chat_raft::ClusterState;
use serde_json::json;

use crate::fanout::Target;
use crate::Node;

/// A room participant as mentions see them.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Participant {
    id: String,
    name: String,
}

/// Send `mention` to every participant `message` mentions (sent by `sender`).
pub(crate) async fn notify(node: &Node, message: &StoredMessage, sender: &str) {
    if !message.content.contains('@') {
        return;
    }
    let Some((room_name, participants, sender_name)) =
        node.cluster.read_local(|state| room_of(state, &message.room, sender))
    else {
        return;
    };
    let mentioned = mentioned(&message.content, &participants, sender);
    if mentioned.is_empty() {
        return;
    }
    let payload = json!({
        "messageId": message.id,
        "roomId": message.room,
        "roomName": room_name,
        "from": { "id": sender, "name": sender_name },
        "content": message.content,
    });
    for user in mentioned {
        node.fanout.emit(node, Target::User(user), "mention", payload.clone()).await;
    }
}

/// The room's name, its participants, and the sender's name, from one replica read.
fn room_of(state: &ClusterState, room_id: &str, sender: &str) -> Option<(String, Vec<Participant>, String)> {
    let room = state.rooms.get(room_id)?;
    let participants = room
        .participants
        .iter()
        .filter_map(|id| state.users.get(id))
        .map(|u| Participant { id: u.id.clone(), name: u.name.clone() })
        .collect();
    let sender_name = state.users.get(sender).map(|u| u.name.clone()).unwrap_or_default();
    Some((room.name.clone(), participants, sender_name))
}

/// Ids of the participants mentioned in `content`, in order of first mention, each
/// once, without `sender`.
fn mentioned(content: &str, participants: &[Participant], sender: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let mut rest = content;
    while let Some(at) = rest.find('@') {
        rest = &rest[at + 1..];
        let Some(name) = longest_name_at(rest, participants) else {
            continue;
        };
        for p in participants.iter().filter(|p| p.name == name) {
            if p.id != sender && !found.contains(&p.id) {
                found.push(p.id.clone());
            }
        }
        rest = &rest[name.len()..];
    }
    found
}

/// The longest participant name `text` starts with, as a whole name.
fn longest_name_at<'a>(text: &str, participants: &'a [Participant]) -> Option<&'a str> {
    participants
        .iter()
        .map(|p| p.name.as_str())
        .filter(|name| !name.is_empty() && text.starts_with(name) && ends_word(name, &text[name.len()..]))
        .max_by_key(|name| name.len())
}

fn ends_word(name: &str, after: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    !(name.chars().last().is_some_and(word) && after.chars().next().is_some_and(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn people(names: &[(&str, &str)]) -> Vec<Participant> {
        names.iter().map(|(id, name)| Participant { id: (*id).into(), name: (*name).into() }).collect()
    }

    #[test]
    fn longest_name_wins_and_each_user_once() {
        let room = people(&[("k", "Kim"), ("km", "Kim Minsu"), ("b", "Bob"), ("s", "Sender")]);
        assert_eq!(mentioned("@Kim Minsu hi @Kim and @Kim Minsu again", &room, "s"), ["km", "k"]);
        assert_eq!(mentioned("hey @Bob, @Bob!", &room, "s"), ["b"]);
    }

    #[test]
    fn never_the_sender_nor_strangers_nor_partial_words() {
        let room = people(&[("b", "Bob"), ("c", "철수"), ("s", "Sender")]);
        assert!(mentioned("@Sender talking to myself", &room, "s").is_empty());
        assert!(mentioned("@Bobby is not here, @Alice neither", &room, "s").is_empty());
        assert!(mentioned("mail bob@example.com, @bob", &room, "s").is_empty(), "case-sensitive");
        assert_eq!(mentioned("@철수님 안녕하세요", &room, "s"), ["c"], "Korean particles may follow");
        assert_eq!(mentioned("(@Bob)", &room, "s"), ["b"]);
        assert!(mentioned("no mention at all @", &room, "s").is_empty());
    }

    #[test]
    fn users_sharing_a_name_are_all_mentioned() {
        let room = people(&[("b1", "Bob"), ("b2", "Bob")]);
        assert_eq!(mentioned("@Bob", &room, "x"), ["b1", "b2"]);
    }
}
