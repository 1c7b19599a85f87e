//! How many connections berth holds, per client address and in all. A connection keeps its
//! [`Slot`] for as long as its socket is open, WebSocket upgrades included.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::client::ClientAddr;

/// An address holding fewer connections than this may still use the last tenth of the
/// budget: one busy address never takes the whole of it.
const LIGHT: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// This address holds its share.
    TooManyFromAddress,
    /// berth holds all the connections its open-file limit allows.
    Busy,
}

pub struct Connections {
    per_address: usize,
    total_max: usize,
    counts: Mutex<Counts>,
    refused_total: AtomicU64,
}

#[derive(Default)]
struct Counts {
    total: usize,
    by_client: HashMap<ClientAddr, usize>,
}

/// One open connection; dropping it frees its place.
pub struct Slot {
    table: Arc<Connections>,
    /// None for a trusted proxy, whose connections carry many clients.
    client: Option<ClientAddr>,
}

impl Connections {
    pub fn new(per_address: usize, total_max: usize) -> Arc<Connections> {
        Arc::new(Connections {
            per_address,
            total_max,
            counts: Mutex::default(),
            refused_total: AtomicU64::new(0),
        })
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A place for a new connection from `client`, or why there is none. A trusted proxy's
    /// connections count only in the total.
    pub fn open(self: &Arc<Self>, client: ClientAddr, proxy: bool) -> Result<Slot, Refusal> {
        let mut counts = self.counts();
        let refusal = if counts.total >= self.total_max {
            Some(Refusal::Busy)
        } else if proxy {
            None
        } else {
            let mine = counts.by_client.get(&client).copied().unwrap_or(0);
            let reserve = (self.total_max / 10).max(1);
            let last_slots = counts.total + reserve >= self.total_max;
            (mine >= self.per_address || (last_slots && mine >= LIGHT))
                .then_some(Refusal::TooManyFromAddress)
        };
        if let Some(refusal) = refusal {
            self.refused_total.fetch_add(1, Ordering::Relaxed);
            return Err(refusal);
        }
        counts.total += 1;
        if !proxy {
            *counts.by_client.entry(client).or_default() += 1;
        }
        Ok(Slot {
            table: self.clone(),
            client: (!proxy).then_some(client),
        })
    }

    /// Connections open now.
    pub fn open_now(&self) -> usize {
        self.counts().total
    }

    pub fn refused_total(&self) -> u64 {
        self.refused_total.load(Ordering::Relaxed)
    }

    pub fn per_address(&self) -> usize {
        self.per_address
    }

    pub fn total_max(&self) -> usize {
        self.total_max
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.table.counts();
        counts.total -= 1;
        if let Some(client) = self.client {
            if let Some(count) = counts.by_client.get_mut(&client) {
                *count -= 1;
                if *count == 0 {
                    counts.by_client.remove(&client);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(n: u8) -> ClientAddr {
        ClientAddr::of(std::net::IpAddr::from([192, 0, 2, n]))
    }

    #[test]
    fn one_address_cannot_take_the_last_places() {
        let table = Connections::new(50, 100);
        let mut held = Vec::new();
        for _ in 0..50 {
            held.push(table.open(client(1), false).unwrap());
        }
        assert_eq!(
            table.open(client(1), false).err(),
            Some(Refusal::TooManyFromAddress)
        );
        for _ in 0..40 {
            held.push(table.open(client(2), false).unwrap());
        }
        // 90 of 100 open: the last ten are for addresses that hold only a few.
        assert_eq!(
            table.open(client(2), false).err(),
            Some(Refusal::TooManyFromAddress)
        );
        let light = table.open(client(3), false).unwrap();
        assert_eq!(table.open_now(), 91);
        drop(light);
        held.truncate(10);
        assert_eq!(table.open_now(), 10);
        assert!(table.open(client(1), false).is_ok());
    }

    #[test]
    fn a_trusted_proxy_counts_only_in_the_total() {
        let table = Connections::new(1, 3);
        let _a = table.open(client(9), true).unwrap();
        let _b = table.open(client(9), true).unwrap();
        let _c = table.open(client(9), true).unwrap();
        assert_eq!(table.open(client(9), true).err(), Some(Refusal::Busy));
    }
}
