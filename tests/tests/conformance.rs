//! The wire-protocol conformance suite (`tests/conformance/*.test.mjs`, docs/protocol.md): the
//! real npm `socket.io-client` 4.x and Node's fetch against a real cluster of 3 voters and
//! 1 edge on embedded storage, with users deliberately spread over different nodes. This
//! test starts the cluster and runs the suite (`chat_tests::protocol_suite`). Needs Node
//! 20+ and `npm ci --prefix tests/conformance` (`scripts/test.sh` runs it).

use anyhow::Result;
use chat_tests::protocol_suite;
use chat_tests::TestCluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wire_protocol_conformance_suite_passes_against_a_cluster() -> Result<()> {
    protocol_suite::check_prerequisites()?;
    let banned = protocol_suite::banned_words()?;
    let cluster = TestCluster::start(protocol_suite::spec(&banned, &[])).await?;
    protocol_suite::run(&cluster, &banned).await?;
    drop(cluster);
    Ok(())
}
