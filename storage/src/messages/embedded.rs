//! [`EmbeddedMessageStore`]: the [`MessageStore`] used when no external database is
//! configured. Writes are message commands committed through the cluster's Raft log
//! and applied by every node's [`SledMessages`]; reads are served by this node's
//! replica.
//!
//! `Cluster::propose` returns once every live node, this one included, applied the
//! entry, so a write acknowledged here is readable on every node that serves reads.
//! Reads wait (bounded) until this node is fresh, as control-plane reads do, so a
//! partitioned node refuses history instead of serving a stale one.

use std::time::Duration;

use async_trait::async_trait;
use chat_raft::command::{Command, Millis, Outcome, Request};
use chat_raft::messages::{MessageCommand, NewMessage, ReadMark, ReadNotice, StoredMessage};
use chat_raft::Cluster;

use super::sled_messages::SledMessages;
use super::store::{HistoryPage, MessagePlace, MessageReactions, MessageStore};
use crate::Error;

/// How long an append waits for this node to apply an entry the leader acknowledged
/// (a follower's own apply can trail the leader's acknowledgement slightly).
const APPLY_WAIT: Duration = Duration::from_secs(2);

/// Messages replicated by the cluster's Raft log into each node's sled store.
#[derive(Clone)]
pub struct EmbeddedMessageStore {
    cluster: Cluster,
    data: SledMessages,
}

impl EmbeddedMessageStore {
    /// `data` must be the applier this node's state machine was opened with
    /// (`StateMachineStore::open_with(dir, Some(Arc::new(data.clone())))`).
    pub fn new(cluster: Cluster, data: SledMessages) -> Self {
        Self { cluster, data }
    }

    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// This node's replica, read without a freshness check.
    pub fn data(&self) -> &SledMessages {
        &self.data
    }

    async fn commit(&self, command: MessageCommand) -> Result<(u64, Outcome), Error> {
        Ok(self.cluster.propose_request(Request::new(Command::Message(command))).await?)
    }

    /// Wait until this node reflects every write acknowledged before the call.
    async fn fresh(&self) -> Result<(), Error> {
        Ok(self.cluster.read(|_| ()).await?)
    }
}

#[async_trait]
impl MessageStore for EmbeddedMessageStore {
    async fn append(&self, message: NewMessage) -> Result<StoredMessage, Error> {
        let id = message.id.clone();
        let (index, outcome) = self.commit(MessageCommand::Append { message: Box::new(message) }).await?;
        let Outcome::MessageAppended { .. } = outcome else { return Err(unexpected("append", &outcome)) };
        if self.cluster.wait_applied(index, APPLY_WAIT).await < index {
            return Err(Error::NotApplied(format!("append {id} committed at {index} is not applied on this node")));
        }
        self.data.get(&id)?.ok_or_else(|| Error::NotApplied(format!("appended message {id} is not stored here")))
    }

    fn applied_everywhere(&self) -> bool {
        true
    }

    async fn get(&self, id: &str) -> Result<Option<StoredMessage>, Error> {
        self.fresh().await?;
        self.data.get(id)
    }

    async fn locate(&self, id: &str) -> Result<Option<MessagePlace>, Error> {
        self.fresh().await?;
        self.data.locate(id)
    }

    async fn history(&self, room: &str, before: Option<Millis>, limit: usize) -> Result<HistoryPage, Error> {
        self.fresh().await?;
        self.data.history(room, before, limit)
    }

    async fn after_seq(&self, room: &str, seq: u64, limit: usize) -> Result<Vec<StoredMessage>, Error> {
        self.fresh().await?;
        self.data.after_seq(room, seq, limit)
    }

    async fn mark_read(&self, marks: &[ReadMark], notices: &[ReadNotice]) -> Result<(), Error> {
        if marks.is_empty() {
            // Nothing can change: not worth a log entry.
            return Ok(());
        }
        match self.commit(MessageCommand::RaiseReadMarks { marks: marks.to_vec(), notices: notices.to_vec() }).await?.1
        {
            Outcome::ReadMarksRaised { .. } => Ok(()),
            other => Err(unexpected("mark_read", &other)),
        }
    }

    async fn read_marks(&self, room: &str) -> Result<Vec<ReadMark>, Error> {
        self.fresh().await?;
        self.data.read_marks(room)
    }

    async fn react(
        &self,
        message_id: &str,
        emoji: &str,
        user_id: &str,
        add: bool,
    ) -> Result<Option<MessageReactions>, Error> {
        let command = MessageCommand::React {
            message_id: message_id.to_owned(),
            emoji: emoji.to_owned(),
            user_id: user_id.to_owned(),
            add,
        };
        match self.commit(command).await?.1 {
            Outcome::Reacted { room, reactions } => Ok(Some(MessageReactions { room, reactions })),
            Outcome::UnknownMessage => Ok(None),
            other => Err(unexpected("react", &other)),
        }
    }

    async fn delete(&self, id: &str, at: Millis) -> Result<Option<StoredMessage>, Error> {
        let command = MessageCommand::Delete { message_id: id.to_owned(), at };
        let (index, outcome) = self.commit(command).await?;
        match outcome {
            Outcome::Tombstoned { .. } => {}
            Outcome::UnknownMessage => return Ok(None),
            other => return Err(unexpected("delete", &other)),
        }
        if self.cluster.wait_applied(index, APPLY_WAIT).await < index {
            return Err(Error::NotApplied(format!("delete {id} committed at {index} is not applied on this node")));
        }
        self.data.get(id)
    }

    async fn count_since(&self, room: &str, since: Millis) -> Result<usize, Error> {
        self.fresh().await?;
        self.data.count_since(room, since)
    }
}

/// An outcome the command cannot have, e.g. `NoMessageStore` from a state machine
/// opened without the message applier (a wiring mistake, not a client error).
fn unexpected(what: &str, outcome: &Outcome) -> Error {
    Error::NotApplied(format!("{what} answered {outcome:?}"))
}
