//! Addresses for learners' networks: small subnets (a /28 holds a workstation and a dozen
//! containers) from a range berth is configured with, instead of a /16 or /24 each from the
//! engine's pools, so thousands of learners fit. The engine stays the judge of what is free:
//! a subnet it says overlaps is skipped.

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::sync::Mutex;

/// Each network's subnet: 16 addresses, 13 of them for containers.
pub const SUBNET_PREFIX: u8 = 28;

#[derive(Debug)]
pub struct AddressPool {
    base: u32,
    blocks: u32,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    cursor: u32,
    taken: HashSet<u32>,
}

impl AddressPool {
    /// `10.240.0.0/12` → a pool of /28 subnets.
    pub fn new(cidr: &str) -> Result<AddressPool, String> {
        let (address, length) = cidr
            .split_once('/')
            .ok_or_else(|| format!("{cidr:?} is not an IPv4 range like 10.240.0.0/12"))?;
        let address: Ipv4Addr = address
            .parse()
            .map_err(|_| format!("{cidr:?} is not an IPv4 range like 10.240.0.0/12"))?;
        let length: u8 = length
            .parse()
            .ok()
            .filter(|l| *l <= SUBNET_PREFIX)
            .ok_or_else(|| format!("{cidr:?}: the range must be /{SUBNET_PREFIX} or larger"))?;
        let mask = if length == 0 {
            0
        } else {
            u32::MAX << (32 - length)
        };
        let base = u32::from(address) & mask;
        Ok(AddressPool {
            base,
            blocks: 1 << (SUBNET_PREFIX - length),
            state: Mutex::new(State::default()),
        })
    }

    /// How many subnets the range holds.
    pub fn capacity(&self) -> u32 {
        self.blocks
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn subnet(&self, block: u32) -> String {
        let address = Ipv4Addr::from(self.base + (block << (32 - SUBNET_PREFIX)));
        format!("{address}/{SUBNET_PREFIX}")
    }

    fn block_of(&self, subnet: &str) -> Option<u32> {
        let (address, length) = subnet.split_once('/')?;
        if length.parse::<u8>().ok()? != SUBNET_PREFIX {
            return None;
        }
        let address = u32::from(address.parse::<Ipv4Addr>().ok()?);
        let offset = address.checked_sub(self.base)? >> (32 - SUBNET_PREFIX);
        (offset < self.blocks).then_some(offset)
    }

    /// The next subnet to try, or `None` when every one is taken.
    pub fn next(&self) -> Option<String> {
        let mut state = self.state();
        if state.taken.len() as u32 >= self.blocks {
            return None;
        }
        for _ in 0..self.blocks {
            let block = state.cursor;
            state.cursor = (state.cursor + 1) % self.blocks;
            if state.taken.insert(block) {
                return Some(self.subnet(block));
            }
        }
        None
    }

    /// A subnet the engine said is in use (by berth or anyone else).
    pub fn taken(&self, subnet: &str) {
        if let Some(block) = self.block_of(subnet) {
            self.state().taken.insert(block);
        }
    }

    /// A subnet free again (its network was removed).
    pub fn release(&self, subnet: &str) {
        if let Some(block) = self.block_of(subnet) {
            self.state().taken.remove(&block);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_are_handed_out_once_until_released() {
        let pool = AddressPool::new("10.240.0.0/26").unwrap();
        assert_eq!(pool.capacity(), 4);
        let all: Vec<String> = (0..4).map(|_| pool.next().unwrap()).collect();
        assert_eq!(
            all,
            [
                "10.240.0.0/28",
                "10.240.0.16/28",
                "10.240.0.32/28",
                "10.240.0.48/28"
            ]
        );
        assert_eq!(pool.next(), None);
        pool.release("10.240.0.16/28");
        assert_eq!(pool.next().as_deref(), Some("10.240.0.16/28"));
        pool.release("192.168.0.0/28");
        assert_eq!(pool.next(), None);
    }

    #[test]
    fn ranges_are_checked() {
        assert!(AddressPool::new("10.240.0.0/30").is_err());
        assert!(AddressPool::new("nonsense").is_err());
        assert_eq!(AddressPool::new("10.240.0.0/12").unwrap().capacity(), 65536);
    }
}
