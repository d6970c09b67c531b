//! Phi-3.5-Vision: a CLIP ViT image encoder (ViT-L/14-336 at full size), Phi-3-V's HD transform
//! (2x2 patch merging, sub-crops laid out as a grid with a `sub_GN` separator closing every row,
//! `glb_GN` between the sub-crops and the global view), the projector (Linear-GELU-Linear) and the
//! Phi-3 backbone, built on candle-nn. Shapes and names follow Hugging Face
//! `modeling_phi3_v.py` / `CLIPVisionModel` (`model.vision_embed_tokens.*`).
//!
//! The image features replace the image placeholder tokens: the prompt is the image tokens, then
//! the text. The encoder stops after the second-to-last layer (Phi-3-V reads `hidden_states[-2]`);
//! the last layer and `post_layernorm` are loaded (they are weights the checkpoint holds) but their
//! output is never used.

use super::decoder::{TextConfig, TextModel};
use super::layers::{Linear, Norm};
use super::weights::Vb;
use crate::spec::model::VisionSpec;
use crate::spec::precision::Role;
use candle_core::{DType, IndexOp, Module, Result, Tensor};

/// CLIP ViT encoder shapes.
#[derive(Debug, Clone)]
pub struct ClipConfig {
    pub image_size: usize,
    pub patch_size: usize,
    pub channels: usize,
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    pub intermediate: usize,
    pub merge: usize,
    pub projector: Vec<usize>,
    /// glb_GN + sub_GN elements (one vector each of merge² x hidden)
    pub extra_parameters: usize,
}

impl ClipConfig {
    pub fn from_spec(v: &VisionSpec) -> anyhow::Result<ClipConfig> {
        let u = |x: u64| x as usize;
        let c = ClipConfig {
            image_size: u(v.image_size),
            patch_size: u(v.patch_size),
            channels: u(v.channels),
            hidden: u(v.hidden_size),
            layers: u(v.layers),
            heads: u(v.attention_heads),
            intermediate: u(v.intermediate_size),
            merge: u(v.merge),
            projector: v.projector.iter().map(|&w| u(w)).collect(),
            extra_parameters: u(v.extra_parameters),
        };
        let merged = c.hidden * c.merge * c.merge;
        if c.extra_parameters != 2 * merged {
            anyhow::bail!(
                "vision.extra_parameters {} is not glb_GN + sub_GN (2 x {merged}): the runner builds Phi-3-V separators",
                c.extra_parameters
            );
        }
        if c.projector.len() != 2 {
            anyhow::bail!(
                "the runner builds Phi-3-V's two-layer projector; vision.projector has {} layers",
                c.projector.len()
            );
        }
        Ok(c)
    }

    fn side(&self) -> usize {
        self.image_size / self.patch_size
    }
}

struct ClipLayer {
    ln1: Norm,
    q: Linear,
    k: Linear,
    v: Linear,
    out: Linear,
    ln2: Norm,
    fc1: Linear,
    fc2: Linear,
}

/// QuickGELU, CLIP's activation: x · sigmoid(1.702 x).
fn quick_gelu(x: &Tensor) -> Result<Tensor> {
    x * candle_nn::ops::sigmoid(&(x * 1.702)?)?
}

impl ClipLayer {
    fn new(c: &ClipConfig, vb: &Vb) -> Result<Self> {
        let (d, i) = (c.hidden, c.intermediate);
        let lin = |name: &str, a: usize, b: usize| Linear::load(&vb.pp(name), a, b, true, Role::Vision);
        Ok(ClipLayer {
            ln1: Norm::layer(&vb.pp("layer_norm1"), d, 1e-5, Role::Vision)?,
            q: lin("self_attn.q_proj", d, d)?,
            k: lin("self_attn.k_proj", d, d)?,
            v: lin("self_attn.v_proj", d, d)?,
            out: lin("self_attn.out_proj", d, d)?,
            ln2: Norm::layer(&vb.pp("layer_norm2"), d, 1e-5, Role::Vision)?,
            fc1: lin("mlp.fc1", d, i)?,
            fc2: lin("mlp.fc2", i, d)?,
        })
    }

    /// Eager attention as transformers' CLIPAttention: q pre-scaled, scores, softmax, · v (no mask).
    fn forward(&self, xs: &Tensor, heads: usize) -> Result<Tensor> {
        let (b, n, d) = xs.dims3()?;
        let hd = d / heads;
        let h = self.ln1.forward(xs)?;
        let split = |t: Tensor| t.reshape((b, n, heads, hd))?.transpose(1, 2)?.contiguous();
        let q = split((h.apply(&self.q)? * (hd as f64).powf(-0.5))?)?;
        let k = split(h.apply(&self.k)?)?;
        let v = split(h.apply(&self.v)?)?;
        let scores = q.matmul(&k.t()?)?;
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let attn = probs
            .matmul(&v)?
            .transpose(1, 2)?
            .reshape((b, n, d))?
            .apply(&self.out)?;
        let xs = (attn + xs)?;
        let h = quick_gelu(&self.ln2.forward(&xs)?.apply(&self.fc1)?)?.apply(&self.fc2)?;
        h + xs
    }
}

struct Clip {
    /// conv kernel d x C x p x p (stride p, no bias)
    patch: Tensor,
    class_embedding: Tensor,
    position_embedding: Tensor,
    pre_ln: Norm,
    layers: Vec<ClipLayer>,
    _post_ln: Norm,
    cfg: ClipConfig,
}

impl Clip {
    fn new(c: &ClipConfig, vb: &Vb) -> Result<Self> {
        let ve = vb.pp("embeddings");
        let p = c.patch_size;
        let patch = ve
            .pp("patch_embedding")
            .tensor((c.hidden, c.channels, p, p), "weight", Role::Vision)?;
        let mut layers = Vec::with_capacity(c.layers);
        for l in 0..c.layers {
            layers.push(ClipLayer::new(c, &vb.pp("encoder.layers").pp(l))?);
        }
        Ok(Clip {
            patch,
            class_embedding: ve.tensor(c.hidden, "class_embedding", Role::Vision)?,
            position_embedding: ve.pp("position_embedding").tensor(
                (c.side() * c.side() + 1, c.hidden),
                "weight",
                Role::Vision,
            )?,
            pre_ln: Norm::layer(&vb.pp("pre_layrnorm"), c.hidden, 1e-5, Role::Vision)?,
            layers,
            _post_ln: Norm::layer(&vb.pp("post_layernorm"), c.hidden, 1e-5, Role::Vision)?,
            cfg: c.clone(),
        })
    }

    /// Patch features of the second-to-last layer, without the class token: views x patches x d.
    fn features(&self, pixels: &Tensor) -> Result<Tensor> {
        let views = pixels.dim(0)?;
        let d = self.cfg.hidden;
        // the stride-p p x p convolution as a matmul over non-overlapping patches (candle's CPU
        // conv2d has no bf16 kernel; this is the same im2col + GEMM everywhere)
        let (c, p, s) = (self.cfg.channels, self.cfg.patch_size, self.cfg.side());
        let cols = pixels
            .reshape((views, c, s, p, s, p))?
            .permute((0, 2, 4, 1, 3, 5))?
            .reshape((views, s * s, c * p * p))?;
        let patches = cols.broadcast_matmul(&self.patch.reshape((d, c * p * p))?.t()?)?;
        let cls = self.class_embedding.reshape((1, 1, d))?.expand((views, 1, d))?;
        let xs = Tensor::cat(&[&cls, &patches], 1)?.broadcast_add(&self.position_embedding)?;
        let mut xs = self.pre_ln.forward(&xs)?;
        let used = self.layers.len().saturating_sub(1);
        for layer in &self.layers[..used] {
            xs = layer.forward(&xs, self.cfg.heads)?;
        }
        xs.i((.., 1.., ..))
    }
}

/// The whole Phi-3-V model: image encoder, separators, projector, text backbone.
pub struct VisionModel {
    clip: Clip,
    glb_gn: Tensor,
    sub_gn: Tensor,
    proj1: Linear,
    proj2: Linear,
    pub text: TextModel,
    cfg: ClipConfig,
    /// the vision tower's dtype (GGUF formats keep it f16, like llama.cpp's mmproj)
    pub vision_dtype: DType,
}

impl VisionModel {
    pub fn new(text: &TextConfig, c: &ClipConfig, vb: &Vb, dtype: DType) -> Result<Self> {
        let vv = vb.pp("model.vision_embed_tokens");
        let clip = Clip::new(c, &vv.pp("img_processor.vision_model"))?;
        let merged = c.hidden * c.merge * c.merge;
        let glb_gn = vv.tensor(merged, "glb_GN", Role::Other)?;
        let sub_gn = vv.tensor(merged, "sub_GN", Role::Other)?;
        let proj1 = Linear::load(
            &vv.pp("img_projection.0"),
            merged,
            c.projector[0],
            true,
            Role::Projector,
        )?;
        let proj2 = Linear::load(
            &vv.pp("img_projection.2"),
            c.projector[0],
            c.projector[1],
            true,
            Role::Projector,
        )?;
        let vision_dtype = glb_gn.dtype();
        Ok(VisionModel {
            clip,
            glb_gn,
            sub_gn,
            proj1,
            proj2,
            text: TextModel::new(text, vb, dtype)?,
            cfg: c.clone(),
            vision_dtype,
        })
    }

    /// Merges each view's patch grid 2x2 (merge x merge): views x side/m x side/m x (m² d).
    fn merge(&self, f: &Tensor) -> Result<Tensor> {
        let (views, _, d) = f.dims3()?;
        let (s, m) = (self.cfg.side(), self.cfg.merge);
        f.reshape((views, s / m, m, s / m, m, d))?
            .permute((0, 1, 3, 2, 4, 5))?
            .reshape((views, s / m, s / m, m * m * d))
    }

    /// Appends `sub_GN` as the last column of a grid (rows x cols x C) and flattens it.
    fn with_row_separators(&self, grid: &Tensor) -> Result<Tensor> {
        let (rows, _, c) = grid.dims3()?;
        let sep = self.sub_gn.reshape((1, 1, c))?.expand((rows, 1, c))?;
        Tensor::cat(&[grid, &sep], 1)?.reshape(((), c))
    }

    /// Image embeddings for one image cut into an `h x w` crop grid: `pixels` holds the global
    /// view then the h·w sub-crops. Returns tokens x text hidden, in the text dtype:
    /// h·w·T + h·√T sub-crop tokens and separators, glb_GN, T + √T global tokens (T per crop).
    pub fn image_embeddings(&self, pixels: &Tensor, h: usize, w: usize) -> Result<Tensor> {
        let f = self.merge(&self.clip.features(pixels)?)?;
        let (_, g, _, c) = f.dims4()?;
        let global = self.with_row_separators(&f.i(0)?)?;
        let sub = f
            .i(1..)?
            .reshape((h, w, g, g, c))?
            .permute((0, 2, 1, 3, 4))?
            .reshape((h * g, w * g, c))?;
        let sub = self.with_row_separators(&sub)?;
        let tokens = Tensor::cat(&[&sub, &self.glb_gn.reshape((1, c))?, &global], 0)?;
        let x = tokens.apply(&self.proj1)?.gelu_erf()?.apply(&self.proj2)?;
        x.to_dtype(self.text.dtype)
    }

    /// Synthetic pixels for `views` crops (values do not matter; shapes do).
    pub fn pixels(&self, views: usize) -> Result<Tensor> {
        let s = self.cfg.image_size;
        Tensor::rand(-1f32, 1f32, (views, self.cfg.channels, s, s), self.text_device())?.to_dtype(self.vision_dtype)
    }

    fn text_device(&self) -> &candle_core::Device {
        self.glb_gn.device()
    }
}
