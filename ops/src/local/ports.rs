//! Loopback addresses for local nodes: ports the kernel reports free, or a fixed
//! scheme from `--base-port`.

use std::net::TcpListener;

use chat_raft::{NodeAddr, NodeId};

use crate::Error;

/// Offset between a node's public and cluster port with `--base-port` (5001 and
/// 7001, like chat-node's defaults).
pub const CLUSTER_PORT_OFFSET: u16 = 2000;

/// `count` addresses on 127.0.0.1 whose ports were free a moment ago. All of them are
/// bound at once, so they are distinct; another process may still take one before
/// the node binds it, which the node then reports in its log.
pub fn free_addrs(count: usize) -> Result<Vec<String>, Error> {
    let listeners = (0..count)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| Error::Process { what: "finding a free port on 127.0.0.1".into(), source })?;
    listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.to_string()))
        .collect::<Result<_, _>>()
        .map_err(|source| Error::Process { what: "reading back a free port".into(), source })
}

/// Free addresses for one node.
pub fn free_node_addr() -> Result<NodeAddr, Error> {
    let mut addrs = free_addrs(2)?.into_iter();
    let public = addrs.next().expect("two addresses");
    let cluster = addrs.next().expect("two addresses");
    Ok(NodeAddr { public, cluster })
}

/// Node `id`'s addresses from `base`: public `base + id - 1`, cluster that plus
/// [`CLUSTER_PORT_OFFSET`].
pub fn base_node_addr(base: u16, id: NodeId) -> Result<NodeAddr, Error> {
    let port = |offset: u64| {
        u16::try_from(u64::from(base) + offset + id - 1)
            .map_err(|_| Error::Usage(format!("--base-port {base} leaves no port for node {id} (ports end at 65535)")))
    };
    Ok(NodeAddr {
        public: format!("127.0.0.1:{}", port(0)?),
        cluster: format!("127.0.0.1:{}", port(CLUSTER_PORT_OFFSET.into())?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_addrs_are_distinct_loopback_ports() {
        let addrs = free_addrs(6).unwrap();
        let unique: std::collections::BTreeSet<_> = addrs.iter().collect();
        assert_eq!(unique.len(), 6);
        assert!(addrs.iter().all(|a| a.starts_with("127.0.0.1:") && !a.ends_with(":0")));
    }

    #[test]
    fn base_port_scheme() {
        assert_eq!(
            base_node_addr(5001, 1).unwrap(),
            NodeAddr { public: "127.0.0.1:5001".into(), cluster: "127.0.0.1:7001".into() }
        );
        assert_eq!(base_node_addr(5001, 3).unwrap().cluster, "127.0.0.1:7003");
        assert!(matches!(base_node_addr(65000, 1), Err(Error::Usage(_))));
    }
}
