#!/usr/bin/env python3
"""Independent PyTorch TRAK reference for CLIP, with exact gradients.

What it is
    A from-the-definitions computation of TRAK scores (Park et al., ICML 2023)
    for two tiny random CLIP checkpoints, following docs/math.md
    (embedding table, model-output function f, negatives, out-to-loss term Q,
    features, finalize, score). The model is the plain-PyTorch CLIP of
    clip_reference.py (imported from this folder, written from docs/clip.md);
    nothing here uses trak's Go code except `trak tokenize` (see Tokens).
    It writes the fixtures under cmd/trak/testdata/clip_exact/, which
    cmd/trak/reference_e2e_test.go feeds to the real `trak` binary
    (featurize ×2, finalize, score with `projector: none`) and compares.

How to run (from the repository root; Debian python3-torch, numpy,
torchvision, PIL; no PyPI):
    /usr/bin/python3 scripts/reference/trak_reference.py --out cmd/trak/testdata/clip_exact
It builds trak into a temporary folder with `go build` (or use --trak PATH).
About 5 s. Deterministic: fixed seeds, one thread, float64.

Inputs it creates (committed, so the Go test needs neither Python nor torch)
    vocab.json, merges.txt   Hugging Face CLIP tokenizer files of a tiny
                             vocabulary: the 256 byte symbols (GPT-2's
                             bytes_to_unicode order), the same 256 with "</w>",
                             the first 100 merges of CLIP's BPE file (lines
                             2..101 of bpe_simple_vocab_16e6.txt.gz) each
                             joined, then <|startoftext|>, <|endoftext|>:
                             614 ids (start 612, end 613).
    model.json               open_clip config: embed 8; vision 16 px, patch 8,
                             width 16, head_width 8 (2 heads), 1 layer; text
                             context 8, vocab 614, width 16, 2 heads, 1 layer;
                             exact GELU.
    ckpt0.safetensors, ckpt1.safetensors
                             float32 random weights (clip_reference.py's init
                             scales), seeds 100 and 101.
    train.csv, targets.csv   filepath,title; N = 10 train pairs, T = 3 targets;
    img/*.png                small RGB PNGs (sizes 20×18, 18×22, 17×17).

Tokens
    Captions are tokenized by the trak binary
        trak tokenize --vocab-dir OUT --context-length 8 --out tokens_*.npy
    (captions on stdin, one per line), so the tokenizer, which is tested
    elsewhere against CLIP's own Python pipeline, is not part of this
    comparison. The result is saved (tokens_train.npy, tokens_targets.npy).

Images
    PIL open → convert("RGB") → torchvision Compose([Resize(16, BICUBIC),
    CenterCrop(16), ToTensor(), Normalize(CLIP mean, std)]) — for PNG equal
    to trak's preprocessing bit for bit (tested elsewhere; this script also
    compares with `trak preprocess` and asserts equality).

Reference computation (float64 from the float32 weights), per checkpoint m:
    table      φ_j, ψ_j (L2-normalised) of every train row, T_m = exp(logit_scale)
    f(z)       = 2 φ·ψ − logsumexp_{j∈S}(φ·ψ_j) − logsumexp_{j∈S}(ψ·φ_j), with
               φ, ψ live and the table rows detached (constants); no temperature
               (docs/math.md's −LSE(−(φ·ψ − φ·ψ_j)) − LSE(−(ψ·φ − ψ·φ_j)) written out)
    S(z)       train pair i: every other train row (j ≠ i); target: all N rows
               (trak: sim_batch_size = 100 ≥ N − 1, so its sampler returns every
               candidate and nothing is random)
    Q(z)       1 − (p_row + p_col)/2, p_row = softmax(T·φ·{ψ, ψ_j : j∈S})[true],
               p_col = softmax(T·ψ·{φ, φ_j : j∈S})[true]
    g(z)       ∇θ f(z), flattened in named_parameters() order (projector none:
               features are the exact gradients, k = p = 20,033)
    finalize   K_m = (X_m X_mᵀ + λI)⁻¹ X_m (dual form; = X_m (X_mᵀX_m + λI)⁻¹),
               λ = 1e-3, by Cholesky; checked against the primal form evaluated
               through the thin SVD of X_m
    score      scores[i, t] = mean_m (K_m g_m(t))_i · mean_m Q_m(i)

Outputs (float64 .npy unless noted)
    emb_image_<m>.npy, emb_text_<m>.npy   (N, 8) table φ, ψ
    q_<m>.npy, f_<m>.npy                  (N,) Q and f of the train pairs
    q_targets_<m>.npy, f_targets_<m>.npy  (T,) the same for the targets
    gram_<m>.npy                          (N+T, N+T) Gram matrix of the exact
                                          gradients [X_m; G_m][X_m; G_m]ᵀ
                                          (train rows first)
    scores.npy                            (N, T)
    manifest.json                         settings, shapes, self-check figures

Self-checks (assertions): the tokenizer files load in trak (tokenize runs);
torchvision preprocessing == `trak preprocess` bit for bit; central finite
differences (h = 1e-5) of f for coordinates of several parameter tensors of
train and target examples agree with autograd (|fd − ad| ≤ 1e-9 + 1e-6|ad|);
logit_scale's gradient is exactly 0; live embeddings of train pair i equal
table row i; dual form == primal form (SVD) to 1e-10 relative.
"""

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import torch
from PIL import Image
from torchvision import transforms
from torchvision.transforms import InterpolationMode

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clip_reference as cr  # noqa: E402  (the model; its main() does not run)

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BPE = os.path.join(REPO, "internal", "tokenizer", "bpe_simple_vocab_16e6.txt.gz")

NUM_MERGES = 100
LAMBDA = 1e-3
SIM_BATCH_SIZE = 100
N_TRAIN, N_TARGETS = 10, 3
CKPT_SEEDS = [100, 101]
DATA_SEED = 7
MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)


def bytes_to_unicode():
    """GPT-2 / CLIP byte → symbol table, in CLIP's vocabulary order."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return list(zip(bs, [chr(c) for c in cs]))


def write_vocab(out):
    with gzip.open(BPE, "rt", encoding="utf-8") as f:
        lines = f.read().split("\n")
    merges = [tuple(l.split(" ")) for l in lines[1:1 + NUM_MERGES]]  # file lines 2..101
    assert all(len(m) == 2 for m in merges)
    syms = [s for _, s in bytes_to_unicode()]
    vocab = syms + [s + "</w>" for s in syms] + ["".join(m) for m in merges] + ["<|startoftext|>", "<|endoftext|>"]
    assert len(set(vocab)) == len(vocab)
    with open(os.path.join(out, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump({t: i for i, t in enumerate(vocab)}, f, ensure_ascii=False)
        f.write("\n")
    with open(os.path.join(out, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
        for a, b in merges:
            f.write("%s %s\n" % (a, b))
    return len(vocab)


def model_config(vocab_size):
    return {
        "embed_dim": 8,
        "vision_cfg": {"image_size": 16, "layers": 1, "width": 16, "head_width": 8, "patch_size": 8},
        "text_cfg": {"context_length": 8, "vocab_size": vocab_size, "width": 16, "heads": 2, "layers": 1},
        "quick_gelu": False,
    }


# Mostly words of one to three tokens in the tiny vocabulary ("the", "with",
# "day" are single merged tokens; "blue" is four byte symbols), so that some
# captions are padded (EOT before the last position) and some are cut.
WORDS = ["a", "on", "the", "in", "of", "with", "day", "you", "this", "my",
         "cat", "dog", "red", "hat", "sun", "tree", "blue", "green", "photo"]
SIZES = [(20, 18), (18, 22), (17, 17)]  # (width, height)


def write_data(out, rng):
    os.makedirs(os.path.join(out, "img"), exist_ok=True)
    caps, seen = {}, set()
    for split, n in (("train", N_TRAIN), ("targets", N_TARGETS)):
        rows = []
        for i in range(n):
            w, h = SIZES[i % len(SIZES)]
            yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
            base = rng.uniform(0, 255, size=3)
            freq = rng.uniform(0.2, 1.2, size=(3, 2))
            img = np.stack([base[c] * 0.5 + 60 * np.sin(freq[c, 0] * xx + freq[c, 1] * yy + c) for c in range(3)], -1)
            img += rng.normal(0, 25, size=img.shape)
            img = np.clip(np.round(img), 0, 255).astype(np.uint8)
            name = "img/%s_%02d.png" % (split, i)
            Image.fromarray(img, "RGB").save(os.path.join(out, name))
            while True:
                # 1..5 words: the longer captions exceed the context of 8 and are cut
                cap = " ".join(rng.choice(WORDS, size=int(rng.integers(1, 6))))
                if cap not in seen:
                    break
            seen.add(cap)
            rows.append((name, cap))
        with open(os.path.join(out, split + ".csv"), "w") as f:
            f.write("filepath,title\n")
            for name, cap in rows:
                f.write("%s,%s\n" % (name, cap))
        caps[split] = rows
    return caps


def tokenize(trak, out, split, captions, ctx):
    path = os.path.join(out, "tokens_%s.npy" % split)
    subprocess.run([trak, "tokenize", "--vocab-dir", out, "--context-length", str(ctx), "--out", path],
                   input="".join(c + "\n" for c in captions).encode(), check=True)
    tok = np.load(path)
    assert tok.shape == (len(captions), ctx) and tok.dtype == np.int64
    return torch.from_numpy(tok)


def preprocess(out, rows, trak, split):
    tf = transforms.Compose([
        transforms.Resize(16, interpolation=InterpolationMode.BICUBIC),
        transforms.CenterCrop(16),
        transforms.ToTensor(),
        transforms.Normalize(MEAN, STD),
    ])
    x = torch.stack([tf(Image.open(os.path.join(out, name)).convert("RGB")) for name, _ in rows])
    # Cross-check with trak's preprocessing (the comparison below relies on it).
    with tempfile.TemporaryDirectory() as tmp:
        p = os.path.join(tmp, "x.npy")
        subprocess.run([trak, "preprocess", "--data", os.path.join(out, split + ".csv"), "--image-size", "16",
                        "--out", p, "--quiet"], check=True, stdout=subprocess.DEVNULL)
        go = np.load(p)
    assert go.shape == tuple(x.shape) and np.array_equal(go, x.numpy()), \
        "torchvision vs trak preprocess: max diff %g" % np.abs(go - x.numpy()).max()
    return x  # float32


def lse(x):
    return torch.logsumexp(x, dim=0)


def output(phi, psi, tab_img, tab_txt, neg, temperature):
    """f and Q of one pair (phi, psi live (E,)), negatives = table rows neg."""
    ti, tt = tab_img[neg].detach(), tab_txt[neg].detach()
    a = tt @ phi  # φ·ψ_j
    b = ti @ psi  # ψ·φ_j
    pp = phi @ psi
    f = 2 * pp - lse(a) - lse(b)
    with torch.no_grad():
        T = temperature
        p_row = torch.softmax(torch.cat([(T * pp).reshape(1), T * a]), 0)[0]
        p_col = torch.softmax(torch.cat([(T * pp).reshape(1), T * b]), 0)[0]
        q = 1 - (p_row + p_col) / 2
    return f, q.item()


def per_example(model, img, tok, tab_img, tab_txt, exclude, temperature):
    """Returns (f, Q, flat gradient, φ, ψ) of one example."""
    n = tab_img.shape[0]
    neg = [j for j in range(n) if j != exclude]
    model.zero_grad(set_to_none=True)
    phi, psi, _ = model(img.unsqueeze(0), tok.unsqueeze(0))
    f, q = output(phi[0], psi[0], tab_img, tab_txt, neg, temperature)
    f.backward()
    return f.item(), q, cr.flat_grad(model).clone(), phi[0].detach(), psi[0].detach()


def f_only(model, img, tok, tab_img, tab_txt, exclude, temperature):
    n = tab_img.shape[0]
    neg = [j for j in range(n) if j != exclude]
    phi, psi, _ = model(img.unsqueeze(0), tok.unsqueeze(0))
    return output(phi[0], psi[0], tab_img, tab_txt, neg, temperature)[0].item()


def run_model(m, cfg, out, xtr, ttr, xtg, ttg):
    gen = torch.Generator().manual_seed(CKPT_SEEDS[m])
    model = cr.CLIP(cfg, torch.float64)
    cr.check_param_order(model, cfg)
    cr.init_params(model, gen)  # values rounded to float32
    sd32 = {k: v.detach().to(torch.float32).numpy() for k, v in model.state_dict().items()}
    cr.write_safetensors(os.path.join(out, "ckpt%d.safetensors" % m), sd32, "F32")
    back, _ = cr.read_safetensors(os.path.join(out, "ckpt%d.safetensors" % m))
    assert all(np.array_equal(back[k], v) for k, v in sd32.items())

    names = [n for n, _ in model.named_parameters()]
    sizes = [p.numel() for _, p in model.named_parameters()]
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    p_total = int(offsets[-1])

    xtr64, xtg64 = xtr.double(), xtg.double()
    with torch.no_grad():
        tab_img, tab_txt, ls = model(xtr64, ttr)
    temperature = ls.item()

    G, fs, qs = [], [], []
    for i in range(N_TRAIN):
        f, q, g, phi, psi = per_example(model, xtr64[i], ttr[i], tab_img, tab_txt, i, temperature)
        assert (phi - tab_img[i]).abs().max() < 1e-13 and (psi - tab_txt[i]).abs().max() < 1e-13
        G.append(g), fs.append(f), qs.append(q)
    for t in range(N_TARGETS):
        f, q, g, _, _ = per_example(model, xtg64[t], ttg[t], tab_img, tab_txt, -1, temperature)
        G.append(g), fs.append(f), qs.append(q)
    G = torch.stack(G)  # (N+T, p)
    ls_i = names.index("logit_scale")
    assert (G[:, offsets[ls_i]:offsets[ls_i + 1]] == 0).all()

    # Finite differences of f (table held constant) vs autograd.
    fd_worst, fd_n = 0.0, 0
    params = dict(model.named_parameters())
    pick = ["visual.conv1.weight", "visual.proj", "visual.transformer.resblocks.0.mlp.c_fc.weight",
            "transformer.resblocks.0.attn.in_proj_weight", "token_embedding.weight", "ln_final.bias",
            "text_projection", "positional_embedding"]
    rng = np.random.default_rng(1000 + m)
    with torch.no_grad():
        for ex in (0, 3, N_TRAIN):  # two train pairs, one target
            img, tok, excl = (xtr64[ex], ttr[ex], ex) if ex < N_TRAIN else (xtg64[ex - N_TRAIN], ttg[ex - N_TRAIN], -1)
            for name in pick:
                flat = params[name].view(-1)
                if name == "token_embedding.weight":
                    used = tok[:int(tok.argmax()) + 1].tolist()
                    idx = int(rng.choice(used)) * cfg["text_cfg"]["width"] + int(rng.integers(cfg["text_cfg"]["width"]))
                else:
                    idx = int(rng.integers(flat.numel()))
                h, orig = 1e-5, flat[idx].item()
                flat[idx] = orig + h
                fp = f_only(model, img, tok, tab_img, tab_txt, excl, temperature)
                flat[idx] = orig - h
                fm = f_only(model, img, tok, tab_img, tab_txt, excl, temperature)
                flat[idx] = orig
                fd = (fp - fm) / (2 * h)
                ad = G[ex, offsets[names.index(name)] + idx].item()
                assert abs(fd - ad) <= 1e-9 + 1e-6 * abs(ad), (name, ex, fd, ad)
                fd_worst = max(fd_worst, abs(fd - ad) / max(abs(ad), 1e-3))
                fd_n += 1

    X, Gt = G[:N_TRAIN], G[N_TRAIN:]
    A = X @ X.T + LAMBDA * torch.eye(N_TRAIN, dtype=torch.float64)
    L = torch.linalg.cholesky(A)
    S = torch.cholesky_solve(X @ Gt.T, L)  # (N, T) = K_m g_m(t)
    # Primal form X (XᵀX + λI)⁻¹ gᵀ through the thin SVD X = U diag(s) Vᵀ.
    U, s, Vh = torch.linalg.svd(X, full_matrices=False)
    S_primal = U @ torch.diag(s / (s ** 2 + LAMBDA)) @ (Vh @ Gt.T)
    primal_err = ((S - S_primal).abs().max() / S.abs().max()).item()
    assert primal_err < 1e-10, primal_err
    eig = torch.linalg.eigvalsh(A)
    cond = (eig.max() / eig.min()).item()

    def save(fn, a):
        np.save(os.path.join(out, fn), np.ascontiguousarray(np.asarray(a, dtype=np.float64)))

    save("emb_image_%d.npy" % m, tab_img.numpy())
    save("emb_text_%d.npy" % m, tab_txt.numpy())
    save("q_%d.npy" % m, qs[:N_TRAIN])
    save("f_%d.npy" % m, fs[:N_TRAIN])
    save("q_targets_%d.npy" % m, qs[N_TRAIN:])
    save("f_targets_%d.npy" % m, fs[N_TRAIN:])
    save("gram_%d.npy" % m, (G @ G.T).numpy())
    info = {
        "seed": CKPT_SEEDS[m], "temperature": temperature, "p": p_total,
        "cond_XXt_plus_lambda": cond, "eig_XXt_plus_lambda": [eig.min().item(), eig.max().item()],
        "grad_norms": G.norm(dim=1).tolist(),
        "fd_coords": fd_n, "fd_worst_rel": fd_worst, "dual_vs_primal_svd_rel": primal_err,
    }
    return S, torch.tensor(qs[:N_TRAIN], dtype=torch.float64), info, names, [list(p.shape) for p in model.parameters()]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--out", default=os.path.join(REPO, "cmd", "trak", "testdata", "clip_exact"))
    ap.add_argument("--trak", default="", help="trak binary (default: go build into a temporary folder)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    out = os.path.abspath(args.out)
    if os.path.isdir(out) and os.listdir(out):
        # Replace only a folder this script made (it has the manifest).
        if not os.path.isfile(os.path.join(out, "manifest.json")):
            sys.exit("%s is not empty and holds no manifest.json: refusing to replace it" % out)
        shutil.rmtree(out)
    os.makedirs(out, exist_ok=True)

    tmp = tempfile.mkdtemp()
    try:
        trak = args.trak
        if not trak:
            trak = os.path.join(tmp, "trak")
            subprocess.run(["go", "build", "-o", trak, "./cmd/trak"], cwd=REPO, check=True)
        vocab_size = write_vocab(out)
        cfg = model_config(vocab_size)
        with open(os.path.join(out, "model.json"), "w") as f:
            json.dump(cfg, f, indent=2)
            f.write("\n")
        rows = write_data(out, np.random.default_rng(DATA_SEED))
        ctx = cfg["text_cfg"]["context_length"]
        ttr = tokenize(trak, out, "train", [c for _, c in rows["train"]], ctx)
        ttg = tokenize(trak, out, "targets", [c for _, c in rows["targets"]], ctx)
        assert int(torch.cat([ttr, ttg]).max()) == vocab_size - 1
        xtr = preprocess(out, rows["train"], trak, "train")
        xtg = preprocess(out, rows["targets"], trak, "targets")
    finally:
        shutil.rmtree(tmp)

    Ssum = torch.zeros(N_TRAIN, N_TARGETS, dtype=torch.float64)
    Qsum = torch.zeros(N_TRAIN, dtype=torch.float64)
    infos = []
    for m in range(len(CKPT_SEEDS)):
        S, q, info, names, shapes = run_model(m, cfg, out, xtr, ttr, xtg, ttg)
        Ssum += S
        Qsum += q
        infos.append(info)
    M = len(CKPT_SEEDS)
    scores = (Ssum / M) * (Qsum / M)[:, None]
    np.save(os.path.join(out, "scores.npy"), scores.numpy())

    manifest = {
        "description": "TRAK scores for tiny random CLIP checkpoints computed independently in PyTorch (float64, "
                       "exact per-example gradients) by scripts/reference/trak_reference.py, following docs/math.md; "
                       "compared with the trak binary by cmd/trak/reference_e2e_test.go.",
        "torch_version": torch.__version__, "numpy_version": np.__version__,
        "settings": {
            "n_train": N_TRAIN, "n_targets": N_TARGETS, "checkpoints": M, "lambda": LAMBDA,
            "sim_batch_size": SIM_BATCH_SIZE, "projector": "none (exact gradients, k = p)",
            "negatives": "train pair i: all train rows j != i; target: all train rows",
            "finalize": "dual: K = (X X^T + lambda I)^-1 X (Cholesky), checked against the primal form via SVD",
            "context_length": ctx, "vocab_size": vocab_size, "num_merges": NUM_MERGES,
            "image_preprocess": "PIL convert('RGB'), Resize(16, BICUBIC), CenterCrop(16), ToTensor, Normalize(CLIP mean/std)",
        },
        "model_config": cfg,
        "p": infos[0]["p"],
        "params": [{"name": n, "shape": s} for n, s in zip(names, shapes)],
        "captions": {k: [c for _, c in v] for k, v in rows.items()},
        "models": infos,
        "max_abs_score": scores.abs().max().item(),
        "files": {
            "vocab.json, merges.txt": "tiny HF CLIP tokenizer: 256 byte symbols, 256 with </w>, 100 merges, start, end",
            "model.json": "open_clip model config",
            "ckpt<m>.safetensors": "float32 weights of checkpoint m (model id m)",
            "train.csv, targets.csv, img/": "data (filepath,title), PNG images",
            "tokens_train.npy, tokens_targets.npy": "(rows, 8) int64 tokens, from `trak tokenize`",
            "emb_image_<m>.npy, emb_text_<m>.npy": "(N, 8) float64 embedding table phi_j, psi_j",
            "q_<m>.npy, f_<m>.npy": "(N,) float64 Q and f of the train pairs",
            "q_targets_<m>.npy, f_targets_<m>.npy": "(T,) float64 Q and f of the targets",
            "gram_<m>.npy": "(N+T, N+T) float64 Gram matrix of the exact gradients, train rows then targets",
            "scores.npy": "(N, T) float64 TRAK scores",
        },
    }
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")

    print("vocab %d, p = %d, temperature %.6g" % (vocab_size, infos[0]["p"], infos[0]["temperature"]))
    for m, info in enumerate(infos):
        print("model %d: cond(XX^T+λI) = %.3g (eig %.3g..%.3g), |g| %.3g..%.3g, FD %d coords worst rel %.2g, "
              "dual vs primal %.2g" % (m, info["cond_XXt_plus_lambda"], *info["eig_XXt_plus_lambda"],
                                       min(info["grad_norms"]), max(info["grad_norms"]), info["fd_coords"],
                                       info["fd_worst_rel"], info["dual_vs_primal_svd_rel"]))
    print("max |score| %.4g" % scores.abs().max().item())
    total = 0
    for root, _, files in os.walk(out):
        for fn in files:
            total += os.path.getsize(os.path.join(root, fn))
    print("fixtures: %d files, %d bytes" % (sum(len(f) for _, _, f in os.walk(out)), total))
    print("all self-checks passed")


if __name__ == "__main__":
    main()
