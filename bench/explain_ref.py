#!/usr/bin/env python3
"""foil's LIME and KernelSHAP against the `lime` and `shap` packages on the
same weights, images and features (issue 16's check).

    explain_ref.py compare -m CKPT --lime DIR --kernelshap DIR [--data D]
                           [--samples 1000] [--seeds 2] [--limit N]
    explain_ref.py occlusion -m CKPT DIR [--data D]
    explain_ref.py gradshap -m CKPT DIR [--again DIR2] [--data D]

DIR: the output folder of `foil explain --method lime|kernelshap --baseline
black explain.samples=N` on the test images [0, n) (their attributions.
safetensors gives foil's feature weights, targets and segments). The
packages get foil's segment map as their segmentation (the 4x4 grid by
default), "off" = black (lime's hide_color=0; shap's background all-off),
the same N evaluations, the explained output foil explained (the target's
logit), a PyTorch copy of the checkpoint (torch_ref.py) on one thread.
Prints, per method, the median over the images of the Pearson correlation
of foil's feature weights with the package's, and the package's agreement
with itself across two seeds (the noise floor), and the package's seconds
per image (its first seed). Needs torch, numpy, lime, shap, scikit-image
(bench/README.md says how to install them outside the repo).

`occlusion` compares `foil explain --method occlusion` (DIR; its window,
stride and black baseline from the resolved config in the file) with
Captum's Occlusion (window (1, w, w), strides (1, s, s), baselines 0) on
the same images and targets: the largest difference of an attribution.

`gradshap` compares `foil explain --method gradshap` (DIR, and DIR2 run
with another explain.seed) with Captum's GradientShap (stdevs 0, the same
background of the first `background` training images, the same samples per
image, seeds 0 and 1): both are Monte Carlo estimates of one expectation,
so the check is that foil agrees with Captum as closely as each agrees with
itself (median Pearson r over the images).
"""
import argparse
import statistics
import sys
import time

import numpy as np
import torch

sys.path.insert(0, __import__("os").path.dirname(__file__))
import torch_ref  # noqa: E402


def pearson(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def foil_outputs(folder):
    t, meta = torch_ref.read_safetensors(f"{folder}/attributions.safetensors")
    return (t["indices"].long().numpy(), t["targets"].long().numpy(),
            t["segments"].numpy(), t["feature_weights"].numpy(), meta)


def logit_fn(model, target, batch=100):
    """(N, 28, 28[, 3]) numpy images -> (N, classes) logits (lime's classifier_fn)."""
    def f(images):
        x = torch.from_numpy(np.asarray(images, np.float32))
        if x.ndim == 4:
            x = x[..., 0]
        with torch.no_grad():
            return torch.cat([model(x[i:i + batch].unsqueeze(1))
                              for i in range(0, len(x), batch)]).numpy()
    return f


def lime_weights(model, image, target, seg, samples, seed):
    from lime import lime_image
    explainer = lime_image.LimeImageExplainer(random_state=seed)
    quiet = {}  # progress_bar exists in some builds of lime 0.2.0.1 and not in others
    if "progress_bar" in __import__("inspect").signature(explainer.explain_instance).parameters:
        quiet["progress_bar"] = False
    exp = explainer.explain_instance(image.astype(np.float64), logit_fn(model, target),
                                     labels=(int(target),), top_labels=None, hide_color=0,
                                     num_features=100000, num_samples=samples, batch_size=100,
                                     segmentation_fn=lambda img: seg, random_seed=seed, **quiet)
    w = np.zeros(int(seg.max()) + 1)
    for j, v in exp.local_exp[int(target)]:
        w[j] = v
    return w


def shap_weights(model, image, target, seg, samples, seed):
    import shap
    nf = int(seg.max()) + 1
    f = logit_fn(model, target)

    def masked(z):
        z = np.asarray(z)
        imgs = np.where(z[:, seg] > 0.5, image[None], 0.0)  # (N, 28, 28)
        return f(imgs)[:, int(target)]
    np.random.seed(seed)
    ex = shap.KernelExplainer(masked, np.zeros((1, nf)))
    return np.asarray(ex.shap_values(np.ones((1, nf)), nsamples=samples, l1_reg=False,
                                     silent=True)).reshape(-1)


def compare(args):
    torch.set_num_threads(1)
    model, _ = torch_ref.load_checkpoint(args.model)
    model.eval()
    x, _ = torch_ref.load_split(torch_ref.data_dir(args.data), "t10k", 0)
    rows = []
    for name, folder, fn in (("lime", args.lime, lime_weights),
                             ("kernelshap", args.kernelshap, shap_weights)):
        if not folder:
            continue
        idx, tgt, seg, fw, meta = foil_outputs(folder)
        n = min(len(idx), args.limit) if args.limit else len(idx)
        r_foil, r_self, secs = [], [], 0.0
        for i in range(n):
            image = x[idx[i], 0].numpy()
            nf = int(seg[i].max()) + 1
            t0 = time.perf_counter()
            w0 = fn(model, image, tgt[i], seg[i], args.samples, 0)
            secs += time.perf_counter() - t0
            r_foil.append(pearson(fw[i, :nf], w0))
            if args.seeds > 1:
                r_self.append(pearson(fn(model, image, tgt[i], seg[i], args.samples, 1), w0))
        med = statistics.median([r for r in r_foil if r == r])
        self_med = statistics.median([r for r in r_self if r == r]) if r_self else float("nan")
        rows.append((name, n, meta.get("samples", "?"), med, min(r_foil), self_med, secs / n))
    print("| method | images | evaluations | median Pearson r, foil vs package | min r | "
          "median r, package seed 0 vs 1 | package s/image |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, n, s, med, lo, self_med, spi in rows:
        print(f"| {name} | {n} | {s} | {med:.4f} | {lo:.4f} | {self_med:.4f} | {spi:.3f} |")


def foil_run(args):
    """The model (one torch thread), the test images, and foil's run in
    args.dir: its tensors and its explain config."""
    torch.set_num_threads(1)
    model, _ = torch_ref.load_checkpoint(args.model)
    model.eval()
    x, _ = torch_ref.load_split(torch_ref.data_dir(args.data), "t10k", 0)
    t, meta = torch_ref.read_safetensors(f"{args.dir}/attributions.safetensors")
    return model, x, t, torch_ref.yaml_load(meta["config"], "config")["explain"]


def occlusion(args):
    from captum.attr import Occlusion
    model, x, t, cfg = foil_run(args)
    if cfg.get("baseline", "black") != "black":
        raise torch_ref.RefError("occlusion: compare a run with baseline black")
    win, stride = int(cfg["window"]), int(cfg["stride"])
    idx, tgt = t["indices"].long(), t["targets"].long()
    xs = x[idx]
    t0 = time.perf_counter()
    ref = Occlusion(model).attribute(xs, sliding_window_shapes=(xs.shape[1], win, win),
                                     strides=(1, stride, stride), target=tgt, baselines=0.0,
                                     perturbations_per_eval=64)
    secs = time.perf_counter() - t0
    ours = t["attributions"]
    diff = (ours - ref).abs().max().item()
    scale = ref.abs().max().item()
    print("| images | window | stride | max abs diff | max abs attribution | captum s/image |")
    print("|---:|---:|---:|---:|---:|---:|")
    print(f"| {len(idx)} | {win} | {stride} | {diff:.3e} | {scale:.3e} | {secs / len(idx):.3f} |")


def gradshap(args):
    """foil's GradientSHAP (two runs with different seeds: DIR and --again)
    next to Captum's GradientShap (stdevs 0, the same background: the first
    `background` training images, the same samples per image, two seeds):
    both estimate E_{b, alpha}[(x - b) dF/dx(b + alpha (x - b))], so foil vs
    Captum should agree as well as each agrees with itself."""
    from captum.attr import GradientShap
    model, x, t, cfg = foil_run(args)
    samples, nbg = int(cfg["samples"]), int(cfg["background"])
    bg, _ = torch_ref.load_split(torch_ref.data_dir(args.data), "train", nbg)
    idx, tgt = t["indices"].long(), t["targets"].long()
    ours = t["attributions"].reshape(len(idx), -1).numpy()
    again = None
    if args.again:
        t2, _ = torch_ref.read_safetensors(f"{args.again}/attributions.safetensors")
        again = t2["attributions"].reshape(len(idx), -1).numpy()
    gs = GradientShap(model)
    ref = []
    t0 = time.perf_counter()
    for seed in (0, 1):
        torch.manual_seed(seed)
        ref.append(np.concatenate([
            gs.attribute(x[idx[i:i + 1]], baselines=bg, n_samples=samples, stdevs=0.0,
                         target=int(tgt[i])).reshape(1, -1).detach().numpy()
            for i in range(len(idx))]))
    secs = (time.perf_counter() - t0) / 2
    n = len(idx)
    r_fc = [pearson(ours[i], ref[0][i]) for i in range(n)]
    r_cc = [pearson(ref[1][i], ref[0][i]) for i in range(n)]
    r_ff = [pearson(ours[i], again[i]) for i in range(n)] if again is not None else []
    mean_f, mean_c = np.abs(ours).sum(1).mean(), np.abs(ref[0]).sum(1).mean()
    print("| images | samples | background | median r, foil vs Captum | median r, Captum seed 0 "
          "vs 1 | median r, foil seed vs seed | mean sum abs, foil / Captum | captum s/image |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    ff = f"{statistics.median(r_ff):.4f}" if r_ff else "-"
    print(f"| {n} | {samples} | {nbg} | {statistics.median(r_fc):.4f} | "
          f"{statistics.median(r_cc):.4f} | {ff} | {mean_f / mean_c:.4f} | {secs / n:.3f} |")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("compare")
    c.add_argument("-m", "--model", required=True)
    c.add_argument("--lime")
    c.add_argument("--kernelshap")
    c.add_argument("--data")
    c.add_argument("--samples", type=int, default=1000)
    c.add_argument("--seeds", type=int, default=2)
    c.add_argument("--limit", type=int, default=0)
    o = sub.add_parser("occlusion")
    o.add_argument("-m", "--model", required=True)
    o.add_argument("dir")
    o.add_argument("--data")
    g = sub.add_parser("gradshap")
    g.add_argument("-m", "--model", required=True)
    g.add_argument("dir")
    g.add_argument("--again", help="a second foil run with another explain.seed")
    g.add_argument("--data")
    args = p.parse_args()
    try:
        {"compare": compare, "occlusion": occlusion, "gradshap": gradshap}[args.cmd](args)
    except torch_ref.RefError as e:
        print(f"explain_ref: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
