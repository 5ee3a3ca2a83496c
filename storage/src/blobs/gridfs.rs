//! [`GridFsBlobStore`]: blobs in MongoDB in the GridFS layout (architecture §3.2), the
//! file store of a cluster configured with MongoDB. Every node reads and writes the same
//! collections, so a blob needs no copies between nodes.
//!
//! Layout, in the database named in the URI: `fs_files` (one document per stored
//! revision: `_id`, `filename`, `length`, `chunkSize`, `uploadDate`) and `fs_chunks`
//! (`files_id`, `n`, `data`), GridFS's documents with 255 KiB chunks, written with
//! majority write concern. Not the driver's GridFS bucket, because nx-27017, the
//! MongoDB server of the tests (architecture §7), refuses it: it rejects collection
//! names containing a dot (`fs.files`), returns stored `uploadDate` DateTimes as
//! something the driver cannot read back, and finds nothing by an ObjectId
//! `files_id`. Hence underscores in the collection names, string ids, and
//! `uploadDate` in epoch milliseconds.
//!
//! A put writes the chunks first and the `fs_files` document last, so a reader never
//! sees a prefix (a crash in between leaves unreferenced chunks, never a partial
//! blob), then deletes the older revisions of the name; a reader takes the newest
//! revision, so "putting an existing name replaces it" holds at every moment.

use async_trait::async_trait;
use bytes::Bytes;
use futures::TryStreamExt;
use mongodb::bson::spec::BinarySubtype;
use mongodb::bson::{doc, Binary, Document};
use mongodb::options::{DatabaseOptions, IndexOptions, WriteConcern};
use mongodb::{Client, Collection, Database, IndexModel};
use serde::{Deserialize, Serialize};

use tokio::io::{AsyncRead, AsyncReadExt};

use super::{Blob, BlobError, BlobName, BlobStore, Placement, StagedBlob};
use crate::messages::DEFAULT_DATABASE;

/// Bytes per chunk document (GridFS's default).
const CHUNK: usize = 255 * 1024;

/// Chunks per `insert_many`, keeping each batch well under MongoDB's 48 MB message.
const CHUNKS_PER_INSERT: usize = 32;

/// One revision of a blob: GridFS's files document.
#[derive(Debug, Serialize, Deserialize)]
struct FileDoc {
    #[serde(rename = "_id")]
    id: String,
    filename: String,
    length: i64,
    #[serde(rename = "chunkSize")]
    chunk_size: i64,
    /// Epoch milliseconds (see the module docs for why not a BSON date).
    #[serde(rename = "uploadDate")]
    upload_date: i64,
}

/// Blobs in MongoDB. Cheap to clone: the driver's client is a shared pool.
#[derive(Clone)]
pub struct GridFsBlobStore {
    db: Database,
    files: Collection<FileDoc>,
    chunks: Collection<Document>,
}

impl std::fmt::Debug for GridFsBlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GridFsBlobStore").finish_non_exhaustive()
    }
}

impl GridFsBlobStore {
    /// Open the collections of `uri`'s database (default [`DEFAULT_DATABASE`]) with
    /// majority write concern and create their indexes, which also proves the server
    /// answers (the driver connects lazily).
    pub async fn connect(uri: &str) -> Result<Self, BlobError> {
        let client = Client::with_uri_str(uri).await.map_err(mongo("parse the MongoDB URI"))?;
        let name = client.default_database().map_or_else(|| DEFAULT_DATABASE.to_owned(), |db| db.name().to_owned());
        let options = DatabaseOptions::builder().write_concern(WriteConcern::majority()).build();
        let db = client.database_with_options(&name, options);
        let store = Self { files: db.collection("fs_files"), chunks: db.collection("fs_chunks"), db };
        let named = |name: &str, unique: bool| IndexOptions::builder().name(name.to_owned()).unique(unique).build();
        store
            .files
            .create_index(
                IndexModel::builder()
                    .keys(doc! { "filename": 1, "uploadDate": 1 })
                    .options(named("filename", false))
                    .build(),
            )
            .await
            .map_err(mongo("create the blob indexes"))?;
        store
            .chunks
            .create_index(
                IndexModel::builder().keys(doc! { "files_id": 1, "n": 1 }).options(named("files_id_n", true)).build(),
            )
            .await
            .map_err(mongo("create the blob indexes"))?;
        Ok(store)
    }

    /// Whether the server answers a `ping` now (readiness checks).
    pub async fn ping(&self) -> Result<(), BlobError> {
        self.db.run_command(doc! { "ping": 1 }).await.map_err(mongo("ping MongoDB"))?;
        Ok(())
    }

    /// Every stored revision of `name`, newest first (ties broken by id, so every node
    /// picks the same one).
    async fn revisions(&self, name: &BlobName) -> Result<Vec<FileDoc>, BlobError> {
        let cursor = self
            .files
            .find(doc! { "filename": name.as_str() })
            .sort(doc! { "uploadDate": -1, "_id": -1 })
            .await
            .map_err(mongo("find a blob"))?;
        cursor.try_collect().await.map_err(mongo("find a blob"))
    }

    /// The files document goes first: from then on no reader picks the revision.
    async fn delete_revision(&self, id: &str) -> Result<(), BlobError> {
        self.files.delete_one(doc! { "_id": id }).await.map_err(mongo("delete a blob"))?;
        self.chunks.delete_many(doc! { "files_id": id }).await.map_err(mongo("delete a blob"))?;
        Ok(())
    }

    /// Write the chunk documents of revision `id` from `source`, at most
    /// [`CHUNKS_PER_INSERT`] chunks in memory at a time; returns the length written.
    async fn write_chunks(&self, id: &str, mut source: impl AsyncRead + Unpin) -> Result<u64, BlobError> {
        let mut length = 0u64;
        let mut n = 0i64;
        loop {
            let mut batch = Vec::with_capacity(CHUNKS_PER_INSERT);
            while batch.len() < CHUNKS_PER_INSERT {
                let data = read_chunk(&mut source).await?;
                if data.is_empty() {
                    break;
                }
                length += data.len() as u64;
                let data = Binary { subtype: BinarySubtype::Generic, bytes: data };
                batch.push(doc! { "_id": format!("{id}-{n}"), "files_id": id, "n": n, "data": data });
                n += 1;
            }
            if batch.is_empty() {
                return Ok(length);
            }
            let last = batch.len() < CHUNKS_PER_INSERT;
            self.chunks.insert_many(&batch).await.map_err(mongo("store a blob"))?;
            if last {
                return Ok(length);
            }
        }
    }

    /// Store the bytes of `source` as the newest revision of `name` (chunks first, the
    /// files document last), then remove the older revisions.
    async fn put_from(&self, name: &BlobName, source: impl AsyncRead + Unpin) -> Result<Placement, BlobError> {
        let id = format!("{:016x}{:016x}", rand::random::<u64>(), rand::random::<u64>());
        let length = match self.write_chunks(&id, source).await {
            Ok(length) => length,
            Err(e) => {
                let _ = self.chunks.delete_many(doc! { "files_id": &id }).await;
                return Err(e);
            }
        };
        let file = FileDoc {
            id: id.clone(),
            filename: name.as_str().to_owned(),
            length: length as i64,
            chunk_size: CHUNK as i64,
            upload_date: now_ms(),
        };
        if let Err(e) = self.files.insert_one(&file).await {
            let _ = self.chunks.delete_many(doc! { "files_id": &id }).await;
            return Err(mongo("store a blob")(e));
        }
        for old in self.revisions(name).await? {
            if old.id != id {
                self.delete_revision(&old.id).await?;
            }
        }
        Ok(Placement::default())
    }
}

/// Up to [`CHUNK`] bytes of `source` (fewer only at its end; empty once it ended).
async fn read_chunk(source: &mut (impl AsyncRead + Unpin)) -> Result<Vec<u8>, BlobError> {
    let mut data = Vec::with_capacity(CHUNK);
    while data.len() < CHUNK {
        let read = (&mut *source).take((CHUNK - data.len()) as u64).read_to_end(&mut data).await?;
        if read == 0 {
            break;
        }
    }
    Ok(data)
}

#[async_trait]
impl BlobStore for GridFsBlobStore {
    async fn put(&self, name: &BlobName, bytes: Bytes) -> Result<Placement, BlobError> {
        self.put_from(name, &bytes[..]).await
    }

    /// Read from the staged file in batches of chunks, never the whole blob at once.
    async fn put_staged(&self, name: &BlobName, mut staged: StagedBlob) -> Result<Placement, BlobError> {
        staged.finish().await?;
        let file = tokio::fs::File::open(staged.path()).await?;
        self.put_from(name, tokio::io::BufReader::new(file)).await
    }

    async fn get(&self, name: &BlobName) -> Result<Option<Blob>, BlobError> {
        let Some(newest) = self.revisions(name).await?.into_iter().next() else { return Ok(None) };
        let size = u64::try_from(newest.length).unwrap_or(0);
        let cursor = self
            .chunks
            .find(doc! { "files_id": &newest.id })
            .sort(doc! { "n": 1 })
            .await
            .map_err(mongo("read a blob"))?;
        // Chunks in order; a revision replaced or deleted while it streams ends short,
        // which is reported rather than passed off as the whole blob.
        let body = futures::stream::try_unfold((cursor, 0u64), move |(mut cursor, sent)| async move {
            let next =
                cursor.try_next().await.map_err(|e| std::io::Error::other(format!("mongodb: read a blob: {e}")))?;
            match next {
                Some(chunk) => {
                    let data = chunk.get_binary_generic("data").map_err(std::io::Error::other)?;
                    let bytes = Bytes::copy_from_slice(data);
                    Ok(Some((bytes.clone(), (cursor, sent + bytes.len() as u64))))
                }
                None if sent == size => Ok(None),
                None => Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("blob ended after {sent} of {size} bytes (replaced or deleted meanwhile)"),
                )),
            }
        });
        Ok(Some(Blob { size, body: Box::pin(body) }))
    }

    async fn delete(&self, name: &BlobName) -> Result<bool, BlobError> {
        let revisions = self.revisions(name).await?;
        let found = !revisions.is_empty();
        for revision in revisions {
            self.delete_revision(&revision.id).await?;
        }
        Ok(found)
    }

    async fn exists(&self, name: &BlobName) -> Result<bool, BlobError> {
        let found = self.files.find_one(doc! { "filename": name.as_str() }).await.map_err(mongo("find a blob"))?;
        Ok(found.is_some())
    }
}

/// A driver error as the blob store's: the store cannot be used right now.
fn mongo(doing: &'static str) -> impl Fn(mongodb::error::Error) -> BlobError {
    move |e| BlobError::Io(std::io::Error::other(format!("mongodb: {doing}: {e}")))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
