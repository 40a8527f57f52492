//! A generational slab: entries addressed by (index, generation) so that a
//! stale handle never reaches a newer occupant of the same slot. Freed
//! entries keep their value (and its buffers' capacity) for reuse, so the
//! steady state allocates nothing.

/// A handle into a [`Slab`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Handle {
    pub index: u32,
    pub generation: u32,
}

impl Handle {
    /// Pack kind (2 bits), generation (30 bits) and index (32 bits) into a
    /// transaction user token.
    pub fn token(self, kind: u64) -> u64 {
        (kind << 62) | (u64::from(self.generation & 0x3fff_ffff) << 32) | u64::from(self.index)
    }

    /// Unpack a token made by [`Handle::token`]: (kind, handle).
    pub fn from_token(token: u64) -> (u64, Handle) {
        (
            token >> 62,
            Handle {
                index: token as u32,
                generation: ((token >> 32) as u32) & 0x3fff_ffff,
            },
        )
    }
}

#[derive(Debug)]
struct Slot<T> {
    generation: u32,
    live: bool,
    value: T,
}

#[derive(Debug)]
pub(crate) struct Slab<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    live: usize,
}

impl<T: Default> Slab<T> {
    pub fn new() -> Self {
        Slab {
            slots: Vec::new(),
            free: Vec::new(),
            live: 0,
        }
    }

    /// Take a slot; `reset` prepares a reused value (clear buffers, keep
    /// capacity). `None` when 2^32 - 1 slots are in use.
    pub fn insert(&mut self, reset: impl FnOnce(&mut T)) -> Option<Handle> {
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                let i = u32::try_from(self.slots.len()).ok()?;
                self.slots.push(Slot {
                    generation: 0,
                    live: false,
                    value: T::default(),
                });
                i
            }
        };
        let slot = self.slots.get_mut(index as usize)?;
        slot.live = true;
        reset(&mut slot.value);
        self.live += 1;
        Some(Handle {
            index,
            generation: slot.generation,
        })
    }

    pub fn remove(&mut self, h: Handle) -> bool {
        let Some(slot) = self.slots.get_mut(h.index as usize) else {
            return false;
        };
        if !slot.live || slot.generation != h.generation {
            return false;
        }
        slot.live = false;
        // 30 bits of generation fit in a token.
        slot.generation = slot.generation.wrapping_add(1) & 0x3fff_ffff;
        self.free.push(h.index);
        self.live -= 1;
        true
    }

    pub fn get(&self, h: Handle) -> Option<&T> {
        self.slots
            .get(h.index as usize)
            .filter(|s| s.live && s.generation == h.generation)
            .map(|s| &s.value)
    }

    pub fn get_mut(&mut self, h: Handle) -> Option<&mut T> {
        self.slots
            .get_mut(h.index as usize)
            .filter(|s| s.live && s.generation == h.generation)
            .map(|s| &mut s.value)
    }

    pub fn len(&self) -> usize {
        self.live
    }

    /// The handle of the live entry at `index`.
    pub fn handles_at(&self, index: u32) -> Option<Handle> {
        self.slots
            .get(index as usize)
            .filter(|s| s.live)
            .map(|s| Handle {
                index,
                generation: s.generation,
            })
    }

    /// Handles of live entries (a scan: for rare events only).
    pub fn handles(&self) -> impl Iterator<Item = (Handle, &T)> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.live)
            .map(|(i, s)| {
                (
                    Handle {
                        index: i as u32,
                        generation: s.generation,
                    },
                    &s.value,
                )
            })
    }

    /// Slot count including free ones and the free list, for memory
    /// estimates.
    pub fn capacity(&self) -> usize {
        self.slots.capacity()
    }

    /// Free slots (holding values kept for reuse).
    pub fn free_len(&self) -> usize {
        self.free.len()
    }

    pub fn free_capacity(&self) -> usize {
        self.free.capacity()
    }

    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.slots.iter().map(|s| &s.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_handle_misses_reused_slot() {
        let mut s: Slab<u32> = Slab::new();
        let a = s.insert(|v| *v = 1).unwrap();
        assert!(s.remove(a));
        let b = s.insert(|v| *v = 2).unwrap();
        assert_eq!(a.index, b.index);
        assert_eq!(s.get(a), None);
        assert_eq!(s.get(b), Some(&2));
        assert!(!s.remove(a));
    }

    #[test]
    fn token_round_trip() {
        let h = Handle {
            index: 77,
            generation: 0x3fff_fffe,
        };
        assert_eq!(Handle::from_token(h.token(2)), (2, h));
    }
}
