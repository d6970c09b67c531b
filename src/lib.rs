//! gpuplan: a GPU capacity planner and VRAM calculator for LLM inference.
//!
//! Data flows one way: [`spec`] (declarative inputs) -> [`estimate`] (pure functions) -> [`plan`]
//! (the questions users ask) -> [`report`] (rendering only); [`measure`] runs models to check the
//! estimator against reality.

pub mod estimate;
pub mod import;
pub mod measure;
pub mod params;
pub mod plan;
pub mod report;
pub mod spec;

pub mod app;
pub mod cli;
pub mod serve;
