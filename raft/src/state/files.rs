//! File metadata: chat uploads and profile images (protocol §5).
//!
//! Why here and not in a store of its own: a record is small (a few hundred bytes), it
//! must be visible on every node the moment an upload is acknowledged (any node serves
//! any file), and the access rule of a download ("participant of a room where a message
//! references the file") joins it with the rooms, which live in this state too. The
//! bytes themselves never pass through Raft: they live in each holder's blob store
//! (chat-storage `blobs`), and `holders` says which nodes have a copy.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::command::{Millis, Outcome};
use crate::types::NodeId;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    /// 24 lowercase hex characters.
    pub id: String,
    /// The stored name: `<ms>_<16hex>.<ext>`, or `profiles/<ms>_<16hex>.<ext>` for a
    /// profile image. Unique across the cluster.
    pub filename: String,
    /// The client's file name, `/` and `\` removed, NFC-normalised.
    pub originalname: String,
    pub mimetype: String,
    pub size: u64,
    /// Uploader's user id.
    pub user: String,
    pub upload_date: Millis,
    /// Nodes that stored the bytes before the upload was acknowledged.
    pub holders: Vec<NodeId>,
    /// Rooms with a message that references the file, in the order they were attached.
    #[serde(default)]
    pub rooms: Vec<String>,
}

impl FileRecord {
    pub fn is_profile_image(&self) -> bool {
        self.filename.starts_with("profiles/")
    }

    /// A chat upload that no message references and that was uploaded before
    /// `uploaded_before`: abandoned, so `ExpireFile` may remove it. (Once attached, a
    /// file stays attached: rooms are never taken off a record.)
    pub fn is_unattached_before(&self, uploaded_before: Millis) -> bool {
        self.rooms.is_empty() && !self.is_profile_image() && self.upload_date < uploaded_before
    }
}

/// Files by id, with a stored-name index and each uploader's stored bytes, both
/// rebuilt on deserialization.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "Vec<FileRecord>", into = "Vec<FileRecord>")]
pub struct Files {
    by_id: BTreeMap<String, FileRecord>,
    by_name: BTreeMap<String, String>,
    /// Bytes of every recorded file (chat uploads and profile images) by uploader: what
    /// a per-user upload quota is measured against, the same on every replica.
    used: BTreeMap<String, u64>,
}

impl Files {
    pub fn get(&self, id: &str) -> Option<&FileRecord> {
        self.by_id.get(id)
    }

    /// The record of a stored name (`profiles/...` for profile images).
    pub fn by_filename(&self, filename: &str) -> Option<&FileRecord> {
        self.by_name.get(filename).and_then(|id| self.by_id.get(id))
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Bytes of the files `user` uploaded that are still recorded.
    pub fn used_by(&self, user: &str) -> u64 {
        self.used.get(user).copied().unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &FileRecord> {
        self.by_id.values()
    }

    /// Record `holders` as the nodes holding every file (a restore copies each
    /// file's bytes to every node of the new cluster).
    pub(super) fn held_by_all(&mut self, holders: &[NodeId]) {
        for file in self.by_id.values_mut() {
            file.holders = holders.to_vec();
        }
    }

    /// A retried upload (same id and name) is answered by dedup before reaching here;
    /// any other clash of id or name is a conflict. With a `quota`, a file that would
    /// take its uploader's recorded bytes over it is refused: decided here, in the
    /// replicated apply, so two uploads racing for the last free bytes cannot both fit.
    pub(super) fn record(&mut self, file: FileRecord, quota: Option<u64>) -> Outcome {
        if self.by_id.contains_key(&file.id) || self.by_name.contains_key(&file.filename) {
            return Outcome::FileExists;
        }
        let used = self.used_by(&file.user);
        if quota.is_some_and(|quota| used.saturating_add(file.size) > quota) {
            return Outcome::UploadQuotaExceeded { used };
        }
        self.insert(file);
        Outcome::FileRecorded
    }

    fn insert(&mut self, file: FileRecord) {
        *self.used.entry(file.user.clone()).or_default() += file.size;
        self.by_name.insert(file.filename.clone(), file.id.clone());
        self.by_id.insert(file.id.clone(), file);
    }

    fn remove(&mut self, file_id: &str) -> Option<FileRecord> {
        let file = self.by_id.remove(file_id)?;
        self.by_name.remove(&file.filename);
        if let Some(used) = self.used.get_mut(&file.user) {
            *used = used.saturating_sub(file.size);
            if *used == 0 {
                self.used.remove(&file.user);
            }
        }
        Some(file)
    }

    pub(super) fn attach(&mut self, file_id: &str, room_id: &str) -> Outcome {
        let Some(file) = self.by_id.get_mut(file_id) else {
            return Outcome::UnknownFile;
        };
        let added = !file.rooms.iter().any(|r| r == room_id);
        if added {
            file.rooms.push(room_id.to_owned());
        }
        Outcome::FileAttached { added }
    }

    /// Only the uploader may delete; the outcome names the nodes whose copies the
    /// proposer should now remove.
    pub(super) fn delete(&mut self, file_id: &str, user_id: &str) -> Outcome {
        match self.by_id.get(file_id) {
            None => return Outcome::UnknownFile,
            Some(file) if file.user != user_id => return Outcome::NotFileOwner,
            Some(_) => {}
        }
        let file = self.remove(file_id).expect("checked above");
        Outcome::FileDeleted { filename: file.filename, holders: file.holders }
    }
}

impl Files {
    /// Remove `file_id` if it is still an unattached upload from before
    /// `uploaded_before`; an attached, recent or profile file is left alone.
    pub(super) fn expire(&mut self, file_id: &str, uploaded_before: Millis) -> Outcome {
        match self.by_id.get(file_id) {
            None => Outcome::UnknownFile,
            Some(file) if !file.is_unattached_before(uploaded_before) => Outcome::Unchanged,
            Some(_) => {
                let file = self.remove(file_id).expect("checked above");
                Outcome::FileDeleted { filename: file.filename, holders: file.holders }
            }
        }
    }
}

impl From<Vec<FileRecord>> for Files {
    fn from(files: Vec<FileRecord>) -> Self {
        let mut all = Files::default();
        for file in files {
            all.insert(file);
        }
        all
    }
}

impl From<Files> for Vec<FileRecord> {
    fn from(files: Files) -> Self {
        files.by_id.into_values().collect()
    }
}
