//! Values kept for the rest of the process. The planner's options are `Copy` and hold a few
//! user-given values by `&'static` reference (the host, `-ot` rules); each distinct value is leaked
//! once and shared after that, and a pool holds at most `cap` of them, so a long-running server
//! (`gpuplan serve`) cannot be made to grow without bound by requests that vary them.

use std::sync::Mutex;

/// A bounded set of leaked values, compared by `PartialEq`.
pub struct Pool<T: 'static> {
    items: Mutex<Vec<&'static T>>,
    cap: usize,
    what: &'static str,
}

impl<T: PartialEq> Pool<T> {
    pub const fn new(what: &'static str, cap: usize) -> Pool<T> {
        Pool {
            items: Mutex::new(Vec::new()),
            cap,
            what,
        }
    }

    /// The kept copy of `v`: an earlier equal one, or `v` leaked when the pool has room.
    pub fn intern(&self, v: T) -> Result<&'static T, String> {
        // a poisoned lock only means another thread panicked between push and unlock: the list is whole
        let mut items = self.items.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(&kept) = items.iter().find(|&&k| *k == v) {
            return Ok(kept);
        }
        if items.len() >= self.cap {
            return Err(format!(
                "more than {} distinct {} in one process: restart gpuplan",
                self.cap, self.what
            ));
        }
        let kept: &'static T = Box::leak(Box::new(v));
        items.push(kept);
        Ok(kept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_values_share_one_copy_and_the_pool_is_bounded() {
        static POOL: Pool<String> = Pool::new("names", 2);
        let a = POOL.intern("a".to_string()).unwrap();
        assert!(std::ptr::eq(a, POOL.intern("a".to_string()).unwrap()));
        POOL.intern("b".to_string()).unwrap();
        let err = POOL.intern("c".to_string()).unwrap_err();
        assert!(err.contains("more than 2 distinct names"), "{err}");
        assert!(POOL.intern("b".to_string()).is_ok());
    }
}
