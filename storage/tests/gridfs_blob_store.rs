//! [`GridFsBlobStore`] against a real MongoDB wire-protocol server (nx-27017 from the
//! workspace's `.venv`, or `CHAT_TEST_MONGODB_URI`; see `support/mongo.rs`): the
//! [`BlobStore`] conformance suite, and two nodes (two client pools) sharing a bucket.

use anyhow::Result;
use chat_storage::blobs::{conformance, read_all};
use chat_storage::messages::conformance::random_id;
use chat_storage::{BlobStore, GridFsBlobStore};
use chat_tests::mongo::TestMongo;

fn database() -> String {
    format!("chat_blobs_{}", random_id())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gridfs_store_passes_the_conformance_suite() -> Result<()> {
    let Some(mongo) = TestMongo::start("gridfs_store_passes_the_conformance_suite")? else { return Ok(()) };
    let store = GridFsBlobStore::connect(&mongo.uri(&database())).await?;
    conformance::run_all(&store).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blob_put_on_one_node_is_read_and_deleted_on_another() -> Result<()> {
    let Some(mongo) = TestMongo::start("a_blob_put_on_one_node_is_read_and_deleted_on_another")? else { return Ok(()) };
    let uri = mongo.uri(&database());
    let (a, b) = (GridFsBlobStore::connect(&uri).await?, GridFsBlobStore::connect(&uri).await?);
    let name = conformance::fresh_name("png");
    let bytes = conformance::pattern(300_000, 8);
    a.put(&name, bytes.clone()).await?;
    let back = read_all(b.get(&name).await?.expect("stored through the other node")).await?;
    assert!(back == bytes[..]);
    assert!(b.delete(&name).await?);
    assert!(!a.exists(&name).await?);
    Ok(())
}

#[tokio::test]
async fn an_unreachable_server_fails_to_connect() -> Result<()> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let uri = format!("mongodb://127.0.0.1:{port}/x?serverSelectionTimeoutMS=300");
    assert!(GridFsBlobStore::connect(&uri).await.is_err());
    Ok(())
}

/// A staged upload is stored from its file in batches of chunks (9 MiB: more than one
/// `insert_many`), read back whole, and its staged file is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_staged_blob_is_stored_from_its_file() -> Result<()> {
    let Some(mongo) = TestMongo::start("a_staged_blob_is_stored_from_its_file")? else { return Ok(()) };
    let store = GridFsBlobStore::connect(&mongo.uri(&database())).await?;
    let dir = tempfile::tempdir()?;
    let staging = chat_storage::DirBlobStore::open(dir.path())?;
    let name = conformance::fresh_name("mp4");
    let bytes = conformance::pattern(9 * 1024 * 1024 + 17, 4);
    let mut staged = staging.stage().await?;
    for chunk in bytes.chunks(100_000) {
        staged.write(chunk).await?;
    }
    store.put_staged(&name, staged).await?;
    let blob = store.get(&name).await?.expect("stored");
    assert_eq!(blob.size, bytes.len() as u64);
    assert!(read_all(blob).await? == bytes, "the stored bytes differ");
    let left: Vec<_> = std::fs::read_dir(dir.path())?.flatten().map(|e| e.file_name()).collect();
    assert_eq!(left, vec![std::ffi::OsString::from("profiles")], "the staged file stays");
    Ok(())
}
