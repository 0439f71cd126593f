#!/usr/bin/env python3
"""Independent PyTorch reference of the open_clip CLIP model, for trak's tests.

What it is
    A plain-PyTorch re-implementation of open_clip's CLIP (ViT image tower +
    causal text transformer), written from the project's spec
    (docs/clip.md), NOT from or with open_clip (which is not
    installable here). Parameter names, registration order and shapes are
    open_clip's, so `named_parameters()` yields docs/clip.md's order; attention
    uses `in_proj_weight`/`in_proj_bias` and `out_proj.{weight,bias}` like
    nn.MultiheadAttention but is computed by hand (and cross-checked against
    torch.nn.functional.multi_head_attention_forward).

    It generates golden fixtures for two tiny random models (`tiny-gelu`,
    `tiny-quickgelu`): checkpoints in every format trak reads (safetensors
    F32/F16/BF16, open_clip training checkpoint .pt), inputs, embeddings, and
    per-example gradients of a scalar function of the embeddings, computed in
    float64 from the float32-rounded weights.

How to run (from the repository root; needs Debian's python3-torch + numpy):
    /usr/bin/python3 scripts/reference/clip_reference.py --out internal/clip/testdata

The output is deterministic (fixed seeds, one thread, float64 computation).
Self-checks (assertions, all run on every invocation):
  * parameter names/order/shapes == docs/clip.md's list, for both tiny models;
    the ViT-B-32 parameter count from the same list == 151,277,313;
  * hand-written attention == F.multi_head_attention_forward (with and
    without the causal mask), and hand-written patchify == conv2d;
  * central finite differences (float64) of s_b vs autograd for one random
    coordinate of every parameter tensor and every example;
  * logit_scale's gradient is exactly 0; token_embedding rows of tokens not
    at positions <= EOT get exactly 0; every other tensor has non-zero grads;
  * sum over examples of the per-example grads == grad of sum_b s_b;
  * the hand-written safetensors files read back bit-exactly, BF16 bits ==
    torch's float32->bfloat16 conversion.
"""

import argparse
import collections
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

LN_EPS = 1e-5
NORM_EPS = 1e-12

CONFIGS = {
    "tiny-gelu": {
        "embed_dim": 16,
        "vision_cfg": {"image_size": 16, "layers": 2, "width": 32, "head_width": 16, "patch_size": 8},
        "text_cfg": {"context_length": 8, "vocab_size": 64, "width": 32, "heads": 2, "layers": 2},
        "quick_gelu": False,
    },
    "tiny-quickgelu": {
        "embed_dim": 16,
        "vision_cfg": {"image_size": 24, "layers": 1, "width": 32, "head_width": 8, "patch_size": 8},
        "text_cfg": {"context_length": 8, "vocab_size": 64, "width": 32, "heads": 4, "layers": 1},
        "quick_gelu": True,
    },
}

VIT_B_32 = {
    "embed_dim": 512,
    "vision_cfg": {"image_size": 224, "layers": 12, "width": 768, "patch_size": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 512, "heads": 8, "layers": 12},
    "quick_gelu": False,
}

SEEDS = {"tiny-gelu": 1234, "tiny-quickgelu": 5678}


# ---------------------------------------------------------------------------
# Config helpers
# ---------------------------------------------------------------------------

def dims(cfg):
    v, t = cfg["vision_cfg"], cfg["text_cfg"]
    d = dict(
        E=cfg["embed_dim"],
        S=v["image_size"], P=v["patch_size"], Wv=v["width"], Lv=v["layers"],
        Hv=v["width"] // v.get("head_width", 64),
        ctx=t.get("context_length", 77), vocab=t.get("vocab_size", 49408),
        Wt=t["width"], Ht=t.get("heads", 8), Lt=t["layers"],
        quick_gelu=bool(cfg.get("quick_gelu", False)),
    )
    assert d["S"] % d["P"] == 0
    assert d["Wv"] % d["Hv"] == 0 and d["Wt"] % d["Ht"] == 0
    d["grid"] = d["S"] // d["P"]
    d["ntok"] = 1 + d["grid"] ** 2
    return d


def spec_param_list(cfg):
    """Names and shapes exactly as listed in docs/clip.md, in its order."""
    d = dims(cfg)

    def block(prefix, W):
        return [
            (prefix + "ln_1.weight", (W,)), (prefix + "ln_1.bias", (W,)),
            (prefix + "attn.in_proj_weight", (3 * W, W)), (prefix + "attn.in_proj_bias", (3 * W,)),
            (prefix + "attn.out_proj.weight", (W, W)), (prefix + "attn.out_proj.bias", (W,)),
            (prefix + "ln_2.weight", (W,)), (prefix + "ln_2.bias", (W,)),
            (prefix + "mlp.c_fc.weight", (4 * W, W)), (prefix + "mlp.c_fc.bias", (4 * W,)),
            (prefix + "mlp.c_proj.weight", (W, 4 * W)), (prefix + "mlp.c_proj.bias", (W,)),
        ]

    out = [
        ("positional_embedding", (d["ctx"], d["Wt"])),
        ("text_projection", (d["Wt"], d["E"])),
        ("logit_scale", ()),
        ("visual.class_embedding", (d["Wv"],)),
        ("visual.positional_embedding", (d["ntok"], d["Wv"])),
        ("visual.proj", (d["Wv"], d["E"])),
        ("visual.conv1.weight", (d["Wv"], 3, d["P"], d["P"])),
        ("visual.ln_pre.weight", (d["Wv"],)), ("visual.ln_pre.bias", (d["Wv"],)),
    ]
    for i in range(d["Lv"]):
        out += block("visual.transformer.resblocks.%d." % i, d["Wv"])
    out += [("visual.ln_post.weight", (d["Wv"],)), ("visual.ln_post.bias", (d["Wv"],))]
    for i in range(d["Lt"]):
        out += block("transformer.resblocks.%d." % i, d["Wt"])
    out += [
        ("token_embedding.weight", (d["vocab"], d["Wt"])),
        ("ln_final.weight", (d["Wt"],)), ("ln_final.bias", (d["Wt"],)),
    ]
    return out


# ---------------------------------------------------------------------------
# Model (open_clip names and registration order)
# ---------------------------------------------------------------------------

def quick_gelu(x):
    return x * torch.sigmoid(1.702 * x)


def exact_gelu(x):
    # erf GELU, written out (== F.gelu(x) with approximate='none').
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


class LayerNorm(nn.Module):
    def __init__(self, w, dtype):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(w, dtype=dtype))
        self.bias = nn.Parameter(torch.zeros(w, dtype=dtype))

    def forward(self, x):
        mu = x.mean(dim=-1, keepdim=True)
        var = ((x - mu) ** 2).mean(dim=-1, keepdim=True)  # biased variance
        return (x - mu) / torch.sqrt(var + LN_EPS) * self.weight + self.bias


class Linear(nn.Module):
    """y = x @ weight.T + bias, weight (out, in) as in nn.Linear."""

    def __init__(self, fin, fout, dtype):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(fout, fin, dtype=dtype))
        self.bias = nn.Parameter(torch.zeros(fout, dtype=dtype))

    def forward(self, x):
        return x @ self.weight.t() + self.bias


def attention(x, in_w, in_b, out_w, out_b, heads, mask=None):
    """Multi-head self-attention, by hand. x: (N, L, W) batch-first.

    q,k,v = x @ in_w[0:W].T + in_b[0:W], ... [W:2W], [2W:3W];
    per head h (columns h*d:(h+1)*d, d = W/heads):
        A = softmax(q_h k_h^T / sqrt(d) + mask), o_h = A v_h;
    heads concatenated along columns, then @ out_w.T + out_b.
    mask: (L, L) additive (0 or -inf), or None.
    """
    N, L, W = x.shape
    d = W // heads
    qkv = x @ in_w.t() + in_b
    q, k, v = qkv[..., :W], qkv[..., W:2 * W], qkv[..., 2 * W:]

    def split(t):
        return t.reshape(N, L, heads, d).permute(0, 2, 1, 3)  # (N, H, L, d)

    q, k, v = split(q), split(k), split(v)
    scores = (q @ k.transpose(-1, -2)) / math.sqrt(d)  # (N, H, L, L)
    if mask is not None:
        scores = scores + mask
    a = torch.softmax(scores, dim=-1)
    o = (a @ v).permute(0, 2, 1, 3).reshape(N, L, W)
    return o @ out_w.t() + out_b


class MultiheadAttention(nn.Module):
    def __init__(self, w, heads, dtype):
        super().__init__()
        self.heads = heads
        self.in_proj_weight = nn.Parameter(torch.zeros(3 * w, w, dtype=dtype))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * w, dtype=dtype))
        self.out_proj = Linear(w, w, dtype)

    def forward(self, x, mask=None):
        return attention(x, self.in_proj_weight, self.in_proj_bias,
                         self.out_proj.weight, self.out_proj.bias, self.heads, mask)


class Mlp(nn.Module):
    def __init__(self, w, act, dtype):
        super().__init__()
        self.c_fc = Linear(w, 4 * w, dtype)
        self.c_proj = Linear(4 * w, w, dtype)
        self.act = act

    def forward(self, x):
        return self.c_proj(self.act(self.c_fc(x)))


class ResidualAttentionBlock(nn.Module):
    def __init__(self, w, heads, act, dtype):
        super().__init__()
        self.ln_1 = LayerNorm(w, dtype)
        self.attn = MultiheadAttention(w, heads, dtype)
        self.ln_2 = LayerNorm(w, dtype)
        self.mlp = Mlp(w, act, dtype)

    def forward(self, x, mask=None):
        x = x + self.attn(self.ln_1(x), mask)
        x = x + self.mlp(self.ln_2(x))
        return x


class Transformer(nn.Module):
    def __init__(self, w, layers, heads, act, dtype):
        super().__init__()
        self.resblocks = nn.ModuleList([ResidualAttentionBlock(w, heads, act, dtype) for _ in range(layers)])

    def forward(self, x, mask=None):
        for blk in self.resblocks:
            x = blk(x, mask)
        return x


class Conv1(nn.Module):
    """Patch embedding: conv2d, kernel = stride = P, no bias."""

    def __init__(self, w, P, dtype):
        super().__init__()
        self.P = P
        self.weight = nn.Parameter(torch.zeros(w, 3, P, P, dtype=dtype))

    def forward(self, x):  # (N, 3, S, S) -> (N, W, g, g)
        return F.conv2d(x, self.weight, stride=self.P)


def patchify(images, P):
    """(N, 3, S, S) -> (N, g*g, 3*P*P): patches row-major, each (c, row, col)."""
    N, C, S, _ = images.shape
    g = S // P
    x = images.reshape(N, C, g, P, g, P).permute(0, 2, 4, 1, 3, 5)  # N, gy, gx, C, py, px
    return x.reshape(N, g * g, C * P * P)


class VisionTransformer(nn.Module):
    def __init__(self, d, act, dtype):
        super().__init__()
        W = d["Wv"]
        # Direct parameters first (named_parameters lists them before submodules).
        self.class_embedding = nn.Parameter(torch.zeros(W, dtype=dtype))
        self.positional_embedding = nn.Parameter(torch.zeros(d["ntok"], W, dtype=dtype))
        self.proj = nn.Parameter(torch.zeros(W, d["E"], dtype=dtype))
        self.conv1 = Conv1(W, d["P"], dtype)
        self.ln_pre = LayerNorm(W, dtype)
        self.transformer = Transformer(W, d["Lv"], d["Hv"], act, dtype)
        self.ln_post = LayerNorm(W, dtype)

    def forward(self, images):
        N = images.shape[0]
        x = self.conv1(images)                       # (N, W, g, g)
        x = x.reshape(N, x.shape[1], -1).permute(0, 2, 1)  # (N, g*g, W), row-major patches
        cls = self.class_embedding.reshape(1, 1, -1).expand(N, 1, -1)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding
        x = self.ln_pre(x)
        x = self.transformer(x, None)
        x = self.ln_post(x)
        return x[:, 0] @ self.proj


def causal_mask(L, dtype):
    # open_clip: torch.empty(L, L).fill_(-inf).triu_(1): -inf strictly above the diagonal.
    return torch.full((L, L), float("-inf"), dtype=dtype).triu_(1)


class CLIP(nn.Module):
    def __init__(self, cfg, dtype=torch.float64):
        super().__init__()
        d = dims(cfg)
        self.d = d
        act = quick_gelu if d["quick_gelu"] else exact_gelu
        # Registration order reproduces open_clip's named_parameters():
        # own parameters first (positional_embedding, text_projection,
        # logit_scale), then submodules visual, transformer, token_embedding, ln_final.
        self.positional_embedding = nn.Parameter(torch.zeros(d["ctx"], d["Wt"], dtype=dtype))
        self.text_projection = nn.Parameter(torch.zeros(d["Wt"], d["E"], dtype=dtype))
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07), dtype=dtype))
        self.visual = VisionTransformer(d, act, dtype)
        self.transformer = Transformer(d["Wt"], d["Lt"], d["Ht"], act, dtype)
        self.token_embedding = nn.Embedding(d["vocab"], d["Wt"], dtype=dtype)
        self.ln_final = LayerNorm(d["Wt"], dtype)
        self.register_buffer("attn_mask", causal_mask(d["ctx"], dtype), persistent=False)

    def encode_image(self, images, normalize=False):
        f = self.visual(images)
        return F.normalize(f, dim=-1, eps=NORM_EPS) if normalize else f

    def encode_text(self, tokens, normalize=False):
        x = self.token_embedding(tokens) + self.positional_embedding
        x = self.transformer(x, self.attn_mask)
        x = self.ln_final(x)
        eot = tokens.argmax(dim=-1)  # highest id = end-of-text; torch returns the first maximum
        f = x[torch.arange(x.shape[0]), eot] @ self.text_projection
        return F.normalize(f, dim=-1, eps=NORM_EPS) if normalize else f

    def forward(self, images, tokens):
        return (self.encode_image(images, True), self.encode_text(tokens, True), self.logit_scale.exp())


def l2n(x):
    # x / max(||x||, 1e-12), as F.normalize.
    return x / x.norm(dim=-1, keepdim=True).clamp_min(NORM_EPS)


# ---------------------------------------------------------------------------
# Initialisation
# ---------------------------------------------------------------------------

def init_params(model, gen):
    """Non-degenerate random init, then every value rounded to float32."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            shape, dt = p.shape, p.dtype

            def n(std):
                return torch.randn(shape, generator=gen, dtype=dt) * std

            last = name.split(".")[-1]
            if name == "logit_scale":
                val = torch.tensor(math.log(1 / 0.07), dtype=dt)
            elif name in ("token_embedding.weight", "positional_embedding",
                          "visual.positional_embedding", "visual.class_embedding"):
                val = n(0.5)
            elif name in ("text_projection", "visual.proj"):
                val = n(1.0 / math.sqrt(shape[0]))  # used as x @ proj: fan_in = rows
            elif ".ln_" in "." + name or name.startswith("ln_") or "ln_final" in name:
                val = (1.0 + n(0.2)) if last == "weight" else n(0.2)
            elif name == "visual.conv1.weight":
                val = n(1.0 / math.sqrt(shape[1] * shape[2] * shape[3]))
            elif last in ("in_proj_weight", "weight"):
                val = n(1.0 / math.sqrt(shape[1]))  # (out, in): fan_in = columns
            elif last in ("in_proj_bias", "bias"):
                val = n(0.1)
            else:
                raise AssertionError("no init rule for " + name)
            p.copy_(val.to(torch.float32).to(dt))


# ---------------------------------------------------------------------------
# File writers
# ---------------------------------------------------------------------------

def bf16_bits(a32):
    """float32 array -> uint16 bfloat16 bits, round to nearest even (as torch)."""
    u = np.ascontiguousarray(a32, dtype="<f4").view("<u4").astype(np.uint64)
    bias = 0x7FFF + ((u >> 16) & 1)
    out = ((u + bias) >> 16).astype(np.uint16)
    nan = np.isnan(a32)
    out[nan] = 0x7FC0
    return out


def write_safetensors(path, tensors, dtype):
    """tensors: name -> float32 numpy array. dtype: F32, F16 or BF16."""
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        a = np.asarray(tensors[name], dtype=np.float32)
        if dtype == "F32":
            raw = a.astype("<f4").tobytes()
        elif dtype == "F16":
            raw = a.astype("<f2").tobytes()  # IEEE round-to-nearest-even
        elif dtype == "BF16":
            raw = bf16_bits(a).astype("<u2").tobytes()
        else:
            raise ValueError(dtype)
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((-len(h)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    """Minimal reader, used to check the writer. Returns name -> float32 array."""
    with open(path, "rb") as f:
        buf = f.read()
    (n,) = struct.unpack("<Q", buf[:8])
    header = json.loads(buf[8:8 + n].decode("utf-8"))
    data = buf[8 + n:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        raw = data[b:e]
        if info["dtype"] == "F32":
            a = np.frombuffer(raw, dtype="<f4")
        elif info["dtype"] == "F16":
            a = np.frombuffer(raw, dtype="<f2").astype(np.float32)
        elif info["dtype"] == "BF16":
            a = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        out[name] = a.reshape(info["shape"])
    return out, header


# ---------------------------------------------------------------------------
# Self-checks
# ---------------------------------------------------------------------------

def check_param_order(model, cfg):
    got = [(n, tuple(p.shape)) for n, p in model.named_parameters()]
    want = [(n, tuple(s)) for n, s in spec_param_list(cfg)]
    assert got == want, "named_parameters() differs from docs/clip.md:\n%s\n%s" % (got, want)
    assert list(model.state_dict().keys()) == [n for n, _ in want], "state_dict keys differ"
    return sum(int(np.prod(s)) for _, s in want)


def check_attention(gen):
    """Hand-written attention vs F.multi_head_attention_forward, float64."""
    worst = 0.0
    for (N, L, W, H) in [(3, 8, 32, 2), (2, 10, 32, 4), (1, 5, 24, 3), (2, 8, 32, 1)]:
        x = torch.randn(N, L, W, generator=gen, dtype=torch.float64)
        in_w = torch.randn(3 * W, W, generator=gen, dtype=torch.float64) / math.sqrt(W)
        in_b = torch.randn(3 * W, generator=gen, dtype=torch.float64) * 0.1
        out_w = torch.randn(W, W, generator=gen, dtype=torch.float64) / math.sqrt(W)
        out_b = torch.randn(W, generator=gen, dtype=torch.float64) * 0.1
        for mask in (None, causal_mask(L, torch.float64)):
            mine = attention(x, in_w, in_b, out_w, out_b, H, mask)
            xt = x.transpose(0, 1)  # (L, N, W)
            ref, _ = F.multi_head_attention_forward(
                xt, xt, xt, W, H, in_w, in_b, None, None, False, 0.0, out_w, out_b,
                training=False, need_weights=False, attn_mask=mask)
            err = (mine - ref.transpose(0, 1)).abs().max().item()
            worst = max(worst, err)
            assert err < 1e-12, "attention mismatch %g" % err
    # and nn.MultiheadAttention module with the same weights
    W, H, L = 32, 4, 8
    mha = nn.MultiheadAttention(W, H, dtype=torch.float64)
    x = torch.randn(2, L, W, generator=gen, dtype=torch.float64)
    with torch.no_grad():
        for p in mha.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64) * 0.3)
        m = causal_mask(L, torch.float64)
        ref, _ = mha(x.transpose(0, 1), x.transpose(0, 1), x.transpose(0, 1), need_weights=False, attn_mask=m)
        mine = attention(x, mha.in_proj_weight, mha.in_proj_bias, mha.out_proj.weight, mha.out_proj.bias, H, m)
        err = (mine - ref.transpose(0, 1)).abs().max().item()
        worst = max(worst, err)
        assert err < 1e-12, "nn.MultiheadAttention mismatch %g" % err
    return worst


def check_patchify(model, images):
    with torch.no_grad():
        conv = model.visual.conv1(images)
        conv = conv.reshape(conv.shape[0], conv.shape[1], -1).permute(0, 2, 1)
        W = model.visual.conv1.weight
        mine = patchify(images, model.d["P"]) @ W.reshape(W.shape[0], -1).t()
        err = (conv - mine).abs().max().item()
    assert err < 1e-12, "patchify mismatch %g" % err
    return err


def check_gelu():
    x = torch.linspace(-6, 6, 1001, dtype=torch.float64)
    err = (exact_gelu(x) - F.gelu(x)).abs().max().item()
    assert err < 1e-14, err
    return err


# ---------------------------------------------------------------------------
# Fixture generation
# ---------------------------------------------------------------------------

def scalar_s(model, images, tokens, u, v):
    phi = model.encode_image(images, normalize=True)
    psi = model.encode_text(tokens, normalize=True)
    return (phi * u).sum(-1) + (psi * v).sum(-1) + (phi * psi).sum(-1)


def make_tokens(d, gen, B):
    ctx, vocab = d["ctx"], d["vocab"]
    start, end = vocab - 2, vocab - 1
    # content lengths: exactly full (ctx-2 ids), short (1 id), middle
    lengths = [ctx - 2, 1, (ctx - 2) // 2 + 1][:B]
    rows = []
    for n in lengths:
        ids = torch.randint(1, vocab - 2, (n,), generator=gen).tolist()  # 1..vocab-3
        row = [start] + ids + [end]
        row += [0] * (ctx - len(row))
        rows.append(row)
    return torch.tensor(rows, dtype=torch.int64)


def flat_grad(model):
    return torch.cat([p.grad.reshape(-1) if p.grad is not None else torch.zeros(p.numel(), dtype=p.dtype)
                      for p in model.parameters()])


def generate(name, cfg, outdir, B=3, fd_h=1e-5, fd_rtol=1e-6, fd_atol=1e-9):
    d = dims(cfg)
    torch.manual_seed(SEEDS[name])
    gen = torch.Generator().manual_seed(SEEDS[name])
    model = CLIP(cfg, torch.float64)
    nparams = check_param_order(model, cfg)
    init_params(model, gen)
    names = [n for n, _ in model.named_parameters()]
    shapes = [tuple(p.shape) for _, p in model.named_parameters()]
    p_total = sum(int(np.prod(s)) for s in shapes)
    assert p_total == nparams

    S, E = d["S"], d["E"]
    images = torch.randn(B, 3, S, S, generator=gen, dtype=torch.float64).to(torch.float32)
    tokens = make_tokens(d, torch.Generator().manual_seed(SEEDS[name] + 1), B)
    assert len(set(tokens[:, 1].tolist())) == B, "want distinct first ids across rows"
    u = torch.randn(B, E, generator=gen, dtype=torch.float64).to(torch.float32)
    v = torch.randn(B, E, generator=gen, dtype=torch.float64).to(torch.float32)
    im64, u64, v64 = images.double(), u.double(), v.double()

    patch_err = check_patchify(model, im64)

    # Forward (float64)
    with torch.no_grad():
        img_raw = model.encode_image(im64)
        txt_raw = model.encode_text(tokens)
        phi, psi, ls = model(im64, tokens)
        assert torch.allclose(phi, l2n(img_raw), rtol=0, atol=1e-15)
        assert torch.allclose(psi, l2n(txt_raw), rtol=0, atol=1e-15)
        s_all = scalar_s(model, im64, tokens, u64, v64)
        # batch independence: forward of each example alone == batched forward
        for b in range(B):
            s1 = scalar_s(model, im64[b:b + 1], tokens[b:b + 1], u64[b:b + 1], v64[b:b + 1])
            assert abs(s1.item() - s_all[b].item()) < 1e-12

    # Per-example gradients (float64), loop over b.
    G = torch.zeros(B, p_total, dtype=torch.float64)
    for b in range(B):
        model.zero_grad(set_to_none=True)
        sb = scalar_s(model, im64[b:b + 1], tokens[b:b + 1], u64[b:b + 1], v64[b:b + 1])[0]
        sb.backward()
        G[b] = flat_grad(model)

    # Sum check: grad of sum_b s_b (one batched backward) == sum of per-example grads.
    model.zero_grad(set_to_none=True)
    scalar_s(model, im64, tokens, u64, v64).sum().backward()
    gsum = flat_grad(model)
    sum_err = (gsum - G.sum(0)).abs().max().item()
    assert sum_err < 1e-10 * max(1.0, G.abs().max().item()), sum_err
    model.zero_grad(set_to_none=True)

    # Structural zero / non-zero checks.
    offsets, off = {}, 0
    for n_, s_ in zip(names, shapes):
        k = int(np.prod(s_))
        offsets[n_] = (off, off + k)
        off += k
    a, e = offsets["logit_scale"]
    assert (G[:, a:e] == 0).all(), "logit_scale gradient must be exactly 0"
    a, e = offsets["token_embedding.weight"]
    Wt = d["Wt"]
    eot = tokens.argmax(-1)
    for b in range(B):
        te = G[b, a:e].reshape(d["vocab"], Wt)
        used = set(tokens[b, :eot[b] + 1].tolist())
        for r in range(d["vocab"]):
            if r in used:
                assert (te[r] != 0).any(), "used token row %d has zero grad" % r
            else:
                assert (te[r] == 0).all(), "unused token row %d has non-zero grad" % r
        # text positional rows after EOT get exactly 0 too
        pa, pe = offsets["positional_embedding"]
        pos = G[b, pa:pe].reshape(d["ctx"], Wt)
        assert (pos[eot[b] + 1:] == 0).all() and (pos[:eot[b] + 1] != 0).all()
    # The key part of every in_proj_bias (rows W:2W) has an analytically zero
    # gradient: it adds q.b_k to every score of a softmax row, which the
    # softmax cancels. Autograd gives round-off-sized values there (not 0).
    gmax = G.abs().max().item()
    kbias_max = 0.0
    kbias = set()
    for n_ in names:
        if n_.endswith("attn.in_proj_bias"):
            a, e = offsets[n_]
            W = (e - a) // 3
            kbias_max = max(kbias_max, G[:, a + W:a + 2 * W].abs().max().item())
            kbias.update(range(a + W, a + 2 * W))
    assert kbias_max <= 1e-12 * gmax, "key-bias gradient not ~0: %g" % kbias_max
    # Store the exact value 0 there: the round-off values are not reproducible
    # from run to run (BLAS summation order), everything else is.
    G[:, sorted(kbias)] = 0.0
    for n_ in names:
        if n_ in ("logit_scale",):
            continue
        a, e = offsets[n_]
        if n_.endswith("attn.in_proj_bias"):
            W = (e - a) // 3
            idx = list(range(a, a + W)) + list(range(a + 2 * W, e))
            assert (G[:, idx] != 0).all(), n_
            continue
        for b in range(B):
            assert (G[b, a:e] != 0).any(), "%s: zero gradient for example %d" % (n_, b)
        if n_ not in ("token_embedding.weight",):
            frac = (G[:, a:e] != 0).any(0).double().mean().item()
            assert frac == 1.0, "%s: %g of elements have a non-zero grad" % (n_, frac)

    # Finite differences: one random coordinate per tensor, every example.
    fd_worst_abs, fd_worst_rel, fd_count = 0.0, 0.0, 0
    params = dict(model.named_parameters())
    with torch.no_grad():
        for b in range(B):
            args = (im64[b:b + 1], tokens[b:b + 1], u64[b:b + 1], v64[b:b + 1])
            for n_ in names:
                p = params[n_]
                flat = p.view(-1)
                if n_ == "token_embedding.weight":
                    row = tokens[b, torch.randint(0, int(eot[b]) + 1, (1,), generator=gen).item()].item()
                    idx = row * Wt + torch.randint(0, Wt, (1,), generator=gen).item()
                else:
                    idx = torch.randint(0, flat.numel(), (1,), generator=gen).item()
                orig = flat[idx].item()
                flat[idx] = orig + fd_h
                sp = scalar_s(model, *args)[0].item()
                flat[idx] = orig - fd_h
                sm = scalar_s(model, *args)[0].item()
                flat[idx] = orig
                fd = (sp - sm) / (2 * fd_h)
                ad = G[b, offsets[n_][0] + idx].item()
                err = abs(fd - ad)
                fd_worst_abs = max(fd_worst_abs, err)
                fd_worst_rel = max(fd_worst_rel, err / max(abs(ad), 1e-3))
                fd_count += 1
                assert err <= fd_atol + fd_rtol * abs(ad), \
                    "FD mismatch %s[%d] ex %d: fd %.12g autograd %.12g" % (n_, idx, b, fd, ad)

    # ---- write files ----
    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(outdir, "open_clip_config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")

    sd32 = collections.OrderedDict((k, t.detach().to(torch.float32).clone()) for k, t in model.state_dict().items())
    np32 = {k: t.numpy() for k, t in sd32.items()}
    for fname, dt in (("model.safetensors", "F32"), ("model_f16.safetensors", "F16"), ("model_bf16.safetensors", "BF16")):
        path = os.path.join(outdir, fname)
        write_safetensors(path, np32, dt)
        back, header = read_safetensors(path)
        assert list(k for k in header if k != "__metadata__") == sorted(np32)
        for k, t in sd32.items():
            if dt == "F32":
                want = t
            elif dt == "F16":
                want = t.half().float()
            else:
                want = t.to(torch.bfloat16).float()
                # bit-exact vs torch's conversion
                tb = t.to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16)
                assert (tb == bf16_bits(t.numpy())).all(), k
            assert torch.equal(torch.from_numpy(np.array(back[k])), want), (fname, k)
    torch.save({"epoch": 3, "name": name, "state_dict": {"module." + k: v for k, v in sd32.items()}},
               os.path.join(outdir, "model.pt"))
    ck = torch.load(os.path.join(outdir, "model.pt"))
    assert all(torch.equal(ck["state_dict"]["module." + k], v) for k, v in sd32.items())

    with open(os.path.join(outdir, "params.txt"), "w") as f:
        for n_, s_ in zip(names, shapes):
            f.write(" ".join([n_] + [str(x) for x in s_]) + "\n")

    def save(fn, t, dtype=np.float32):
        np.save(os.path.join(outdir, fn), np.array(t.detach().numpy(), dtype=dtype, order="C"))  # keeps 0-d

    save("images.npy", images)
    save("tokens.npy", tokens, np.int64)
    save("u.npy", u)
    save("v.npy", v)
    save("image_emb.npy", phi)
    save("text_emb.npy", psi)
    save("image_features_raw.npy", img_raw)
    save("text_features_raw.npy", txt_raw)
    save("logit_scale.npy", ls)
    save("s.npy", s_all)
    save("grads.npy", G)

    files = {
        "open_clip_config.json": "open_clip model config (JSON) of this model",
        "model.safetensors": "weights, float32, open_clip names; keys sorted in the file (NOT the parameter order)",
        "model_f16.safetensors": "same weights converted to float16 (round-to-nearest-even)",
        "model_bf16.safetensors": "same weights converted to bfloat16 (upper 16 bits of float32, RNE)",
        "model.pt": "open_clip training checkpoint (torch.save zip): {'epoch': 3, 'name': ..., 'state_dict': {'module.'+name: float32 tensor}}",
        "params.txt": "one line per parameter in named_parameters() order: name dim0 dim1 ... (scalar: name only)",
        "images.npy": "(B,3,S,S) float32 already-normalised input images",
        "tokens.npy": "(B,ctx) int64 token ids: [vocab-2, ids in 1..vocab-3, vocab-1, 0...]; row 0 fills the context exactly, row 1 has one id",
        "u.npy": "(B,E) float32 random vectors u_b",
        "v.npy": "(B,E) float32 random vectors v_b",
        "image_features_raw.npy": "(B,E) float32 image features before L2 normalisation",
        "text_features_raw.npy": "(B,E) float32 text features before L2 normalisation",
        "image_emb.npy": "(B,E) float32 phi_b = L2-normalised image features (eps 1e-12)",
        "text_emb.npy": "(B,E) float32 psi_b = L2-normalised text features (eps 1e-12)",
        "logit_scale.npy": "() float32 exp(logit_scale)",
        "s.npy": "(B,) float32 s_b = phi_b.u_b + psi_b.v_b + phi_b.psi_b",
        "grads.npy": "(B,p) float32 d s_b / d theta, parameters in named_parameters() order, each flattened row-major (C order); one row per example; the key third of every attn.in_proj_bias is stored as exact 0 (analytically 0, autograd gives round-off)",
        "manifest.json": "this file",
    }
    manifest = {
        "name": name,
        "description": "Golden fixtures from scripts/reference/clip_reference.py (independent PyTorch CLIP written from docs/clip.md). "
                       "All outputs computed in float64 from the float32 weights and inputs, then stored as float32.",
        "config": cfg,
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
        "seed": SEEDS[name],
        "B": B,
        "p": p_total,
        "dims": {k: d[k] for k in ("E", "S", "P", "Wv", "Lv", "Hv", "ctx", "vocab", "Wt", "Ht", "Lt", "ntok", "quick_gelu")},
        "activation": "QuickGELU x*sigmoid(1.702x)" if d["quick_gelu"] else "exact GELU 0.5x(1+erf(x/sqrt2))",
        "eot_index": eot.tolist(),
        "shapes": {
            "images": [B, 3, S, S], "tokens": [B, d["ctx"]], "u": [B, E], "v": [B, E],
            "image_emb": [B, E], "text_emb": [B, E], "image_features_raw": [B, E], "text_features_raw": [B, E],
            "logit_scale": [], "s": [B], "grads": [B, p_total],
        },
        "params": [{"name": n_, "shape": list(s_), "offset": offsets[n_][0]} for n_, s_ in zip(names, shapes)],
        "self_checks": {
            # Only pass/fail criteria here: measured round-off figures vary from
            # run to run at the 1e-16 level (the script prints them).
            "finite_difference": {"h": fd_h, "coordinates": fd_count,
                                  "passed": "|fd-ad| <= %g + %g*|ad|" % (fd_atol, fd_rtol)},
            "patchify_vs_conv2d": "max abs err < 1e-12",
            "sum_of_per_example_grads_vs_batched": "max abs err < 1e-10",
            "key_bias_grad": "attn.in_proj_bias[W:2W] is analytically 0; autograd gave <= 1e-12*max|grad| "
                             "(round-off); stored as exact 0 in grads.npy",
        },
        "files": files,
    }
    with open(os.path.join(outdir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")

    sizes = {fn: os.path.getsize(os.path.join(outdir, fn)) for fn in sorted(os.listdir(outdir))}
    return dict(kbias=kbias_max, gmax=gmax, p=p_total, fd_n=fd_count, fd_abs=fd_worst_abs, fd_rel=fd_worst_rel, sum_err=sum_err,
                patch_err=patch_err, sizes=sizes, s=s_all.tolist(), eot=eot.tolist())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="internal/clip/testdata", help="output folder (one subfolder per model)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)

    gen = torch.Generator().manual_seed(42)
    print("GELU (erf) vs F.gelu max abs err: %.3g" % check_gelu())
    print("attention vs F.multi_head_attention_forward / nn.MultiheadAttention (incl. causal mask), "
          "float64, max abs err: %.3g (tol 1e-12)" % check_attention(gen))
    nb32 = sum(int(np.prod(s)) for _, s in spec_param_list(VIT_B_32))
    assert nb32 == 151277313, nb32
    print("ViT-B-32 parameter count from docs/clip.md's list: %d" % nb32)

    total = 0
    for name, cfg in CONFIGS.items():
        r = generate(name, cfg, os.path.join(args.out, name))
        sz = sum(r["sizes"].values())
        total += sz
        print("%s: p=%d, eot=%s, s=%s" % (name, r["p"], r["eot"], ["%.6f" % x for x in r["s"]]))
        print("  FD (h=1e-5, %d coords): max abs err %.3g, max rel err %.3g; "
              "sum-of-grads vs batched %.3g; patchify vs conv2d %.3g"
              % (r["fd_n"], r["fd_abs"], r["fd_rel"], r["sum_err"], r["patch_err"]))
        print("  max |grad| %.3g; key part of in_proj_bias (analytically 0): max |grad| %.3g"
              % (r["gmax"], r["kbias"]))
        for fn, s in r["sizes"].items():
            print("  %-28s %9d" % (fn, s))
        print("  total %d bytes" % sz)
    print("all testdata: %d bytes" % total)
    print("all self-checks passed")


if __name__ == "__main__":
    main()
