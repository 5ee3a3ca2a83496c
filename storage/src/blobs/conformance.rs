//! The conformance suite of [`BlobStore`]: what every implementation (a directory, the
//! embedded replicated store, GridFS) must do, as checks over a live store. A failed
//! check panics with what it expected; a store error is returned.
//!
//! Every check uses fresh generated names, so all of them can share one store.

use bytes::Bytes;
use futures::future::try_join_all;

use super::{read_all, BlobError, BlobName, BlobStore};

/// Run every check, in order.
pub async fn run_all(store: &dyn BlobStore) -> Result<(), BlobError> {
    put_then_get_returns_the_same_bytes(store).await?;
    missing_names_read_as_absent(store).await?;
    put_replaces_an_existing_blob(store).await?;
    delete_is_idempotent(store).await?;
    profile_images_are_a_separate_namespace(store).await?;
    large_blobs_stream_back_whole(store).await?;
    empty_blobs_round_trip(store).await?;
    concurrent_puts_keep_every_blob(store).await?;
    Ok(())
}

/// A fresh chat-upload name with this extension.
pub fn fresh_name(ext: &str) -> BlobName {
    BlobName::generate(false, 1_731_900_000_000 + rand::random::<u32>() as u64, Some(ext)).expect("valid ext")
}

/// `len` bytes of a pattern that differs per `seed` (so mixed-up blobs are noticed).
pub fn pattern(len: usize, seed: u8) -> Bytes {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect::<Vec<u8>>().into()
}

async fn read(store: &dyn BlobStore, name: &BlobName) -> Result<Option<Vec<u8>>, BlobError> {
    match store.get(name).await? {
        Some(blob) => {
            let size = blob.size;
            let bytes = read_all(blob).await?;
            assert_eq!(size, bytes.len() as u64, "{name}: the announced size must match the bytes");
            Ok(Some(bytes))
        }
        None => Ok(None),
    }
}

pub async fn put_then_get_returns_the_same_bytes(store: &dyn BlobStore) -> Result<(), BlobError> {
    let name = fresh_name("jpg");
    let bytes = pattern(10_000, 1);
    store.put(&name, bytes.clone()).await?;
    assert!(store.exists(&name).await?, "{name} must exist after put");
    assert_eq!(read(store, &name).await?.as_deref(), Some(&bytes[..]), "{name}: bytes differ");
    Ok(())
}

pub async fn missing_names_read_as_absent(store: &dyn BlobStore) -> Result<(), BlobError> {
    let name = fresh_name("png");
    assert!(store.get(&name).await?.is_none(), "a name never put must read as absent");
    assert!(!store.exists(&name).await?);
    assert!(!store.delete(&name).await?, "deleting a missing blob deletes nothing");
    Ok(())
}

pub async fn put_replaces_an_existing_blob(store: &dyn BlobStore) -> Result<(), BlobError> {
    let name = fresh_name("pdf");
    store.put(&name, pattern(5_000, 2)).await?;
    let second = pattern(3_000, 3);
    store.put(&name, second.clone()).await?;
    assert_eq!(read(store, &name).await?.as_deref(), Some(&second[..]), "the second put must win");
    Ok(())
}

pub async fn delete_is_idempotent(store: &dyn BlobStore) -> Result<(), BlobError> {
    let name = fresh_name("mp3");
    store.put(&name, pattern(100, 4)).await?;
    assert!(store.delete(&name).await?, "the first delete deletes");
    assert!(store.get(&name).await?.is_none(), "a deleted blob reads as absent");
    assert!(!store.exists(&name).await?);
    assert!(!store.delete(&name).await?, "the second delete deletes nothing");
    Ok(())
}

pub async fn profile_images_are_a_separate_namespace(store: &dyn BlobStore) -> Result<(), BlobError> {
    let plain = fresh_name("png");
    let profile = BlobName::parse(&format!("profiles/{plain}")).expect("profile name");
    store.put(&profile, pattern(700, 5)).await?;
    assert!(store.get(&plain).await?.is_none(), "a profile image is not readable under the plain name");
    store.put(&plain, pattern(800, 6)).await?;
    assert_eq!(read(store, &profile).await?.map(|b| b.len()), Some(700));
    assert!(store.delete(&profile).await?);
    assert_eq!(read(store, &plain).await?.map(|b| b.len()), Some(800), "deleting one leaves the other");
    Ok(())
}

pub async fn large_blobs_stream_back_whole(store: &dyn BlobStore) -> Result<(), BlobError> {
    let name = fresh_name("mp4");
    let bytes = pattern(12 * 1024 * 1024 + 17, 7);
    store.put(&name, bytes.clone()).await?;
    let blob = store.get(&name).await?.expect("just stored");
    assert_eq!(blob.size, bytes.len() as u64);
    let back = read_all(blob).await?;
    assert!(back == bytes[..], "a 12 MiB blob must come back byte for byte");
    Ok(())
}

pub async fn empty_blobs_round_trip(store: &dyn BlobStore) -> Result<(), BlobError> {
    let name = fresh_name("txt");
    store.put(&name, Bytes::new()).await?;
    assert_eq!(read(store, &name).await?, Some(Vec::new()));
    Ok(())
}

pub async fn concurrent_puts_keep_every_blob(store: &dyn BlobStore) -> Result<(), BlobError> {
    let names: Vec<BlobName> = (0..16).map(|_| fresh_name("webp")).collect();
    try_join_all(names.iter().enumerate().map(|(i, n)| store.put(n, pattern(20_000 + i, i as u8)))).await?;
    for (i, name) in names.iter().enumerate() {
        let back = read(store, name).await?.expect("stored concurrently");
        assert!(back == pattern(20_000 + i, i as u8)[..], "{name}: bytes of another blob");
    }
    Ok(())
}
