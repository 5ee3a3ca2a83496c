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
