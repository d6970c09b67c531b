//! The linear decomposition both engine models share: a predicted time is `Σ coefficient × term`,
//! each term a physical quantity (seconds at the datasheet rate, or a count) and each coefficient
//! looked up by a key (the GPU's class, its memory kind, or one global value). Keeping the models
//! linear in their coefficients lets `tests/field_speed.rs` refit them by least squares on the
//! published rows and hold the committed values to the refit.

use serde::Serialize;

/// One term of a prediction: which coefficient multiplies it, and the quantity.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Term<K> {
    pub key: K,
    pub quantity: f64,
}

/// A predicted time as its terms.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Terms<K> {
    pub terms: Vec<Term<K>>,
}

impl<K: Copy + PartialEq> Terms<K> {
    pub fn new() -> Self {
        Terms { terms: Vec::new() }
    }

    /// Adds `quantity` to the term of `key` (summing repeated keys).
    pub fn add(&mut self, key: K, quantity: f64) {
        if quantity == 0.0 {
            return;
        }
        match self.terms.iter_mut().find(|t| t.key == key) {
            Some(t) => t.quantity += quantity,
            None => self.terms.push(Term { key, quantity }),
        }
    }

    /// The terms scaled by `factor` (a repeated pass).
    pub fn scaled(mut self, factor: f64) -> Self {
        for t in &mut self.terms {
            t.quantity *= factor;
        }
        self
    }

    /// Seconds: each quantity times the coefficient `coefficient(key)` gives for it.
    pub fn seconds(&self, coefficient: impl Fn(K) -> f64) -> f64 {
        self.terms.iter().map(|t| t.quantity * coefficient(t.key)).sum()
    }
}

impl<K: Copy + PartialEq> Default for Terms<K> {
    fn default() -> Self {
        Self::new()
    }
}

/// Where a model's terms go: kept as [`Terms`] (to fit them), or summed into seconds as they come
/// ([`Seconds`], what the estimator runs: no allocation).
pub trait Sink<K> {
    fn add(&mut self, key: K, quantity: f64);
}

impl<K: Copy + PartialEq> Sink<K> for Terms<K> {
    fn add(&mut self, key: K, quantity: f64) {
        Terms::add(self, key, quantity);
    }
}

/// Σ coefficient(key) × quantity over the terms added.
pub struct Seconds<F> {
    coefficient: F,
    pub total: f64,
}

impl<F> Seconds<F> {
    pub fn new(coefficient: F) -> Self {
        Seconds {
            coefficient,
            total: 0.0,
        }
    }
}

impl<K, F: Fn(K) -> f64> Sink<K> for Seconds<F> {
    fn add(&mut self, key: K, quantity: f64) {
        if quantity != 0.0 {
            self.total += quantity * (self.coefficient)(key);
        }
    }
}
