//! The backup file format: round trip, and every kind of damage refused.

use std::io::{Cursor, Read, Write};

use super::*;
use crate::backup::header::{BackupCounts, MessageStoreKind};
use crate::backup::BackupFormatError;

fn header() -> BackupHeader {
    BackupHeader {
        format_version: FORMAT_VERSION,
        index: 42,
        term: 3,
        last_log_id: None,
        leader: 1,
        created_at_ms: 1_700_000_000_000,
        message_store: MessageStoreKind::Embedded,
        counts: BackupCounts { users: 2, rooms: 1, memberships: 2, messages: 5, blobs: 2, ..Default::default() },
    }
}

/// A state section larger than one frame, so framing is exercised.
fn state_bytes() -> Vec<u8> {
    (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect()
}

fn blobs() -> Vec<(String, Vec<u8>)> {
    vec![("a1b2.png".into(), vec![9u8; 70_000]), ("profiles/u1.jpg".into(), Vec::new())]
}

fn write_backup() -> Vec<u8> {
    let mut writer = BackupWriter::start(Vec::new(), &header()).unwrap();
    let mut section = writer.state_section();
    for chunk in state_bytes().chunks(10_007) {
        section.write_all(chunk).unwrap();
    }
    section.finish().unwrap();
    for (name, bytes) in blobs() {
        writer.begin_blob(&name, bytes.len() as u64).unwrap();
        writer.blob_bytes(&bytes).unwrap();
    }
    let (out, size) = writer.finish().unwrap();
    assert_eq!(size, out.len() as u64, "the reported size is the file's");
    out
}

/// Everything a restore reads, in order: header, state section, blobs, file size.
type ReadBack = (BackupHeader, Vec<u8>, Vec<(String, Vec<u8>)>, u64);

fn read_backup(bytes: &[u8]) -> Result<ReadBack, BackupFormatError> {
    let (mut reader, header) = BackupReader::open(Cursor::new(bytes))?;
    let mut state = Vec::new();
    reader.state_section().read_to_end(&mut state).map_err(|e| BackupFormatError::reading("the state section")(e))?;
    let mut blobs = Vec::new();
    while let Some((name, size)) = reader.next_blob()? {
        let mut body = Vec::new();
        reader.blob_bytes(size, &mut body)?;
        blobs.push((name, body));
    }
    let size = reader.finish()?;
    Ok((header, state, blobs, size))
}

#[test]
fn what_is_written_reads_back() {
    let bytes = write_backup();
    let (h, state, read_blobs, size) = read_backup(&bytes).unwrap();
    assert_eq!(h, header());
    assert_eq!(state, state_bytes());
    assert_eq!(read_blobs, blobs());
    assert_eq!(size, bytes.len() as u64);
}

#[test]
fn a_flipped_byte_anywhere_is_refused() {
    let bytes = write_backup();
    // Header, state frames, a blob, the blob section's end and the checksum itself.
    for at in [20, 40, 1_000, 150_000, bytes.len() - 60, bytes.len() - 41, bytes.len() - 1] {
        let mut damaged = bytes.clone();
        damaged[at] ^= 0x20;
        let err = read_backup(&damaged).expect_err(&format!("flipped byte {at} accepted"));
        assert!(
            matches!(
                err,
                BackupFormatError::ChecksumMismatch | BackupFormatError::Corrupt(_) | BackupFormatError::Truncated(_)
            ),
            "byte {at}: {err}"
        );
    }
}

#[test]
fn a_flipped_body_byte_is_a_checksum_mismatch() {
    let mut bytes = write_backup();
    bytes[100_000] ^= 1;
    assert!(matches!(read_backup(&bytes), Err(BackupFormatError::ChecksumMismatch)));
}

#[test]
fn a_truncated_file_is_refused_wherever_it_is_cut() {
    let bytes = write_backup();
    for len in [0, 5, 12, 30, 1_000, 100_000, bytes.len() - 41, bytes.len() - 1] {
        let err = read_backup(&bytes[..len]).expect_err(&format!("cut at {len} accepted"));
        let expected = if len < 8 {
            matches!(err, BackupFormatError::NotABackup)
        } else {
            matches!(err, BackupFormatError::Truncated(_))
        };
        assert!(expected, "cut at {len}: {err}");
    }
}

#[test]
fn bytes_after_the_trailer_are_refused() {
    let mut bytes = write_backup();
    bytes.push(0);
    assert!(matches!(read_backup(&bytes), Err(BackupFormatError::Corrupt(_))));
}

#[test]
fn another_version_or_file_is_named_as_such() {
    let mut bytes = write_backup();
    bytes[8..12].copy_from_slice(&2u32.to_be_bytes());
    let err = read_backup(&bytes).unwrap_err();
    assert!(matches!(err, BackupFormatError::UnsupportedVersion { found: 2, supported: 1 }), "{err}");
    assert!(err.to_string().contains("version 2"), "{err}");

    let err = read_backup(b"{\"not\": \"a backup\"}").unwrap_err();
    assert!(matches!(err, BackupFormatError::NotABackup), "{err}");
}

#[test]
fn a_corrupt_header_is_refused_before_the_body() {
    let mut bytes = write_backup();
    // The header JSON starts at byte 16: break its opening brace.
    bytes[16] = b'x';
    let err = read_backup(&bytes).unwrap_err();
    assert!(matches!(err, BackupFormatError::Corrupt(ref m) if m.contains("header")), "{err}");

    let mut bytes = write_backup();
    bytes[12..16].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(read_backup(&bytes), Err(BackupFormatError::Corrupt(_))));
}

#[test]
fn an_oversized_frame_length_is_corruption_not_an_allocation() {
    let bytes = write_backup();
    let header_len = u32::from_be_bytes(bytes[12..16].try_into().unwrap()) as usize;
    let mut damaged = bytes.clone();
    let first_frame = 16 + header_len;
    damaged[first_frame..first_frame + 4].copy_from_slice(&u32::MAX.to_be_bytes());
    let err = read_backup(&damaged).unwrap_err();
    assert!(matches!(err, BackupFormatError::Corrupt(ref m) if m.contains("frame")), "{err}");
}
