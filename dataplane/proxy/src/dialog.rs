//! Dialog tracking: which dialogs created by a 2xx to an INVITE are
//! alive, keyed by Call-ID and the two tags (order-independent, so a BYE
//! from either side finds it), ended by a BYE passing through or by
//! `dialog_timeout` without in-dialog traffic.
//!
//! Memory per dialog is one slab slot (times, the owned key), one entry in
//! the hash index and at most one timer entry. Expiry is lazy: a dialog
//! stores when it was last used, and its single timer entry, when due,
//! either ends it or is pushed again at `last_used + timeout`, so in-dialog
//! traffic never touches the heap.
//!
//! Not kept: route sets, CSeq, remote targets (a proxy needs none of them
//! to relay; recovery replicates them elsewhere).

use crate::slab::{Handle, Slab};
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::time::Instant;

#[derive(Debug, Default)]
pub(crate) struct Dialog {
    /// `Call-ID \0 smaller tag \0 larger tag`.
    key: Box<[u8]>,
    call_id_len: u16,
    pub started: Option<Instant>,
    pub last_used: Option<Instant>,
    /// Next dialog with the same key hash.
    next: Option<u32>,
    hash: u64,
}

impl Dialog {
    pub fn call_id(&self) -> &[u8] {
        self.key.get(..usize::from(self.call_id_len)).unwrap_or(&[])
    }
}

#[derive(Debug)]
pub(crate) struct Dialogs {
    slab: Slab<Dialog>,
    index: HashMap<u64, u32>,
    hasher: RandomState,
    scratch: Vec<u8>,
}

fn write_key(out: &mut Vec<u8>, call_id: &[u8], a: &[u8], b: &[u8]) {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    out.clear();
    out.extend_from_slice(call_id);
    out.push(0);
    out.extend_from_slice(lo);
    out.push(0);
    out.extend_from_slice(hi);
}

impl Dialogs {
    pub fn new() -> Self {
        Dialogs {
            slab: Slab::new(),
            index: HashMap::new(),
            hasher: RandomState::new(),
            scratch: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.slab.len()
    }

    fn find(&self, key: &[u8], hash: u64) -> Option<Handle> {
        let mut idx = self.index.get(&hash).copied();
        while let Some(i) = idx {
            let h = self.slab.handles_at(i)?;
            let d = self.slab.get(h)?;
            if &*d.key == key {
                return Some(h);
            }
            idx = d.next;
        }
        None
    }

    fn lookup(&mut self, call_id: &[u8], a: &[u8], b: &[u8]) -> (u64, Option<Handle>) {
        let mut key = std::mem::take(&mut self.scratch);
        write_key(&mut key, call_id, a, b);
        let hash = self.hasher.hash_one(&key[..]);
        let found = self.find(&key, hash);
        self.scratch = key;
        (hash, found)
    }

    /// Start tracking a dialog; `None` when it is already tracked (a 2xx
    /// retransmission or a second 2xx of the same dialog), which is then
    /// refreshed.
    pub fn start(&mut self, call_id: &[u8], a: &[u8], b: &[u8], now: Instant) -> Option<Handle> {
        let (hash, found) = self.lookup(call_id, a, b);
        if let Some(h) = found {
            if let Some(d) = self.slab.get_mut(h) {
                d.last_used = Some(now);
            }
            return None;
        }
        let next = self.index.get(&hash).copied();
        let key: Box<[u8]> = self.scratch.as_slice().into();
        let call_id_len = u16::try_from(call_id.len()).unwrap_or(u16::MAX);
        let h = self.slab.insert(|d| {
            *d = Dialog {
                key,
                call_id_len,
                started: Some(now),
                last_used: Some(now),
                next,
                hash,
            }
        })?;
        self.index.insert(hash, h.index);
        Some(h)
    }

    /// Note in-dialog traffic; the handle when tracked.
    pub fn touch(&mut self, call_id: &[u8], a: &[u8], b: &[u8], now: Instant) -> Option<Handle> {
        let (_, found) = self.lookup(call_id, a, b);
        let h = found?;
        if let Some(d) = self.slab.get_mut(h) {
            d.last_used = Some(now);
        }
        Some(h)
    }

    pub fn get(&self, h: Handle) -> Option<&Dialog> {
        self.slab.get(h)
    }

    /// Stop tracking; returns (Call-ID, started).
    pub fn remove(&mut self, h: Handle) -> Option<(String, Instant)> {
        let d = self.slab.get_mut(h)?;
        let call_id = String::from_utf8_lossy(d.call_id()).into_owned();
        let started = d.started?;
        let (hash, next) = (d.hash, d.next);
        // Free the key now: a freed slot keeps its value for reuse.
        d.key = Box::default();
        self.slab.remove(h);
        // Unlink from the hash chain.
        if self.index.get(&hash) == Some(&h.index) {
            match next {
                Some(n) => {
                    self.index.insert(hash, n);
                }
                None => {
                    self.index.remove(&hash);
                }
            }
        } else {
            let mut cur = self.index.get(&hash).copied();
            while let Some(i) = cur {
                let Some(ch) = self.slab.handles_at(i) else {
                    break;
                };
                let Some(d) = self.slab.get_mut(ch) else {
                    break;
                };
                if d.next == Some(h.index) {
                    d.next = next;
                    break;
                }
                cur = d.next;
            }
        }
        Some((call_id, started))
    }

    /// Approximate heap bytes.
    pub fn memory_bytes(&self) -> usize {
        self.slab.capacity() * (std::mem::size_of::<Dialog>() + 8)
            + self.slab.free_capacity() * 4
            + self.slab.values().map(|d| d.key.len()).sum::<usize>()
            + self.index.capacity() * (std::mem::size_of::<(u64, u32)>() + 1)
    }
}
