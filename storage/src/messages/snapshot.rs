//! The embedded store's part of a Raft snapshot: export streams every message from sled
//! to the snapshot file and import loads one back, both record by record, so the
//! store is never held in memory (architecture §3.2: a t3.small has 2 GiB).
//!
//! Stream format: the magic `chatmsg2`, the applied position (12 bytes), then records
//! as a big-endian `u32` length and the stored record bytes, ended by a zero length
//! (so a truncated stream is detected, not taken as a smaller store); then the read
//! watermarks as a `u32` key length, the key and the 16-byte value, ended the same
//! way. `chatmsg1` streams (before watermarks) have no second part. An empty stream
//! (a snapshot built without a message store) imports as an empty store.

use std::io::{ErrorKind, Read, Write};

use super::apply;
use super::layout::{self, LogPos, Record, APPLIED_KEY, READ_MARK};
use super::sled_messages::{read_applied, SledMessages};
use crate::Error;

const MAGIC: &[u8; 8] = b"chatmsg2";
/// The format before read watermarks: records only.
const MAGIC_V1: &[u8; 8] = b"chatmsg1";
/// A watermark key is a room id and a user id: anything near this size is corruption.
const MAX_MARK_KEY: u32 = 64 << 10;
const END: u32 = 0;
/// A record is one message: anything near this size is corruption, not data.
const MAX_RECORD: u32 = 64 << 20;
/// Records per sled batch while importing: bounds memory, amortises the batch cost.
const IMPORT_BATCH: usize = 1000;
/// Present while an import runs; a store opened with it set holds a partial import.
pub(super) const IMPORTING_KEY: &[u8] = b"i";

pub(super) fn export(store: &SledMessages, out: &mut dyn Write) -> Result<(), Error> {
    // Read first, while applies may go on. Messages appended after this position are
    // left out: their appends are replayed after the import, and must then find the
    // room exactly as it was (an earlier message of the room missed by the scan and a
    // later one caught would make the replay hand out a wrong seq). Reads and
    // reactions caught past this position are recognised by the record's `changed`.
    export_at(store, read_applied(store.tree())?, out).map(|_| ())
}

/// Export as if the applied position were `applied` when the scan began; returns the
/// number of messages written.
pub(super) fn export_at(store: &SledMessages, applied: LogPos, out: &mut dyn Write) -> Result<u64, Error> {
    out.write_all(MAGIC)?;
    out.write_all(&applied.to_bytes())?;
    let mut written = 0;
    for item in store.tree().scan_prefix(layout::message_prefix()) {
        let (_, value) = item?;
        if Record::appended_of(&value)? > applied {
            continue;
        }
        write_item(out, &value, MAX_RECORD, "message record")?;
        written += 1;
    }
    out.write_all(&END.to_be_bytes())?;
    // Marks raised after `applied` may be caught too: they merge by maximum, so the
    // replay of their commands after the import changes nothing.
    for item in store.tree().scan_prefix([READ_MARK]) {
        let (key, value) = item?;
        write_item(out, &key, MAX_MARK_KEY, "read watermark key")?;
        out.write_all(&value)?;
    }
    out.write_all(&END.to_be_bytes())?;
    Ok(written)
}

/// The number of messages [`export_at`] writes for `applied`.
pub(super) fn count_at(store: &SledMessages, applied: LogPos) -> Result<u64, Error> {
    let mut count = 0;
    for item in store.tree().scan_prefix(layout::message_prefix()) {
        let (_, value) = item?;
        if Record::appended_of(&value)? <= applied {
            count += 1;
        }
    }
    Ok(count)
}

/// One length-prefixed item of a section; an item longer than `max_len` is corruption.
fn write_item(out: &mut dyn Write, item: &[u8], max_len: u32, what: &str) -> Result<(), Error> {
    let len = u32::try_from(item.len())
        .ok()
        .filter(|len| *len <= max_len)
        .ok_or_else(|| Error::Corrupt(format!("{what} of {} bytes", item.len())))?;
    out.write_all(&len.to_be_bytes())?;
    out.write_all(item)?;
    Ok(())
}

pub(super) fn import(store: &SledMessages, input: &mut dyn Read) -> Result<(), Error> {
    // Holding the progress lock keeps applies out while the store is replaced.
    let mut progress = store.progress();
    let tree = store.tree();
    // Durably mark the import before clearing, so a crash part-way leaves a store that
    // is cleared on open (and claims no applied position) rather than a mix.
    tree.insert(IMPORTING_KEY, &[])?;
    tree.flush()?;
    clear(tree)?;
    let applied = match read_header(input)? {
        Some((applied, with_marks)) => {
            load_records(tree, input)?;
            if with_marks {
                load_marks(tree, input)?;
            }
            applied
        }
        None => LogPos::default(),
    };
    let mut done = sled::Batch::default();
    done.insert(APPLIED_KEY, &applied.to_bytes());
    done.remove(IMPORTING_KEY);
    tree.apply_batch(done)?;
    tree.flush()?;
    progress.restart_at(applied);
    Ok(())
}

/// Remove everything but the import marker.
pub(super) fn clear(tree: &sled::Tree) -> Result<(), Error> {
    for key in tree.iter().keys() {
        let key = key?;
        if key != IMPORTING_KEY {
            tree.remove(key)?;
        }
    }
    Ok(())
}

/// The applied position and whether watermarks follow the records, or `None` for an
/// empty stream.
fn read_header(input: &mut dyn Read) -> Result<Option<(LogPos, bool)>, Error> {
    let mut magic = [0u8; 8];
    let mut filled = 0;
    while filled < magic.len() {
        match input.read(&mut magic[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    if filled == 0 {
        return Ok(None);
    }
    let with_marks = match &magic {
        m if m == MAGIC => true,
        m if m == MAGIC_V1 => false,
        _ => return Err(Error::Corrupt("the message snapshot does not start with its magic".into())),
    };
    let mut pos = [0u8; 12];
    input.read_exact(&mut pos)?;
    Ok(Some((LogPos::from_bytes(&pos)?, with_marks)))
}

fn load_marks(tree: &sled::Tree, input: &mut dyn Read) -> Result<(), Error> {
    load_section(tree, input, MAX_MARK_KEY, "read watermark key", |batch, key, input| {
        if key.first() != Some(&READ_MARK) {
            return Err(Error::Corrupt("a read watermark key without its prefix in the snapshot".into()));
        }
        let mut value = [0u8; 16];
        input.read_exact(&mut value)?;
        batch.insert(key, &value);
        Ok(())
    })
}

fn load_records(tree: &sled::Tree, input: &mut dyn Read) -> Result<(), Error> {
    load_section(tree, input, MAX_RECORD, "message record", |batch, value, _| {
        let message = Record::decode(&value)?.message;
        for (key, value) in apply::index_entries(&message, value) {
            batch.insert(key, value);
        }
        Ok(())
    })
}

/// Read one section of length-prefixed items, ended by a zero length, into `tree` in
/// batches of [`IMPORT_BATCH`]. `add` puts one item (its bytes, then whatever follows
/// it in the stream) into the batch.
fn load_section(
    tree: &sled::Tree,
    input: &mut dyn Read,
    max_len: u32,
    what: &str,
    mut add: impl FnMut(&mut sled::Batch, Vec<u8>, &mut dyn Read) -> Result<(), Error>,
) -> Result<(), Error> {
    let mut batch = sled::Batch::default();
    let mut pending = 0;
    loop {
        let mut len = [0u8; 4];
        input.read_exact(&mut len)?;
        let len = u32::from_be_bytes(len);
        if len == END {
            break;
        }
        if len > max_len {
            return Err(Error::Corrupt(format!("{what} of {len} bytes in the snapshot")));
        }
        let mut item = vec![0u8; len as usize];
        input.read_exact(&mut item)?;
        add(&mut batch, item, input)?;
        pending += 1;
        if pending == IMPORT_BATCH {
            tree.apply_batch(std::mem::take(&mut batch))?;
            pending = 0;
        }
    }
    tree.apply_batch(batch)?;
    Ok(())
}
