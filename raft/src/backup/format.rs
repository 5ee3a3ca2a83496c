//! The backup file layout, written while streaming and verified before use.
//!
//! ```text
//! magic "CHATBKUP" | version u32 | header length u32 | header JSON (BackupHeader)
//! state section:  frames of [u32 length][bytes], ended by a zero length
//!                 (the bytes are a Raft snapshot data stream: control state, messages)
//! blobs section:  per blob [u16 name length][name][u64 size][size bytes],
//!                 ended by a zero name length
//! trailer:        magic "CHATBEND" | sha256 of every byte before the trailer
//! ```
//!
//! All integers are big-endian. The state section is framed because its length is
//! not known until it is written (it is streamed, never held whole); a frame or name
//! longer than any writer produces is reported as corruption before it is allocated.

use std::io::{self, Read, Write};

use sha2::{Digest, Sha256};

use super::error::{BackupFormatError, SectionCorrupt};
use super::header::{BackupHeader, FORMAT_VERSION};

pub const MAGIC: &[u8; 8] = b"CHATBKUP";
pub const TRAILER_MAGIC: &[u8; 8] = b"CHATBEND";
/// A header is a few hundred bytes of JSON.
const MAX_HEADER: u32 = 1 << 20;
/// Frames are written at [`FRAME`] bytes; a reader accepts up to this.
const MAX_FRAME: u32 = 1 << 20;
const FRAME: usize = 64 * 1024;
/// Blob names are server-generated and short.
const MAX_NAME: u16 = 1024;

/// Writes a backup to `out`, hashing every byte; see the module docs for the layout.
pub struct BackupWriter<W: Write> {
    out: W,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> BackupWriter<W> {
    /// Write the magic, the version and `header`.
    pub fn start(out: W, header: &BackupHeader) -> io::Result<Self> {
        let mut writer = Self { out, hasher: Sha256::new(), written: 0 };
        let json = serde_json::to_vec(header)?;
        writer.put(MAGIC)?;
        writer.put(&FORMAT_VERSION.to_be_bytes())?;
        writer.put(&(json.len() as u32).to_be_bytes())?;
        writer.put(&json)?;
        Ok(writer)
    }

    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.hasher.update(bytes);
        self.written += bytes.len() as u64;
        Ok(())
    }

    /// The state section: write the snapshot stream into it, then [`SectionWriter::finish`].
    pub fn state_section(&mut self) -> SectionWriter<'_, W> {
        SectionWriter { backup: self, buf: Vec::with_capacity(FRAME) }
    }

    /// One blob of the blobs section: its name and size, then `size` bytes that the
    /// caller writes with [`BackupWriter::blob_bytes`].
    pub fn begin_blob(&mut self, name: &str, size: u64) -> io::Result<()> {
        let len = u16::try_from(name.len())
            .ok()
            .filter(|len| *len > 0 && *len <= MAX_NAME)
            .ok_or_else(|| io::Error::other(format!("blob name of {} bytes", name.len())))?;
        self.put(&len.to_be_bytes())?;
        self.put(name.as_bytes())?;
        self.put(&size.to_be_bytes())
    }

    pub fn blob_bytes(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.put(bytes)
    }

    /// End the blobs section and write the trailer. Returns the output and the size
    /// of the whole file.
    pub fn finish(mut self) -> io::Result<(W, u64)> {
        self.put(&0u16.to_be_bytes())?;
        let digest = self.hasher.clone().finalize();
        self.out.write_all(TRAILER_MAGIC)?;
        self.out.write_all(&digest)?;
        self.out.flush()?;
        Ok((self.out, self.written + (TRAILER_MAGIC.len() + digest.len()) as u64))
    }
}

/// The state section being written: buffered into frames of [`FRAME`] bytes.
pub struct SectionWriter<'a, W: Write> {
    backup: &'a mut BackupWriter<W>,
    buf: Vec<u8>,
}

impl<W: Write> SectionWriter<'_, W> {
    fn frame(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            let buf = std::mem::take(&mut self.buf);
            self.backup.put(&(buf.len() as u32).to_be_bytes())?;
            self.backup.put(&buf)?;
            self.buf = buf;
            self.buf.clear();
        }
        Ok(())
    }

    /// Write what is buffered and the end of the section.
    pub fn finish(mut self) -> io::Result<()> {
        self.frame()?;
        self.backup.put(&0u32.to_be_bytes())
    }
}

impl<W: Write> Write for SectionWriter<'_, W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let n = bytes.len().min(FRAME - self.buf.len());
        self.buf.extend_from_slice(&bytes[..n]);
        if self.buf.len() == FRAME {
            self.frame()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Reads a backup from `input`, hashing every byte, so that [`BackupReader::finish`]
/// can tell whether what was read is what was written.
pub struct BackupReader<R: Read> {
    input: R,
    hasher: Sha256,
    read: u64,
}

impl<R: Read> BackupReader<R> {
    /// Read and check the magic, the version and the header.
    pub fn open(input: R) -> Result<(Self, BackupHeader), BackupFormatError> {
        let mut reader = Self { input, hasher: Sha256::new(), read: 0 };
        let mut magic = [0u8; 8];
        reader.take(&mut magic).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => BackupFormatError::NotABackup,
            _ => BackupFormatError::Io(e),
        })?;
        if &magic != MAGIC {
            return Err(BackupFormatError::NotABackup);
        }
        let version = reader.u32("the header")?;
        if version != FORMAT_VERSION {
            return Err(BackupFormatError::UnsupportedVersion { found: version, supported: FORMAT_VERSION });
        }
        let len = reader.u32("the header")?;
        if len > MAX_HEADER {
            return Err(BackupFormatError::Corrupt(format!("a header of {len} bytes")));
        }
        let mut json = vec![0u8; len as usize];
        reader.take(&mut json).map_err(BackupFormatError::reading("the header"))?;
        let header: BackupHeader = serde_json::from_slice(&json)
            .map_err(|e| BackupFormatError::Corrupt(format!("the header is not valid: {e}")))?;
        if header.format_version != FORMAT_VERSION {
            return Err(BackupFormatError::Corrupt("the header's version differs from the file's".into()));
        }
        Ok((reader, header))
    }

    fn take(&mut self, buf: &mut [u8]) -> io::Result<()> {
        self.input.read_exact(buf)?;
        self.hasher.update(&*buf);
        self.read += buf.len() as u64;
        Ok(())
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, BackupFormatError> {
        let mut bytes = [0u8; 4];
        self.take(&mut bytes).map_err(BackupFormatError::reading(what))?;
        Ok(u32::from_be_bytes(bytes))
    }

    /// The state section as a stream. Read it to its end (or [`SectionReader::skip`]
    /// the rest) before asking for blobs.
    pub fn state_section(&mut self) -> SectionReader<'_, R> {
        SectionReader { backup: self, left_in_frame: 0, ended: false }
    }

    /// The next blob's name and size, or `None` at the end of the blobs section. Its
    /// bytes must then be read with [`BackupReader::blob_bytes`].
    pub fn next_blob(&mut self) -> Result<Option<(String, u64)>, BackupFormatError> {
        let mut len = [0u8; 2];
        self.take(&mut len).map_err(BackupFormatError::reading("the blobs section"))?;
        let len = u16::from_be_bytes(len);
        if len == 0 {
            return Ok(None);
        }
        if len > MAX_NAME {
            return Err(BackupFormatError::Corrupt(format!("a blob name of {len} bytes")));
        }
        let mut name = vec![0u8; len as usize];
        self.take(&mut name).map_err(BackupFormatError::reading("a blob name"))?;
        let name =
            String::from_utf8(name).map_err(|_| BackupFormatError::Corrupt("a blob name is not UTF-8".into()))?;
        let mut size = [0u8; 8];
        self.take(&mut size).map_err(BackupFormatError::reading("a blob"))?;
        Ok(Some((name, u64::from_be_bytes(size))))
    }

    /// Copy the next `size` bytes (one blob's) to `out`.
    pub fn blob_bytes(&mut self, size: u64, out: &mut impl Write) -> Result<(), BackupFormatError> {
        let mut left = size;
        let mut buf = vec![0u8; FRAME];
        while left > 0 {
            let n = (left as usize).min(FRAME);
            self.take(&mut buf[..n]).map_err(BackupFormatError::reading("a blob"))?;
            out.write_all(&buf[..n])?;
            left -= n as u64;
        }
        Ok(())
    }

    /// Read the trailer and compare its checksum with the bytes read; nothing may
    /// follow it. Returns the size of the whole file.
    pub fn finish(mut self) -> Result<u64, BackupFormatError> {
        let digest = self.hasher.clone().finalize();
        let mut trailer = [0u8; 40];
        self.input.read_exact(&mut trailer).map_err(BackupFormatError::reading("the trailer"))?;
        if &trailer[..8] != TRAILER_MAGIC {
            return Err(BackupFormatError::Corrupt("the trailer is missing or damaged".into()));
        }
        if trailer[8..] != digest[..] {
            return Err(BackupFormatError::ChecksumMismatch);
        }
        let mut extra = [0u8; 1];
        if self.input.read(&mut extra)? != 0 {
            return Err(BackupFormatError::Corrupt("bytes follow the trailer".into()));
        }
        Ok(self.read + trailer.len() as u64)
    }
}

/// The state section being read: the frames' bytes, as one stream that ends (reads
/// 0) at the section's end marker. Truncation and oversized frames are errors.
pub struct SectionReader<'a, R: Read> {
    backup: &'a mut BackupReader<R>,
    left_in_frame: usize,
    ended: bool,
}

impl<R: Read> SectionReader<'_, R> {
    /// Read whatever is left of the section, to its end marker.
    pub fn skip(&mut self) -> Result<u64, BackupFormatError> {
        io::copy(self, &mut io::sink()).map_err(BackupFormatError::reading("the state section"))
    }
}

impl<R: Read> Read for SectionReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.ended || buf.is_empty() {
            return Ok(0);
        }
        if self.left_in_frame == 0 {
            let mut len = [0u8; 4];
            self.backup.take(&mut len)?;
            let len = u32::from_be_bytes(len);
            if len == 0 {
                self.ended = true;
                return Ok(0);
            }
            if len > MAX_FRAME {
                return Err(io::Error::other(SectionCorrupt(format!("a state frame of {len} bytes"))));
            }
            self.left_in_frame = len as usize;
        }
        let n = buf.len().min(self.left_in_frame);
        self.backup.take(&mut buf[..n])?;
        self.left_in_frame -= n;
        Ok(n)
    }
}

#[cfg(test)]
#[path = "format_tests.rs"]
mod tests;
