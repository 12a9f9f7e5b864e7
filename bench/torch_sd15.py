#!/usr/bin/env python3
"""Side-by-side SD1.5 benchmark: PyTorch eager CPU against comfyui-ipex, in one run.

The PyTorch peer is an SD1.5 UNet, VAE decoder and CLIP-L text encoder written here in
plain torch.nn (LDM key names, so the synthetic checkpoint loads as it is), the way
ComfyUI's own modules compute them on the CPU. `--verify` first checks the peer against
the ComfyUI fixtures, so the two sides are known to run the same model.

    bench/torch_sd15.py --ckpt build/sd15-synth.safetensors [--size 512] [--steps 20]
                        [--precisions fp32,bf16] [--threads N] [--skip-full] [--verify]
                        [--rounds N]
                        [--opt-level N] [--jit] [--json FILE]

fp32 is plain eager; bf16 is torch.autocast(cpu, bfloat16), the way ComfyUI runs bf16 on
CPU. The comfyui-ipex side is `build/ipex-benchmark --sd-only --json` with the same
settings; the script prints both and the ratio torch_time / ipex_time (>1: ipex faster).
"""
import argparse
import json
import math
import mmap
import os
import statistics
import struct
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# ---------------------------------------------------------------------------------------
# safetensors without the safetensors package (Debian has none): header + numpy views.

_DT = {"F32": np.float32, "F16": np.float16, "BF16": None, "I64": np.int64, "I32": np.int32}


def load_safetensors(path):
    f = open(path, "rb")
    mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    n = struct.unpack("<Q", mm[:8])[0]
    header = json.loads(mm[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        arr = np.frombuffer(mm, dtype=_DT[info["dtype"]], count=(e - b) // np.dtype(_DT[info["dtype"]]).itemsize,
                            offset=base + b).reshape(info["shape"])
        out[name] = arr
    return out


# ---------------------------------------------------------------------------------------
# Model pieces, named as the LDM checkpoint names them.

def sdpa(q, k, v, attn_mask=None):
    """torch's fused attention where it exists (2.x); torch 1.13 (Debian 12) has none."""
    if hasattr(F, "scaled_dot_product_attention"):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
    s = q @ k.transpose(-1, -2) * q.shape[-1] ** -0.5
    if attn_mask is not None:
        s = s + attn_mask
    return s.softmax(-1) @ v


class GroupNorm32(nn.GroupNorm):
    """Normalizes in fp32 under autocast, as torch 2.x's CPU autocast does by itself;
    torch 1.13 would hand bf16 activations to fp32 weights and fail."""

    def forward(self, x):
        return F.group_norm(x.float(), self.num_groups, self.weight, self.bias, self.eps).to(x.dtype)


class LayerNorm32(nn.LayerNorm):
    def forward(self, x):
        return F.layer_norm(x.float(), self.normalized_shape, self.weight, self.bias, self.eps).to(x.dtype)


def gn(c, eps):
    return GroupNorm32(32, c, eps=eps)


class ResBlock(nn.Module):
    def __init__(self, cin, cout, emb=1280):
        super().__init__()
        self.in_layers = nn.Sequential(gn(cin, 1e-5), nn.SiLU(), nn.Conv2d(cin, cout, 3, padding=1))
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb, cout))
        self.out_layers = nn.Sequential(gn(cout, 1e-5), nn.SiLU(), nn.Identity(), nn.Conv2d(cout, cout, 3, padding=1))
        self.skip_connection = nn.Identity() if cin == cout else nn.Conv2d(cin, cout, 1)

    def forward(self, x, emb):
        h = self.in_layers(x)
        h = h + self.emb_layers(emb)[:, :, None, None]
        return self.skip_connection(x) + self.out_layers(h)


class Attention(nn.Module):
    def __init__(self, dim, ctx, heads):
        super().__init__()
        self.heads = heads
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_k = nn.Linear(ctx, dim, bias=False)
        self.to_v = nn.Linear(ctx, dim, bias=False)
        self.to_out = nn.Sequential(nn.Linear(dim, dim))

    def forward(self, x, c=None):
        c = x if c is None else c
        b, n, d = x.shape
        h = self.heads
        q, k, v = (t.view(b, -1, h, d // h).transpose(1, 2) for t in (self.to_q(x), self.to_k(c), self.to_v(c)))
        o = sdpa(q, k, v)
        return self.to_out(o.transpose(1, 2).reshape(b, n, d))


class GEGLU(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.proj = nn.Linear(dim, dim * 8)

    def forward(self, x):
        a, g = self.proj(x).chunk(2, dim=-1)
        return a * F.gelu(g)


class TBlock(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.attn1 = Attention(dim, dim, heads)
        self.attn2 = Attention(dim, 768, heads)
        self.ff = nn.Module()
        self.ff.net = nn.Sequential(GEGLU(dim), nn.Identity(), nn.Linear(dim * 4, dim))
        self.norm1, self.norm2, self.norm3 = LayerNorm32(dim), LayerNorm32(dim), LayerNorm32(dim)

    def forward(self, x, c):
        x = x + self.attn1(self.norm1(x))
        x = x + self.attn2(self.norm2(x), c)
        return x + self.ff.net(self.norm3(x))


class SpatialTransformer(nn.Module):
    def __init__(self, dim, heads=8):
        super().__init__()
        self.norm = gn(dim, 1e-6)
        self.proj_in = nn.Conv2d(dim, dim, 1)
        self.transformer_blocks = nn.ModuleList([TBlock(dim, heads)])
        self.proj_out = nn.Conv2d(dim, dim, 1)

    def forward(self, x, c):
        b, ch, h, w = x.shape
        y = self.proj_in(self.norm(x)).flatten(2).transpose(1, 2)
        for blk in self.transformer_blocks:
            y = blk(y, c)
        return x + self.proj_out(y.transpose(1, 2).reshape(b, ch, h, w))


class Down(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.op = nn.Conv2d(c, c, 3, stride=2, padding=1)

    def forward(self, x):
        return self.op(x)


class Up(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Seq(nn.ModuleList):
    def forward(self, x, emb, c):
        for m in self:
            if isinstance(m, ResBlock):
                x = m(x, emb)
            elif isinstance(m, SpatialTransformer):
                x = m(x, c)
            else:
                x = m(x)
        return x


class UNet(nn.Module):
    """openaimodel.UNetModel with the SD1.5 configuration."""

    def __init__(self):
        super().__init__()
        self.time_embed = nn.Sequential(nn.Linear(320, 1280), nn.SiLU(), nn.Linear(1280, 1280))
        mult, ch = [1, 2, 4, 4], 320
        self.input_blocks = nn.ModuleList([Seq([nn.Conv2d(4, 320, 3, padding=1)])])
        chans, cur = [320], 320
        for lvl, m in enumerate(mult):
            for _ in range(2):
                blk = [ResBlock(cur, ch * m)]
                cur = ch * m
                if lvl < 3:
                    blk.append(SpatialTransformer(cur))
                self.input_blocks.append(Seq(blk))
                chans.append(cur)
            if lvl < 3:
                self.input_blocks.append(Seq([Down(cur)]))
                chans.append(cur)
        self.middle_block = Seq([ResBlock(1280, 1280), SpatialTransformer(1280), ResBlock(1280, 1280)])
        self.output_blocks = nn.ModuleList()
        for lvl, m in reversed(list(enumerate(mult))):
            for i in range(3):
                blk = [ResBlock(cur + chans.pop(), ch * m)]
                cur = ch * m
                if lvl < 3:
                    blk.append(SpatialTransformer(cur))
                if lvl > 0 and i == 2:
                    blk.append(Up(cur))
                self.output_blocks.append(Seq(blk))
        self.out = nn.Sequential(gn(320, 1e-5), nn.SiLU(), nn.Conv2d(320, 4, 3, padding=1))

    def forward(self, x, t, c):
        half = 160
        freqs = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32) / half)
        args = t[:, None].float() * freqs[None]
        emb = self.time_embed(torch.cat([torch.cos(args), torch.sin(args)], dim=-1))
        hs, h = [], x
        for blk in self.input_blocks:
            h = blk(h, emb, c)
            hs.append(h)
        h = self.middle_block(h, emb, c)
        for blk in self.output_blocks:
            h = blk(torch.cat([h, hs.pop()], dim=1), emb, c)
        return self.out(h)


class VResBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.norm1, self.conv1 = gn(cin, 1e-6), nn.Conv2d(cin, cout, 3, padding=1)
        self.norm2, self.conv2 = gn(cout, 1e-6), nn.Conv2d(cout, cout, 3, padding=1)
        if cin != cout:
            self.nin_shortcut = nn.Conv2d(cin, cout, 1)

    def forward(self, x):
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return (self.nin_shortcut(x) if hasattr(self, "nin_shortcut") else x) + h


class VAttn(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.norm = gn(c, 1e-6)
        self.q, self.k, self.v, self.proj_out = (nn.Conv2d(c, c, 1) for _ in range(4))

    def forward(self, x):
        b, c, h, w = x.shape
        n = self.norm(x)
        q, k, v = (m(n).flatten(2).transpose(1, 2)[:, None] for m in (self.q, self.k, self.v))
        o = sdpa(q, k, v)[:, 0].transpose(1, 2).reshape(b, c, h, w)
        return x + self.proj_out(o)


class Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv_in = nn.Conv2d(4, 512, 3, padding=1)
        self.mid = nn.Module()
        self.mid.block_1, self.mid.attn_1, self.mid.block_2 = VResBlock(512, 512), VAttn(512), VResBlock(512, 512)
        self.up = nn.ModuleList([nn.Module() for _ in range(4)])
        chans, cur = [128, 256, 512, 512], 512
        for i in reversed(range(4)):  # the decoder runs up.3 first; keys keep the level index
            lvl = self.up[i]
            lvl.block = nn.ModuleList()
            for _ in range(3):
                lvl.block.append(VResBlock(cur, chans[i]))
                cur = chans[i]
            if i > 0:
                lvl.upsample = Up(cur)
        self.norm_out, self.conv_out = gn(128, 1e-6), nn.Conv2d(128, 3, 3, padding=1)

    def forward(self, z):
        h = self.mid.block_2(self.mid.attn_1(self.mid.block_1(self.conv_in(z))))
        for i in reversed(range(4)):
            for b in self.up[i].block:
                h = b(h)
            if i > 0:
                h = self.up[i].upsample(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class VAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.decoder = Decoder()
        self.post_quant_conv = nn.Conv2d(4, 4, 1)

    def decode(self, z):
        return ((self.decoder(self.post_quant_conv(z)) + 1) / 2).clamp(0, 1)


class CLIPLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.self_attn = nn.Module()
        for n in ("q_proj", "k_proj", "v_proj", "out_proj"):
            setattr(self.self_attn, n, nn.Linear(768, 768))
        self.layer_norm1, self.layer_norm2 = LayerNorm32(768), LayerNorm32(768)
        self.mlp = nn.Module()
        self.mlp.fc1, self.mlp.fc2 = nn.Linear(768, 3072), nn.Linear(3072, 768)

    def forward(self, x, mask):
        a = self.self_attn
        b, n, d = x.shape
        y = self.layer_norm1(x)
        q, k, v = (p(y).view(b, n, 12, 64).transpose(1, 2) for p in (a.q_proj, a.k_proj, a.v_proj))
        o = sdpa(q, k, v, attn_mask=mask)
        x = x + a.out_proj(o.transpose(1, 2).reshape(b, n, d))
        h = self.mlp.fc1(self.layer_norm2(x))
        return x + self.mlp.fc2(h * torch.sigmoid(1.702 * h))


class CLIPText(nn.Module):
    def __init__(self):
        super().__init__()
        self.embeddings = nn.Module()
        self.embeddings.token_embedding = nn.Embedding(49408, 768)
        self.embeddings.position_embedding = nn.Embedding(77, 768)
        self.encoder = nn.Module()
        self.encoder.layers = nn.ModuleList([CLIPLayer() for _ in range(12)])
        self.final_layer_norm = LayerNorm32(768)

    def forward(self, ids):
        x = self.embeddings.token_embedding(ids) + self.embeddings.position_embedding.weight[None]
        mask = torch.full((77, 77), float("-inf")).triu(1)
        for layer in self.encoder.layers:
            x = layer(x, mask)
        return self.final_layer_norm(x)


def bind(module, sd, prefix):
    """Load the checkpoint's tensors under `prefix` into `module`, F16 widened to F32."""
    own = module.state_dict()
    missing = [k for k in own if prefix + k not in sd]
    if missing:
        raise SystemExit(f"checkpoint lacks {len(missing)} keys under {prefix}, e.g. {missing[:3]}")
    module.load_state_dict({k: torch.from_numpy(np.asarray(sd[prefix + k], dtype=np.float32)) for k in own})
    return module.eval()


# ---------------------------------------------------------------------------------------
# The schedule and a 20-step Euler loop with CFG, as ComfyUI's KSampler runs it.

def sigma_table():
    b = torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, dtype=torch.float64) ** 2
    ac = torch.cumprod(1 - b, 0)
    return ((1 - ac) / ac).sqrt().float()


def timestep(sig, table):
    return (table.log() - math.log(sig)).abs().argmin().float()


def denoise(unet, x, sig, table, ctx, cfg):
    xin = torch.cat([x, x]) / math.sqrt(sig * sig + 1)
    t = timestep(sig, table).repeat(2)
    eps = unet(xin, t, ctx).float()
    d = torch.cat([x, x]) - eps * sig
    cond, uncond = d.chunk(2)
    return uncond + (cond - uncond) * cfg


def full_image(models, size, steps, ids):
    unet, vae, clip = models
    table = sigma_table()
    ctx = clip(ids)  # (2, 77, 768): positive and negative prompt, one CFG batch
    lat = size // 8
    x = torch.randn(1, 4, lat, lat, generator=torch.Generator().manual_seed(42))
    t = torch.linspace(999, 0, steps + 1)[:-1]
    sigmas = [float(torch.exp(torch.lerp(table.log()[int(math.floor(v))], table.log()[int(math.ceil(v))], v - math.floor(v)))) for v in t] + [0.0]
    x = x * sigmas[0]
    for i in range(steps):
        d = denoise(unet, x, sigmas[i], table, ctx, 7.0)
        x = x + (x - d) / sigmas[i] * (sigmas[i + 1] - sigmas[i])
    return vae.decode(x / 0.18215)


def timed(fn, reps):
    fn()  # warm-up: first-call allocations and kernel selection
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t0) / reps


def peak_rss_mb():
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def verify(unet, shared):
    fx = load_safetensors(os.path.join(shared, "fixtures/sd15/unet.safetensors"))
    ctx = torch.cat([torch.from_numpy(np.array(fx["unet.context_positive"])),
                     torch.from_numpy(np.array(fx["unet.context_negative"]))])
    worst = 0.0
    for s in ("s0", "s1", "s2"):
        x = torch.from_numpy(np.array(fx[f"unet.{s}.unet_input_xc"]))
        t = torch.from_numpy(np.array(fx[f"unet.{s}.unet_timestep"])).float().reshape(-1)
        with torch.inference_mode():
            eps = unet(torch.cat([x, x]), t.expand(2), ctx)
        ref = torch.cat([torch.from_numpy(np.array(fx[f"unet.{s}.eps_cond"])),
                         torch.from_numpy(np.array(fx[f"unet.{s}.eps_uncond"]))])
        err = float((eps - ref).abs().max() / ref.abs().max())
        worst = max(worst, err)
    print(f"verify: torch peer vs ComfyUI UNet fixtures, max error / scale = {worst:.2e}")
    if worst > 1e-3:
        raise SystemExit("the torch peer does not compute ComfyUI's UNet; numbers would not compare")


def ipex_side(args, prec, skip_full):
    exe = os.path.join(ROOT, args.build, "ipex-benchmark")
    cmd = [exe, "--sd-only", "--json", "--ckpt", args.ckpt, "--size", str(args.size), "--steps", str(args.steps),
           "--precision", prec, "--threads", str(args.threads), "--opt-level", str(args.opt_level),
           "--iters", str(args.reps)]
    if skip_full:
        cmd.append("--skip-full")
    if args.jit:
        cmd.append("--jit")
    # From the repository root, so the benchmark finds ../shared/tokenizer/sd1 as it does from make.
    run = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if run.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {run.returncode}:\n{run.stderr[-2000:]}")
    return json.loads(run.stdout)["sd"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", default=os.path.join(ROOT, "build/sd15-synth.safetensors"), type=os.path.abspath)
    ap.add_argument("--shared", default=os.path.join(ROOT, "..", "shared"))
    ap.add_argument("--build", default="build")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=1,
                    help="UNet step pairs (ours, then torch's), alternating; ratios are medians "
                         "(rounds after the first run ours while torch holds its weights)")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--precisions", default="fp32,bf16")
    ap.add_argument("--skip-full", action="store_true", help="UNet step only, no full image")
    ap.add_argument("--skip-ipex", action="store_true")
    ap.add_argument("--opt-level", type=int, default=2, help="comfyui-ipex --opt-level (0-3)")
    ap.add_argument("--jit", action="store_true", help="comfyui-ipex creates its primitives before the first step")
    ap.add_argument("--verify", action="store_true")
    ap.add_argument("--json", help="write all figures to this file")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    precs = args.precisions.split(",")
    for prec in precs:
        if prec not in ("fp32", "bf16"):
            raise SystemExit(f"torch peer: precision {prec} not offered (fp32, bf16)")
    # comfyui-ipex first, before this process holds its own copy of the weights, so the
    # two never need memory at the same time (with --rounds, the later rounds of ours do
    # run while torch holds its weights: both peaks at once).
    ipex = {} if args.skip_ipex else {p: [ipex_side(args, p, args.skip_full)] for p in precs}

    sd = load_safetensors(args.ckpt)
    unet = bind(UNet(), sd, "model.diffusion_model.")
    vae = bind(VAE(), sd, "first_stage_model.")
    clip = bind(CLIPText(), sd, "cond_stage_model.transformer.text_model.")
    if args.verify:
        verify(unet, args.shared)

    lat = args.size // 8
    x = torch.randn(2, 4, lat, lat)
    t = torch.tensor([999.0, 999.0])
    ctx = torch.randn(2, 77, 768)
    ids = torch.tensor([[49406] + [320] * 10 + [49407] * 66, [49406] + [321] * 3 + [49407] * 73])
    report = {"torch": torch.__version__, "threads": args.threads, "size": args.size, "steps": args.steps, "rows": []}
    print(f"torch {torch.__version__}, {args.threads} threads, {args.size}x{args.size}, CFG batch 2")
    for prec in precs:
        auto = torch.autocast("cpu", dtype=torch.bfloat16, enabled=(prec == "bf16"))
        # The shared machine's speed drifts between minutes: each round times both sides
        # back to back, and the figures are medians over rounds (ours runs while torch idles).
        steps = []
        with torch.inference_mode(), auto:
            steps.append(timed(lambda: unet(x, t, ctx), args.reps))
            img = None if args.skip_full else timed(lambda: full_image((unet, vae, clip), args.size, args.steps, ids), 1)
            for _ in range(1, args.rounds):
                if not args.skip_ipex:
                    ipex[prec].append(ipex_side(args, prec, True))
                steps.append(timed(lambda: unet(x, t, ctx), args.reps))
        row = {"precision": prec, "torch_step_s": statistics.median(steps), "torch_image_s": img,
               "torch_peak_rss_mb": peak_rss_mb()}
        if not args.skip_ipex:
            ip, ours = ipex[prec][0], [r["unet_step_s"] for r in ipex[prec]]
            row.update({"ipex_step_s": statistics.median(ours), "ipex_image_s": ip.get("image_s"),
                        "ipex_first_image_s": ip.get("first_image_s"), "ipex_peak_rss_mb": ip.get("peak_rss_mb"),
                        "ipex_gflops": ip.get("unet_gflops"),
                        "step_ratio": statistics.median(t / o for t, o in zip(steps, ours)),
                        "rounds": [{"torch_step_s": t, "ipex_step_s": o} for t, o in zip(steps, ours)]})
            if img and ip.get("image_s"):
                row["image_ratio"] = img / ip["image_s"]
        report["rows"].append(row)
        print(json.dumps(row))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
