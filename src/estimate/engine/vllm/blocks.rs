//! How vLLM cuts the available memory into KV-cache blocks and what it prints about them
//! (vllm/v1/core/kv_cache_utils.py, vllm/v1/kv_cache_interface.py; docs/engines/vllm.md, "Blocks").

use super::profile::Settings;
use crate::estimate::prepared::Prepared;

/// The KV-cache layout of one GPU: one page per layer and block, layers with full attention and
/// layers with a sliding window (`FullAttentionSpec`, `SlidingWindowSpec`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// one layer's block: 2 (K, V) x block_size x kv_heads x head_dim x element bytes (MLA: one
    /// latent of kv_lora_rank + rope dims)
    pub page_bytes: u64,
    pub block_size: u64,
    pub full_layers: u64,
    pub window_layers: u64,
    /// Mamba-2 / Gated DeltaNet layers (`MambaSpec`): one state page per request, whatever its length
    pub recurrent_layers: u64,
    pub window: u64,
    /// `max_num_batched_tokens`: a windowed layer keeps window − 1 tokens plus one step's
    pub batched_tokens: u64,
}

/// KV-cache groups of each layer type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Groups {
    pub full: u64,
    pub window: u64,
    pub recurrent: u64,
}

impl Layout {
    /// This GPU's layout (its pipeline stage's layers, its KV heads).
    pub fn of(p: &Prepared, s: &Settings) -> Layout {
        let kv = &p.kv;
        let layers = kv.layers.max(1);
        let per_layer_token = kv.total() / layers;
        let window_layers = kv.windowed.checked_div(per_layer_token).unwrap_or(0);
        let block_size = s.block_size.max(1);
        Layout {
            page_bytes: per_layer_token * block_size,
            block_size,
            full_layers: layers - window_layers.min(layers),
            window_layers: window_layers.min(layers),
            recurrent_layers: kv.recurrent_layers,
            window: kv.window,
            batched_tokens: s.max_num_batched_tokens,
        }
    }

    /// Layers per KV-cache group: all of them with one layer type, otherwise the smallest type's
    /// count (`_get_kv_cache_groups_uniform_page_size`: the "1" of an n:1 pattern; a hybrid's
    /// recurrent layers form groups of the same size, their state padded to the attention page).
    pub fn group_size(&self) -> u64 {
        [self.full_layers, self.window_layers, self.recurrent_layers]
            .into_iter()
            .filter(|&n| n > 0)
            .min()
            .unwrap_or(1)
    }

    /// Groups of each type (full, windowed, recurrent), `group_size` layers each (the last padded).
    pub fn groups(&self) -> Groups {
        let g = self.group_size();
        Groups {
            full: self.full_layers.div_ceil(g),
            window: self.window_layers.div_ceil(g),
            recurrent: self.recurrent_layers.div_ceil(g),
        }
    }

    /// Blocks one request of `len` tokens needs in one layer: cdiv(len, block) with full attention;
    /// cdiv(min(window − 1 + max_num_batched_tokens, len), block) + 1 with a window
    /// (`SlidingWindowSpec.max_memory_usage_bytes`).
    pub fn blocks_per_layer(&self, len: u64, windowed: bool) -> u64 {
        if windowed {
            (self.window.saturating_sub(1) + self.batched_tokens)
                .min(len)
                .div_ceil(self.block_size)
                + 1
        } else {
            len.div_ceil(self.block_size)
        }
    }

    /// KV bytes one request of `len` tokens needs in all layers (`max_memory_usage_bytes`, what
    /// `check_enough_kv_cache_memory` holds against the available memory).
    pub fn request_bytes(&self, len: u64) -> u64 {
        let pages = (self.full_layers.saturating_mul(self.blocks_per_layer(len, false)))
            .saturating_add(self.window_layers.saturating_mul(self.blocks_per_layer(len, true)));
        self.page_bytes.saturating_mul(pages)
    }

    /// Blocks: available // page // group_size (`get_num_blocks`); none when nothing is available.
    pub fn num_blocks(&self, available: i64) -> u64 {
        u64::try_from(available).map_or(0, |a| a / self.page_bytes.max(1) / self.group_size())
    }

    /// Bytes one block takes in every layer of its group's tensors: page x group_size.
    pub fn block_bytes(&self) -> u64 {
        self.page_bytes * self.group_size()
    }

    /// "GPU KV cache size: N tokens": blocks // groups x block_size (`_report_kv_cache_config`). A
    /// hybrid's recurrent groups count in the divisor though a request takes one block of each, so
    /// the printed figure is a quarter of the attention capacity for a 3:1 linear:full model.
    pub fn tokens(&self, blocks: u64) -> u64 {
        let g = self.groups();
        blocks / (g.full + g.window + g.recurrent).max(1) * self.block_size
    }

    /// "Maximum concurrency for L tokens per request: X x": the blocks over what one request needs in
    /// every group (`get_max_concurrency_for_kv_cache_config`; a recurrent group: one block).
    pub fn concurrency(&self, blocks: u64, len: u64) -> f64 {
        let g = self.groups();
        let per_request =
            g.full * self.blocks_per_layer(len, false) + g.window * self.blocks_per_layer(len, true) + g.recurrent;
        blocks as f64 / per_request.max(1) as f64
    }

    /// KV bytes a request of `len` tokens holds at its longest in all layers: a windowed layer never
    /// holds more blocks than the request has tokens for (`min(cdiv(len, block), max-usage blocks)`),
    /// so a window longer than the request costs nothing extra. What a batch occupies, where
    /// [`Layout::request_bytes`] is vLLM's worst case for the start-up check.
    pub fn held_bytes(&self, len: u64) -> u64 {
        let plain = len.div_ceil(self.block_size);
        let pages = (self.full_layers.saturating_mul(plain)).saturating_add(
            self.window_layers
                .saturating_mul(plain.min(self.blocks_per_layer(len, true))),
        );
        self.page_bytes.saturating_mul(pages)
    }

    /// The longest max_model_len up to `limit` whose request fits in `available` bytes, as
    /// `estimate_max_model_len`'s binary search finds it; 0 when not one token fits.
    pub fn longest_fitting(&self, available: i64, limit: u64) -> u64 {
        let Ok(available) = u64::try_from(available) else {
            return 0;
        };
        if limit == 0 || self.request_bytes(1) > available {
            return 0;
        }
        let (mut lo, mut hi) = (1, limit);
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            if self.request_bytes(mid) <= available {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        lo
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(full_layers: u64, window_layers: u64) -> Layout {
        Layout {
            page_bytes: 2 * 16 * 8 * 128 * 2,
            block_size: 16,
            full_layers,
            window_layers,
            recurrent_layers: 0,
            window: 4096,
            batched_tokens: 2048,
        }
    }

    #[test]
    fn printed_tokens_and_concurrency_follow_from_the_available_bytes() {
        // Qwen3-14B, 40 layers x 8 KV heads x 128: "Available KV cache memory: 6.51 GiB",
        // "GPU KV cache size: 42,656 tokens", "Maximum concurrency for 32,768 tokens per request:
        // 1.30x" (validation/field/vllm-qwen3-14b-lmcache-0.10.2.json)
        let l = layout(40, 0);
        let blocks = l.num_blocks((6.51 * (1u64 << 30) as f64) as i64);
        assert_eq!(l.tokens(blocks), 42_656);
        assert_eq!(format!("{:.2}", l.concurrency(blocks, 32_768)), "1.30");
    }

    #[test]
    fn windowed_and_full_layers_form_groups_of_the_smaller_count() {
        // Gemma 2: 21 windowed and 21 full layers, two groups of 21; each block holds a page per layer
        // of its group, and a request needs its blocks in both groups
        let l = layout(21, 21);
        assert_eq!(l.group_size(), 21);
        assert_eq!(
            l.groups(),
            Groups {
                full: 1,
                window: 1,
                recurrent: 0
            }
        );
        assert_eq!(l.tokens(1000), 500 * 16);
        assert_eq!(l.blocks_per_layer(8192, true), (4095_u64 + 2048).div_ceil(16) + 1);
        assert_eq!(l.blocks_per_layer(8192, false), 512);
        // a request shorter than the window holds only its own blocks; vLLM's check adds one
        assert_eq!(l.held_bytes(2048), 42 * 128 * l.page_bytes);
        assert_eq!(l.request_bytes(2048), (42 * 128 + 21) * l.page_bytes);
    }

    #[test]
    fn a_hybrids_recurrent_layers_are_groups_of_their_own() {
        // Qwen3-Next: 12 full-attention and 36 Gated DeltaNet layers, four groups of 12; the printed
        // token count divides the blocks by all four, a request takes one block in each recurrent
        // group
        let l = Layout {
            recurrent_layers: 36,
            ..layout(12, 0)
        };
        assert_eq!(l.group_size(), 12);
        assert_eq!(
            l.groups(),
            Groups {
                full: 1,
                window: 0,
                recurrent: 3
            }
        );
        assert_eq!(l.tokens(1000), 250 * 16);
        assert_eq!(
            format!("{:.4}", l.concurrency(1000, 16 * 100)),
            format!("{:.4}", 1000.0 / 103.0)
        );
    }

    #[test]
    fn the_longest_fitting_length_is_whole_blocks() {
        let l = layout(32, 0); // 2 MiB a block over 32 layers
        assert_eq!(l.longest_fitting(20 * (1 << 20) + 5, 131_072), 160);
        assert_eq!(l.longest_fitting(-1, 131_072), 0);
        assert_eq!(l.longest_fitting(1 << 40, 4096), 4096);
    }
}
