//! Results remembered per thread for keys that cannot be hashed (engine settings with floats and
//! rule lists): a short list searched by equality, emptied when full. The estimates stay pure: a
//! remembered value is the one the computation returns for an equal key.

use std::cell::RefCell;
use std::thread::LocalKey;

/// At most `cap` (key, value) pairs.
pub struct Recent<K, V> {
    items: Vec<(K, V)>,
    cap: usize,
}

impl<K: PartialEq, V: Clone> Recent<K, V> {
    pub const fn new(cap: usize) -> Self {
        Recent { items: Vec::new(), cap }
    }
}

/// The value remembered in `memo` for `key`, or `make()`'s, remembered. `make` runs with the list
/// released, so it may use other memos (or this one).
pub fn remembered<K: PartialEq, V: Clone>(
    memo: &'static LocalKey<RefCell<Recent<K, V>>>,
    key: K,
    make: impl FnOnce() -> V,
) -> V {
    let hit = memo.with(|m| m.borrow().items.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone()));
    if let Some(v) = hit {
        return v;
    }
    let v = make();
    memo.with(|m| {
        let mut m = m.borrow_mut();
        if m.items.len() >= m.cap {
            m.items.clear();
        }
        m.items.push((key, v.clone()));
    });
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    thread_local! {
        static SQUARES: RefCell<Recent<u64, u64>> = const { RefCell::new(Recent::new(2)) };
    }

    #[test]
    fn a_key_is_computed_once_until_the_list_fills() {
        let mut calls = 0;
        let mut square = |x: u64| {
            remembered(&SQUARES, x, || {
                calls += 1;
                x * x
            })
        };
        assert_eq!((square(3), square(3), square(4)), (9, 9, 16));
        // full at two: the third key empties the list, so 3 is computed again
        assert_eq!((square(5), square(3)), (25, 9));
        assert_eq!(calls, 4);
    }
}
