//! Values keyed by request id, in a ring of slots indexed by the id's low
//! bits.
//!
//! Request ids are chosen by this client, one after another, so a hash map
//! buys nothing: the slot of id `n` is `n mod capacity` (a power of two),
//! and a lookup is one index and one compare. Two ids outstanding at once
//! may share a slot (one of them older by a multiple of the capacity); the
//! id picker skips ids whose slot is taken ([`IdTable::is_free`]), and the
//! table doubles once it is half full, so a skip is rare and the skipped
//! run short. The table never shrinks: its size is the most requests ever
//! outstanding at once, times at most four.

/// Slots in a table's first allocation.
const MIN_SLOTS: usize = 16;

/// A map from request id to `T` (see the module docs).
pub(crate) struct IdTable<T> {
    /// `slots.len()` is 0 or a power of two; slot `i` holds only an id `n`
    /// with `n mod slots.len() == i`.
    slots: Vec<Option<(u32, T)>>,
    len: usize,
}

impl<T> IdTable<T> {
    pub(crate) fn new() -> Self {
        IdTable {
            slots: Vec::new(),
            len: 0,
        }
    }

    #[inline]
    fn index(&self, id: u32) -> usize {
        // With no slots the mask is all ones, and every index is out of
        // bounds: nothing is found, nothing is free until `make_room`.
        id as usize & self.slots.len().wrapping_sub(1)
    }

    /// Entries held.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The value of `id`.
    #[inline]
    pub(crate) fn get(&self, id: u32) -> Option<&T> {
        match self.slots.get(self.index(id)) {
            Some(Some((k, v))) if *k == id => Some(v),
            _ => None,
        }
    }

    /// The value of `id`, to change.
    #[inline]
    pub(crate) fn get_mut(&mut self, id: u32) -> Option<&mut T> {
        let i = self.index(id);
        match self.slots.get_mut(i) {
            Some(Some((k, v))) if *k == id => Some(v),
            _ => None,
        }
    }

    /// Whether `id` may be inserted now: its slot is empty (so `id` is not
    /// in the table, and no other id shares its slot).
    #[inline]
    fn is_free(&self, id: u32) -> bool {
        matches!(self.slots.get(self.index(id)), Some(None))
    }

    /// Makes sure one more entry keeps the table at most half full
    /// (doubling it if need be): before picking an id to insert, as
    /// growing moves entries and changes which slots are free.
    #[inline]
    fn make_room(&mut self) {
        if 2 * (self.len + 1) > self.slots.len() {
            self.grow();
        }
    }

    #[cold]
    fn grow(&mut self) {
        let size = (2 * self.slots.len()).max(MIN_SLOTS);
        let old = std::mem::take(&mut self.slots);
        self.slots = Vec::with_capacity(size);
        self.slots.resize_with(size, || None);
        for (id, v) in old.into_iter().flatten() {
            let i = self.index(id);
            // Ids that shared no slot in the smaller ring share none now.
            self.slots[i] = Some((id, v));
        }
    }

    /// Inserts the value `make` builds under the first id from `*next` on
    /// (wrapping) that `usable` accepts and whose slot is free, and moves
    /// `*next` past it. Returns the id and the value. The slot is found
    /// once, and the value built in it, not moved there.
    #[inline(always)]
    pub(crate) fn insert_fresh(
        &mut self,
        next: &mut u32,
        usable: impl Fn(u32) -> bool,
        make: impl FnOnce() -> T,
    ) -> (u32, &mut T) {
        self.make_room();
        let (id, i) = loop {
            let id = *next;
            *next = id.wrapping_add(1);
            // At most half the slots are taken: a free one comes soon.
            if usable(id) && self.is_free(id) {
                break (id, self.index(id));
            }
        };
        self.len += 1;
        let (_, v) = self.slots[i].insert((id, make()));
        (id, v)
    }

    /// Inserts `id` (growing the table until its slot is free: nothing is
    /// ever overwritten).
    #[cfg(test)]
    pub(crate) fn insert(&mut self, id: u32, value: T) {
        while !self.is_free(id) {
            debug_assert!(
                self.slots.is_empty() || self.get(id).is_none(),
                "request id {id} inserted twice"
            );
            self.grow();
        }
        let i = self.index(id);
        self.slots[i] = Some((id, value));
        self.len += 1;
    }

    /// Removes `id`'s value.
    #[inline]
    pub(crate) fn remove(&mut self, id: u32) -> Option<T> {
        let i = self.index(id);
        let slot = self.slots.get_mut(i)?;
        match slot {
            Some((k, _)) if *k == id => {
                self.len -= 1;
                slot.take().map(|(_, v)| v)
            }
            _ => None,
        }
    }

    /// `id`'s entry, to look at and perhaps remove without a second
    /// lookup.
    #[inline]
    pub(crate) fn occupied(&mut self, id: u32) -> Option<Occupied<'_, T>> {
        let i = self.index(id);
        let slot = self.slots.get_mut(i)?;
        match slot {
            Some((k, _)) if *k == id => Some(Occupied {
                slot,
                len: &mut self.len,
            }),
            _ => None,
        }
    }

    /// Every entry, in slot order (not id order).
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, &T)> {
        self.slots.iter().flatten().map(|(id, v)| (*id, v))
    }

    /// Every entry, to change, in slot order.
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (u32, &mut T)> {
        self.slots.iter_mut().flatten().map(|(id, v)| (*id, v))
    }

    /// Keeps only the entries `keep` says yes to.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(u32, &mut T) -> bool) {
        for slot in &mut self.slots {
            if let Some((id, v)) = slot {
                if !keep(*id, v) {
                    *slot = None;
                    self.len -= 1;
                }
            }
        }
    }

    /// Slots allocated (tests of the growth rule).
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.slots.len()
    }
}

/// An entry of an [`IdTable`], found.
pub(crate) struct Occupied<'a, T> {
    /// Always `Some`.
    slot: &'a mut Option<(u32, T)>,
    len: &'a mut usize,
}

impl<T> Occupied<'_, T> {
    /// The value (always `Some`).
    #[inline]
    pub(crate) fn get(&self) -> Option<&T> {
        self.slot.as_ref().map(|(_, v)| v)
    }

    /// Removes the entry and returns its value (always `Some`).
    #[inline]
    pub(crate) fn remove(self) -> Option<T> {
        *self.len -= 1;
        self.slot.take().map(|(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_table_finds_nothing_and_has_no_free_slot_until_made_room() {
        let mut t = IdTable::<u8>::new();
        assert_eq!(t.get(1), None);
        assert_eq!(t.get_mut(0), None);
        assert_eq!(t.remove(7), None);
        assert!(!t.is_free(1));
        t.make_room();
        assert!(t.is_free(1));
        assert_eq!(t.capacity(), MIN_SLOTS);
    }

    #[test]
    fn ids_sharing_a_slot_are_told_apart() {
        let mut t = IdTable::new();
        t.make_room();
        let cap = t.capacity() as u32;
        t.insert(3, "three");
        // Same slot, other id: not found, and not free.
        assert_eq!(t.get(3 + cap), None);
        assert!(t.get_mut(3 + cap).is_none());
        assert!(t.occupied(3 + cap).is_none());
        assert_eq!(t.remove(3 + cap), None);
        assert!(!t.is_free(3 + cap));
        assert!(!t.is_free(3));
        assert_eq!(t.get(3), Some(&"three"));
        assert_eq!(t.len(), 1);
        assert_eq!(t.remove(3), Some("three"));
        assert!(t.is_free(3 + cap));
        assert_eq!(t.len(), 0);
        // Removed through a found entry.
        t.insert(3 + cap, "again");
        let found = t.occupied(3 + cap).unwrap();
        assert_eq!(found.get(), Some(&"again"));
        assert_eq!(found.remove(), Some("again"));
        assert!(t.is_free(3) && t.len() == 0);
    }

    #[test]
    fn a_colliding_insert_grows_the_table_instead_of_overwriting() {
        let mut t = IdTable::new();
        t.make_room();
        let cap = t.capacity() as u32;
        t.insert(5, 'a');
        t.insert(5 + cap, 'b'); // the caller broke the rule: nothing is lost
        assert!(t.capacity() > cap as usize);
        assert_eq!(t.get(5), Some(&'a'));
        assert_eq!(t.get(5 + cap), Some(&'b'));
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn the_table_doubles_at_half_full_and_keeps_every_entry() {
        let mut t = IdTable::new();
        // Spread out, and across the wrap of u32.
        let ids: Vec<u32> = (0..1000)
            .map(|k| (u32::MAX - 3000).wrapping_add(k * 7))
            .collect();
        for &id in &ids {
            t.make_room();
            assert!(2 * t.len() < t.capacity());
            t.insert(id, id ^ 1);
        }
        assert_eq!(t.len(), ids.len());
        assert!(t.capacity().is_power_of_two());
        assert!(t.capacity() <= 4 * ids.len());
        for &id in &ids {
            assert_eq!(t.get(id), Some(&(id ^ 1)), "{id}");
        }
        let mut seen: Vec<u32> = t.iter().map(|(id, _)| id).collect();
        seen.sort_unstable();
        let mut want = ids.clone();
        want.sort_unstable();
        assert_eq!(seen, want);
    }

    #[test]
    fn retain_and_iter_mut_see_every_entry_once() {
        let mut t = IdTable::new();
        for id in 1..=40u32 {
            t.make_room();
            t.insert(id, 0);
        }
        for (id, v) in t.iter_mut() {
            *v += id;
        }
        t.retain(|id, v| id % 2 == 0 && *v == id);
        assert_eq!(t.len(), 20);
        assert!((1..=40).all(|id| t.get(id).is_some() == (id % 2 == 0)));
    }
}
