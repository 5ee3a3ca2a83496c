//! Public addresses as operators write them (`host:port` or `http://host:port`), turned
//! into the REST base and the Socket.IO websocket URL.

use crate::Error;

/// `http://host:port` (no trailing slash) for `host:port` or `http://host:port[/]`.
pub fn http_base(addr: &str) -> Result<String, Error> {
    let addr = addr.trim().trim_end_matches('/');
    let rest = match addr.split_once("://") {
        None => addr,
        Some(("http", rest)) => rest,
        Some((scheme, _)) => {
            return Err(Error::Usage(format!(
                "{addr}: unsupported scheme {scheme:?}; give host:port or http://host:port (terminate TLS at the load balancer)"
            )))
        }
    };
    if rest.is_empty() || rest.contains('/') {
        return Err(Error::Usage(format!("{addr:?} is not an address like host:port or http://host:port")));
    }
    Ok(format!("http://{rest}"))
}

/// The Engine.IO v4 websocket endpoint of a REST base from [`http_base`].
pub(crate) fn socket_url(base: &str) -> String {
    let host = base.strip_prefix("http://").unwrap_or(base);
    format!("ws://{host}/socket.io/?EIO=4&transport=websocket")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_bare_and_http_addresses() {
        assert_eq!(http_base("127.0.0.1:8080").unwrap(), "http://127.0.0.1:8080");
        assert_eq!(http_base("http://node-1:80/").unwrap(), "http://node-1:80");
        assert_eq!(socket_url("http://node-1:80"), "ws://node-1:80/socket.io/?EIO=4&transport=websocket");
    }

    #[test]
    fn refuses_other_schemes_and_paths() {
        assert!(http_base("https://x:443").is_err());
        assert!(http_base("http://x:80/api").is_err());
        assert!(http_base("").is_err());
    }
}
