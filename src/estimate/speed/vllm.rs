//! vLLM V1 (docs/engines/speed.md): a decode step reads the weights once for every running sequence
//! and each sequence's KV once; chunked prefill mixes prompt tokens into the steps.
