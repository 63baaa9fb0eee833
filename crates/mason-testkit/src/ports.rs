//! Free TCP ports for servers that a test starts as another process.
//!
//! A port found by binding `127.0.0.1:0` is free when probed, but the kernel hands out
//! the same range (the ephemeral ports, `net.ipv4.ip_local_port_range`, 32768–60999 by
//! default) to every outgoing connection and every other `bind(0)`. On a busy test run
//! another socket can take the port before the child binds it, and the child exits with
//! "address already in use" (seen as chromedriver's "exited at start: exit status: 1").
//! [`free_port`] picks below the ephemeral range instead, at random, and checks that the
//! port is free on 127.0.0.1 and on ::1: only another explicit pick of the same number can
//! take it before the child does.

use std::net::{Ipv4Addr, Ipv6Addr, TcpListener};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The lowest port picked (well above the well-known and registered services tests
/// might meet).
const LOWEST: u16 = 10_000;

/// A TCP port that nothing listens on (on 127.0.0.1 or ::1) and that the kernel does not
/// give to outgoing connections. Falls back to the kernel's pick (`127.0.0.1:0`) when the
/// ephemeral range starts too low to leave room below it.
pub fn free_port() -> u16 {
    static PICKS: AtomicU64 = AtomicU64::new(0);
    let top = ephemeral_start();
    if top < LOWEST + 1_000 {
        return kernel_pick();
    }
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let seed = nanos ^ (u64::from(std::process::id()) << 32);
    for _ in 0..1_000 {
        let n = PICKS.fetch_add(1, Ordering::Relaxed);
        let spread = u64::from(top - LOWEST);
        let port = LOWEST + (mix(seed.wrapping_add(n)) % spread) as u16;
        if is_free(port) {
            return port;
        }
    }
    kernel_pick()
}

/// Whether nothing listens on `port` on 127.0.0.1, nor on ::1 where the host has IPv6.
fn is_free(port: u16) -> bool {
    if TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_err() {
        return false;
    }
    match TcpListener::bind((Ipv6Addr::LOCALHOST, port)) {
        Ok(_) => true,
        Err(e) => e.kind() == std::io::ErrorKind::AddrNotAvailable,
    }
}

/// The first port of the kernel's ephemeral range (32768 when unknown).
fn ephemeral_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}

fn kernel_pick() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    listener.local_addr().expect("an address").port()
}

/// SplitMix64: spreads consecutive seeds over the whole range.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_free_ports_below_the_ephemeral_range() {
        let top = ephemeral_start();
        for _ in 0..50 {
            let port = free_port();
            if top >= LOWEST + 1_000 {
                assert!((LOWEST..top).contains(&port), "{port} not below {top}");
            }
            let _taken = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).expect("free");
            assert!(!is_free(port), "{port} is taken now");
        }
    }
}
