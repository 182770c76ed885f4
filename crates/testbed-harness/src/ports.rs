//! Free loopback ports, claimed against every other test and testbed on this machine.
//!
//! A port is free when picked but bound only later (by etcd, an API server, an exporter); a test
//! running in parallel, or `testbed up`, could pick the same one in between. Each port is claimed
//! by an atomic mkdir in the directory testbed/testbed's own `free_ports` uses, so the two never
//! hand out the same port; claims older than 10 minutes (long since bound) are dropped.

use std::net::TcpListener;
use std::path::PathBuf;
use std::time::Duration;

/// How long a claim keeps a port from being handed out again.
const CLAIM_LIFETIME: Duration = Duration::from_secs(600);

/// The claims directory (the same as testbed/testbed's: `$TMPDIR/kubecert-testbed-ports`).
fn claims() -> PathBuf {
    std::env::temp_dir().join("kubecert-testbed-ports")
}

/// `n` distinct free TCP ports on 127.0.0.1, each claimed for this caller.
pub fn free_ports(n: usize) -> Vec<u16> {
    let dir = claims();
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let stale = e.metadata().and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok()).is_some_and(|age| age > CLAIM_LIFETIME);
        if stale {
            let _ = std::fs::remove_dir(e.path());
        }
    }
    let (mut held, mut ports) = (Vec::new(), Vec::new());
    while ports.len() < n {
        // Held until the end, so that the kernel hands out distinct ports.
        let socket = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = socket.local_addr().expect("a bound socket's address").port();
        held.push(socket);
        match std::fs::create_dir(dir.join(port.to_string())) {
            Ok(()) => ports.push(port),
            // Another test or testbed picked it and may not have bound it yet.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => panic!("claim port {port} in {}: {e}", dir.display()),
        }
    }
    ports
}

/// One free loopback port, claimed ([`free_ports`]).
pub fn free_port() -> u16 {
    free_ports(1)[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claimed_port_is_not_handed_out_again() {
        let first = free_ports(3);
        let again = free_ports(50);
        assert!(first.iter().all(|p| !again.contains(p)), "{first:?} handed out again: {again:?}");
        for p in &first {
            assert!(claims().join(p.to_string()).is_dir(), "port {p} is not claimed");
        }
    }
}
