//! The one search the solvers share: the largest value a monotone test accepts.

/// Largest x in [lo, hi] with ok(x), for ok monotone decreasing (true then false).
pub fn largest(lo: u64, hi: u64, ok: impl Fn(u64) -> bool) -> Option<u64> {
    if hi < lo || !ok(lo) {
        return None;
    }
    if ok(hi) {
        return Some(hi);
    }
    // exponential probe first: most answers are far below `hi`, and each probe is cheap
    let (mut good, mut bad) = (lo, hi);
    let mut step = lo.max(1);
    while good + step < bad {
        if ok(good + step) {
            good += step;
            step *= 2;
        } else {
            bad = good + step;
            break;
        }
    }
    while bad - good > 1 {
        let mid = good + (bad - good) / 2;
        if ok(mid) {
            good = mid;
        } else {
            bad = mid;
        }
    }
    Some(good)
}
