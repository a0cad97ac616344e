#!/usr/bin/env python3
"""PyTorch reference for foil: the same networks, attacks and explanations,
for checking foil's results and timing its CUDA backend against PyTorch.

    python3 bench/torch_ref.py eval   -m runs/quickstart/model.safetensors
    python3 bench/torch_ref.py train  -c configs/quickstart.yaml -o /tmp/qs.safetensors
    python3 bench/torch_ref.py attack -m CKPT --attack pgd --eps 0,0.1,0.3 --steps 40 --step 0.01
    python3 bench/torch_ref.py ig     -m CKPT --limit 100 --steps 64
    python3 bench/torch_ref.py bench  [MODEL.yaml | CKPT ...]

`python3 bench/torch_ref.py COMMAND --help` says more. Needs Python 3.10+ and
torch only (no numpy, PyYAML or safetensors package). Runs on CUDA when a GPU
is usable, else on the CPU (--device picks).

What it mirrors from foil (same arithmetic up to float rounding):
- checkpoints: safetensors, parameters named as nn.Sequential ("3.weight"),
  conv (K, C, R, S), dense (out, in), the model definition as YAML in
  __metadata__["model"] (host/nn/model_def.c); files written by `train -o` load
  in foil (`foil eval -m FILE`);
- layers: conv2d with TensorFlow's 'same' padding (out = ceil(in / stride),
  the odd pixel of padding bottom/right: an explicit F.pad where it is
  asymmetric), valid or explicit padding, maxpool (floor), relu, flatten,
  dense, inverted dropout (host/nn/model.c, host/nn/net.c);
- foil's Philox4x32-10 streams (include/foil/philox.h) with --rng foil (the
  default): initial weights (train --init foil), the shuffle of each epoch,
  dropout masks and PGD random starts are the numbers foil draws;
- training: mean softmax cross-entropy, Adam (AdamW with weight decay) or SGD
  as torch.optim, lr * lr_decay ** ((epoch - 1) // lr_decay_epochs);
- attacks: summed cross-entropy of the true label, x += step * sign(grad),
  projected onto the eps-box and [0, 1]; the PGD step defaults to
  2.5 eps / steps (host/attack/attack.c);
- Integrated Gradients: the quadrature of host/explain/explain_quad.c (Gauss-Legendre
  by Newton from Tricomi's guess, or left/right/midpoint/trapezoid), path
  points base + a (x - base), attributions sum_k w_k grad_k * (x - base), and
  the completeness error as foil reports it (host/explain/explain.c).
"""
from __future__ import annotations

import argparse
import ctypes
import datetime
import gzip
import json
import math
import os
import platform
import re
import struct
import sys
import time
import warnings

try:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*NumPy.*")
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
except ImportError:
    sys.stderr.write("torch_ref: PyTorch is not installed (pip install torch)\n")
    sys.exit(1)

PROG = "torch_ref"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_MODELS = ["configs/models/madry.yaml", "configs/models/cleverhans.yaml"]


class RefError(Exception):
    """A user-facing error: printed as one line, exit status 1."""


# --------------------------------------------------------------------------
# A small YAML subset: block maps and lists, flow [..] and {..}, scalars,
# comments. Enough for foil's configs and the model YAML in checkpoints.
# --------------------------------------------------------------------------

def _strip_comment(line: str) -> str:
    quote = None
    for i, c in enumerate(line):
        if quote:
            if c == quote:
                quote = None
        elif c in "'\"":
            quote = c
        elif c == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i]
    return line


def _depth(s: str) -> int:
    d, quote = 0, None
    for c in s:
        if quote:
            quote = None if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c in "[{":
            d += 1
        elif c in "]}":
            d -= 1
    return d


_INT = re.compile(r"^[-+]?[0-9]+$")
_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")


def _scalar(tok: str):
    if tok in ("true", "True", "TRUE"):
        return True
    if tok in ("false", "False", "FALSE"):
        return False
    if tok in ("null", "Null", "NULL", "~", ""):
        return None
    if _INT.match(tok):
        return int(tok)
    if _FLOAT.match(tok):
        return float(tok)
    if tok in (".inf", "+.inf", "-.inf", ".nan"):
        return float(tok.replace(".", ""))
    return tok


class _Flow:
    """Recursive descent over a flow collection or scalar: [a, {b: c}]."""

    def __init__(self, text: str, where: str):
        self.s, self.i, self.where = text, 0, where

    def fail(self, msg):
        raise RefError(f"{self.where}: {msg} in '{self.s}'")

    def ws(self):
        while self.i < len(self.s) and self.s[self.i] == " ":
            self.i += 1

    def quoted(self):
        q = self.s[self.i]
        j = self.s.find(q, self.i + 1)
        if j < 0:
            self.fail("unterminated string")
        text = self.s[self.i + 1:j]
        self.i = j + 1
        return text.encode().decode("unicode_escape") if q == '"' else text

    def bare(self, stops):
        j = self.i
        while j < len(self.s) and self.s[j] not in stops:
            if self.s[j] == ":" and ":" in stops and (j + 1 == len(self.s) or self.s[j + 1] == " "):
                break
            j += 1
        tok = self.s[self.i:j].strip()
        self.i = j
        return tok

    def value(self, stops=",]}"):
        self.ws()
        if self.i >= len(self.s):
            return None
        c = self.s[self.i]
        if c == "[":
            self.i += 1
            out = []
            self.ws()
            if self.s[self.i:self.i + 1] == "]":
                self.i += 1
                return out
            while True:
                out.append(self.value())
                self.ws()
                c = self.s[self.i:self.i + 1]
                self.i += 1
                if c == "]":
                    return out
                if c != ",":
                    self.fail("expected ',' or ']'")
        if c == "{":
            self.i += 1
            out = {}
            self.ws()
            if self.s[self.i:self.i + 1] == "}":
                self.i += 1
                return out
            while True:
                self.ws()
                key = self.quoted() if self.s[self.i:self.i + 1] in ("'", '"') else self.bare(":,}")
                self.ws()
                if self.s[self.i:self.i + 1] != ":":
                    self.fail(f"expected ':' after '{key}'")
                self.i += 1
                out[key] = self.value()
                self.ws()
                c = self.s[self.i:self.i + 1]
                self.i += 1
                if c == "}":
                    return out
                if c != ",":
                    self.fail("expected ',' or '}'")
        if c in "'\"":
            return self.quoted()
        return _scalar(self.bare(stops))


def _flow_value(text: str, where: str):
    p = _Flow(text, where)
    v = p.value(stops="")
    p.ws()
    if p.i != len(text):
        p.fail("unexpected text after the value")
    return v


def _split_key(s: str):
    """'key: value' -> (key, value); None when s is not a map entry."""
    quote, d = None, 0
    for i, c in enumerate(s):
        if quote:
            quote = None if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c in "[{":
            d += 1
        elif c in "]}":
            d -= 1
        elif c == ":" and d == 0 and (i + 1 == len(s) or s[i + 1] == " "):
            key = s[:i].strip()
            if key[:1] in ("'", '"') and key[-1:] == key[:1]:
                key = key[1:-1]
            return key, s[i + 1:].strip()
    return None


def yaml_load(text: str, where: str = "yaml"):
    lines = []
    for no, raw in enumerate(text.splitlines(), 1):
        s = _strip_comment(raw).rstrip()
        body = s.lstrip(" ")
        if not body or body in ("---", "..."):
            continue
        if body.startswith("\t"):
            raise RefError(f"{where}:{no}: tabs are not allowed for indentation")
        lines.append([no, len(s) - len(body), body])
    joined = []  # flow collections may span lines
    i = 0
    while i < len(lines):
        no, ind, s = lines[i]
        while _depth(s) > 0 and i + 1 < len(lines):
            i += 1
            s += " " + lines[i][2]
        joined.append([no, ind, s])
        i += 1
    if not joined:
        return None
    if len(joined) == 1 and _split_key(joined[0][2]) is None and not joined[0][2].startswith("-"):
        return _flow_value(joined[0][2], where)
    value, pos = _block(joined, 0, joined[0][1], where)
    if pos != len(joined):
        raise RefError(f"{where}:{joined[pos][0]}: unexpected indentation")
    return value


def _block(lines, pos, indent, where):
    no, _, s = lines[pos]
    if s == "-" or s.startswith("- "):
        out = []
        while pos < len(lines) and lines[pos][1] == indent and (
                lines[pos][2] == "-" or lines[pos][2].startswith("- ")):
            no, _, s = lines[pos]
            rest = s[1:].strip()
            if not rest:
                if pos + 1 >= len(lines) or lines[pos + 1][1] <= indent:
                    out.append(None)
                    pos += 1
                    continue
                v, pos = _block(lines, pos + 1, lines[pos + 1][1], where)
            elif _split_key(rest) is not None and rest[0] not in "[{'\"":
                # "- key: value": a map whose first entry sits on the dash line
                lines[pos] = [no, indent + s.index(rest), rest]
                v, pos = _block(lines, pos, indent + s.index(rest), where)
            else:
                v, pos = _flow_value(rest, f"{where}:{no}"), pos + 1
            out.append(v)
        return out, pos
    out = {}
    while pos < len(lines) and lines[pos][1] == indent:
        no, _, s = lines[pos]
        kv = _split_key(s)
        if kv is None:
            raise RefError(f"{where}:{no}: expected 'key: value', got '{s}'")
        key, rest = kv
        if rest:
            out[key] = _flow_value(rest, f"{where}:{no}")
            pos += 1
        elif pos + 1 < len(lines) and lines[pos + 1][1] > indent:
            out[key], pos = _block(lines, pos + 1, lines[pos + 1][1], where)
        elif pos + 1 < len(lines) and lines[pos + 1][1] == indent and lines[pos + 1][2].startswith("-"):
            out[key], pos = _block(lines, pos + 1, indent, where)  # list at the key's indent
        else:
            out[key] = None
            pos += 1
    return out, pos


# --------------------------------------------------------------------------
# safetensors, by hand (little-endian hosts)
# --------------------------------------------------------------------------

_ST_DTYPES = {"F32": torch.float32, "F64": torch.float64, "F16": torch.float16,
              "BF16": torch.bfloat16, "I64": torch.int64, "I32": torch.int32,
              "U8": torch.uint8, "I8": torch.int8}


def read_safetensors(path: str):
    """Returns ({name: tensor}, {metadata key: string})."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise RefError(f"{path}: {e.strerror}") from None
    if len(data) < 8:
        raise RefError(f"{path}: too short for a safetensors file")
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        raise RefError(f"{path}: not a safetensors file (header length {n} is past the end of the file)")
    try:
        header = json.loads(data[8:8 + n])
    except ValueError as e:
        raise RefError(f"{path}: bad safetensors header: {e}") from None
    meta = header.pop("__metadata__", None) or {}
    tensors = {}
    for name, info in header.items():
        dt = _ST_DTYPES.get(info.get("dtype"))
        if dt is None:
            raise RefError(f"{path}: tensor {name}: unsupported dtype {info.get('dtype')}")
        shape = [int(d) for d in info["shape"]]
        b, e = info["data_offsets"]
        buf = bytearray(data[8 + n + b:8 + n + e])
        count = math.prod(shape)
        if len(buf) != count * torch.empty(0, dtype=dt).element_size():
            raise RefError(f"{path}: tensor {name}: shape/size mismatch")
        t = torch.frombuffer(buf, dtype=dt) if count else torch.empty(0, dtype=dt)
        tensors[name] = t.reshape(shape)
    return tensors, meta


def write_safetensors(path: str, tensors: dict, meta: dict):
    """Writes float32 tensors and string metadata, atomically."""
    header, blobs, off = {}, [], 0
    if meta:
        header["__metadata__"] = {k: str(v) for k, v in meta.items()}
    for name, t in tensors.items():
        t = t.detach().to("cpu", torch.float32).contiguous()
        blob = ctypes.string_at(t.data_ptr(), t.numel() * 4) if t.numel() else b""
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(blob)]}
        blobs.append(blob)
        off += len(blob)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


# --------------------------------------------------------------------------
# Philox4x32-10 (include/foil/philox.h), vectorised on int64 tensors that
# hold 32-bit words; products are split so that nothing overflows int64.
# --------------------------------------------------------------------------

_U32 = 0xFFFFFFFF
RNG_INIT, RNG_SHUFFLE, RNG_DROPOUT, RNG_ATTACK = 1, 2, 3, 4


def foil_stream(tag: int, ident: int) -> int:
    return (tag << 56) | (ident & 0x00FFFFFFFFFFFFFF)


def _mulhilo(a, m: int):
    p_lo, p_hi = (a & 0xFFFF) * m, (a >> 16) * m  # both < 2^48
    return (p_hi + (p_lo >> 16)) >> 16, (((p_hi & 0xFFFF) << 16) + p_lo) & _U32


def philox_block(seed: int, stream, block):
    """The 4 words of Philox(key = seed, counter = (block, stream)); stream
    and block are int64 tensors (broadcast) or ints."""
    c0, c1 = block & _U32, (block >> 32) & _U32
    c2, c3 = stream & _U32, (stream >> 32) & _U32
    k0, k1 = seed & _U32, (seed >> 32) & _U32
    for _ in range(10):
        hi0, lo0 = _mulhilo(c0, 0xD2511F53)
        hi1, lo1 = _mulhilo(c2, 0xCD9E8D57)
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
        k0, k1 = (k0 + 0x9E3779B9) & _U32, (k1 + 0xBB67AE85) & _U32
    return c0, c1, c2, c3


def philox_u32(seed: int, streams, count: int, device="cpu"):
    """Words 0..count-1 of each stream: (len(streams), count) int64 tensor."""
    nb = (count + 3) // 4
    s = torch.as_tensor(list(streams), dtype=torch.int64, device=device).unsqueeze(1)
    block = torch.arange(nb, dtype=torch.int64, device=device).unsqueeze(0)
    words = philox_block(seed, s, block)
    words = [w.expand(s.shape[0], nb) for w in words]
    return torch.stack(words, dim=-1).reshape(s.shape[0], 4 * nb)[:, :count]


def philox_uniform(seed: int, streams, count: int, device="cpu"):
    """foil_rng_uniform: 24-bit uniforms in [0, 1), float32."""
    return (philox_u32(seed, streams, count, device) >> 8).to(torch.float32) * (1.0 / 16777216.0)


def foil_shuffle(n: int, seed: int, epoch: int) -> list[int]:
    """host/train/train.c shuffle(): Fisher-Yates keyed by (seed, epoch)."""
    perm = list(range(n))
    if n < 2:
        return perm
    u = philox_u32(seed, [foil_stream(RNG_SHUFFLE, epoch)], n - 1)[0].tolist()
    for i in range(n - 1, 0, -1):
        j = (u[n - 1 - i] * (i + 1)) >> 32
        perm[i], perm[j] = perm[j], perm[i]
    return perm


# --------------------------------------------------------------------------
# Model definitions and the network
# --------------------------------------------------------------------------

LAYER_KINDS = ("conv2d", "maxpool", "relu", "flatten", "dense", "dropout")
_LAYER_KEYS = {"conv2d": {"filters", "kernel", "stride", "padding"}, "maxpool": {"size", "stride"},
               "dense": {"units"}, "dropout": {"rate"}, "relu": set(), "flatten": set()}


def _pair(v, what, where):
    if isinstance(v, bool) or v is None:
        raise RefError(f"{where}: {what}: expected an integer or [height, width]")
    if isinstance(v, int):
        return v, v
    if isinstance(v, list) and len(v) == 2 and all(isinstance(x, int) and not isinstance(x, bool) for x in v):
        return v[0], v[1]
    raise RefError(f"{where}: {what}: expected an integer or [height, width], got {v!r}")


def _int(v, what, where, lo=1):
    if not isinstance(v, int) or isinstance(v, bool) or v < lo:
        raise RefError(f"{where}: {what}: expected an integer >= {lo}, got {v!r}")
    return v


def parse_model_def(m, where: str) -> dict:
    """A model map (name, input, classes, layers) -> normalised definition."""
    if not isinstance(m, dict):
        raise RefError(f"{where}: a model definition is a map with name, input, classes, layers")
    unknown = set(m) - {"name", "input", "classes", "layers"}
    if unknown:
        raise RefError(f"{where}: unknown model key '{sorted(unknown)[0]}'")
    inp = m.get("input", [1, 28, 28])
    if not (isinstance(inp, list) and len(inp) == 3):
        raise RefError(f"{where}: input: expected [channels, height, width]")
    d = {"name": str(m.get("name", "model")), "input": [_int(x, "input", where) for x in inp],
         "classes": _int(m.get("classes", 10), "classes", where, 2), "layers": []}
    layers = m.get("layers")
    if not isinstance(layers, list) or not layers:
        raise RefError(f"{where}: layers: expected a non-empty list of layers")
    for i, item in enumerate(layers):
        w = f"{where}: layer {i}"
        if isinstance(item, str):
            kind, args = item, {}
        elif isinstance(item, dict) and len(item) == 1:
            kind, args = next(iter(item.items()))
            args = args or {}
        else:
            raise RefError(f"{w}: a layer is a name (relu) or a one-key map ({{conv2d: {{...}}}})")
        if kind not in LAYER_KINDS:
            raise RefError(f"{w}: unknown layer '{kind}' (choose one of: {', '.join(LAYER_KINDS)})")
        if not isinstance(args, dict):
            raise RefError(f"{w} ({kind}): layer arguments must be a map")
        extra = set(args) - _LAYER_KEYS[kind]
        if extra:
            raise RefError(f"{w} ({kind}): unknown key '{sorted(extra)[0]}'")
        L = {"kind": kind}
        if kind == "conv2d":
            for key in ("filters", "kernel"):
                if key not in args:
                    raise RefError(f"{w}: conv2d needs {key}")
            L["filters"] = _int(args["filters"], "filters", w)
            L["kernel"] = _pair(args["kernel"], "kernel", w)
            L["stride"] = _pair(args.get("stride", 1), "stride", w)
            p = args.get("padding", "valid")
            if p in ("same", "valid"):
                L["padding"] = p
            else:
                L["padding"] = _pair(p, "padding", w)
            if min(L["kernel"] + L["stride"]) < 1 or (isinstance(L["padding"], tuple) and min(L["padding"]) < 0):
                raise RefError(f"{w}: kernel and stride must be >= 1, padding >= 0")
        elif kind == "maxpool":
            L["size"] = _int(args.get("size", 2), "size", w)
            L["stride"] = _int(args.get("stride", L["size"]), "stride", w)
        elif kind == "dense":
            if "units" not in args:
                raise RefError(f"{w}: dense needs units")
            L["units"] = _int(args["units"], "units", w)
        elif kind == "dropout":
            r = args.get("rate", 0.5)
            if not isinstance(r, (int, float)) or isinstance(r, bool) or not 0.0 <= r <= 0.99:
                raise RefError(f"{w}: rate: expected a number in [0, 0.99], got {r!r}")
            L["rate"] = struct.unpack("f", struct.pack("f", float(r)))[0]  # foil keeps a float
        d["layers"].append(L)
    return d


def model_def_to_yaml(d: dict) -> str:
    """host/nn/model_def.c foil_model_def_to_yaml, byte for byte."""
    c, h, w = d["input"]
    out = [f'name: "{d["name"]}"', f"input: [{c}, {h}, {w}]", f"classes: {d['classes']}", "layers:"]
    for L in d["layers"]:
        k = L["kind"]
        if k == "conv2d":
            p = L["padding"]
            ps = p if isinstance(p, str) else f"[{p[0]}, {p[1]}]"
            out.append(f"  - conv2d: {{filters: {L['filters']}, kernel: [{L['kernel'][0]}, {L['kernel'][1]}], "
                       f"stride: [{L['stride'][0]}, {L['stride'][1]}], padding: {ps}}}")
        elif k == "maxpool":
            out.append(f"  - maxpool: {{size: {L['size']}, stride: {L['stride']}}}")
        elif k == "dense":
            out.append(f"  - dense: {{units: {L['units']}}}")
        elif k == "dropout":
            out.append(f"  - dropout: {{rate: {'%.9g' % L['rate']}}}")
        else:
            out.append(f"  - {k}")
    return "\n".join(out) + "\n"


def _conv_out(mode, n, k, s, p):
    """(out, pad_before, pad_after) along one axis, as host/nn/model.c conv_out."""
    if mode == "same":  # TensorFlow: out = ceil(in / stride), odd pixel after
        out = (n + s - 1) // s
        total = (out - 1) * s + k - n
        before = total // 2 if total > 0 else 0
        return out, before, (out - 1) * s + k - n - before  # < 0: F.pad crops
    if n + 2 * p < k:
        return None
    return (n + 2 * p - k) // s + 1, p, p


class FoilConv2d(nn.Conv2d):
    """Conv2d with per-side padding: symmetric padding goes to cuDNN, the
    asymmetric 'same' case pads explicitly first."""

    def __init__(self, cin, cout, kernel, stride, pads):
        top, bottom, left, right = pads
        self.symmetric = top == bottom and left == right
        super().__init__(cin, cout, kernel, stride, padding=(top, left) if self.symmetric else 0)
        self.pads = (left, right, top, bottom)

    def forward(self, x):
        if not self.symmetric:
            x = F.pad(x, self.pads)
        return super().forward(x)


class FoilDropout(nn.Module):
    """Inverted dropout; with rng 'foil' the mask is foil's Philox stream
    (seed, (step << 8) | layer), element i of the (batch, features) block."""

    def __init__(self, rate: float, index: int):
        super().__init__()
        self.rate, self.index = rate, index
        self.rng, self.seed, self.step = "foil", 1, 0

    def forward(self, x):
        if not self.training or self.rate <= 0.0:
            return x
        if self.rng != "foil":
            return F.dropout(x, self.rate, True)
        stream = foil_stream(RNG_DROPOUT, (self.step << 8) | self.index)
        u = philox_uniform(self.seed, [stream], x.numel(), x.device).view_as(x)
        r = torch.tensor(self.rate, dtype=torch.float32)
        scale = (torch.tensor(1.0, dtype=torch.float32) / (1.0 - r)).to(x.device)
        return x * torch.where(u >= r.to(x.device), scale, torch.zeros_like(scale))


class FoilNet(nn.Sequential):
    def __init__(self, mdef: dict):
        c, h, w = mdef["input"]
        mods = []
        for i, L in enumerate(mdef["layers"]):
            k, where = L["kind"], f"model {mdef['name']}: layer {i} ({L['kind']})"
            if k == "conv2d":
                (kh, kw), (sh, sw) = L["kernel"], L["stride"]
                ph, pw = (0, 0) if isinstance(L["padding"], str) else L["padding"]
                mode = L["padding"] if isinstance(L["padding"], str) else "explicit"
                oh, ow = _conv_out(mode, h, kh, sh, ph), _conv_out(mode, w, kw, sw, pw)
                if oh is None or ow is None:
                    raise RefError(f"{where}: kernel {kh}x{kw} does not fit the {h}x{w} input")
                mods.append(FoilConv2d(c, L["filters"], (kh, kw), (sh, sw), (oh[1], oh[2], ow[1], ow[2])))
                c, h, w = L["filters"], oh[0], ow[0]
            elif k == "maxpool":
                if h < L["size"] or w < L["size"]:
                    raise RefError(f"{where}: window {L['size']} does not fit the {h}x{w} input")
                mods.append(nn.MaxPool2d(L["size"], L["stride"]))
                h, w = (h - L["size"]) // L["stride"] + 1, (w - L["size"]) // L["stride"] + 1
            elif k == "relu":
                mods.append(nn.ReLU())
            elif k == "flatten":
                mods.append(nn.Flatten())
                c, h, w = c * h * w, 1, 1
            elif k == "dense":
                if h != 1 or w != 1:
                    raise RefError(f"{where}: input is {c}x{h}x{w}; add a flatten layer first")
                mods.append(nn.Linear(c, L["units"]))
                c = L["units"]
            else:
                mods.append(FoilDropout(L["rate"], i))
        if c * h * w != mdef["classes"]:
            raise RefError(f"model {mdef['name']}: the last layer gives {c * h * w} values per sample, "
                           f"not the {mdef['classes']} classes")
        super().__init__(*mods)
        self.mdef = mdef

    def param_layers(self):
        return [m for m in self if isinstance(m, (nn.Conv2d, nn.Linear))]

    def set_rng(self, rng: str, seed: int, step: int):
        for m in self:
            if isinstance(m, FoilDropout):
                m.rng, m.seed, m.step = rng, seed, step


def foil_init(model: FoilNet, seed: int):
    """foil_model_init_params: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) from the
    Philox stream (seed, INIT, tensor number), in float32 arithmetic."""
    t = 0
    with torch.no_grad():
        for layer in model.param_layers():
            bound = torch.tensor(1.0 / math.sqrt(layer.weight.numel() // layer.bias.numel()),
                                 dtype=torch.float32)
            for p in (layer.weight, layer.bias):
                u = philox_uniform(seed, [foil_stream(RNG_INIT, t)], p.numel())[0]
                p.copy_(((2.0 * u - 1.0) * bound).view_as(p))
                t += 1


def load_model_yaml(path: str) -> dict:
    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        raise RefError(f"{path}: {e.strerror}") from None
    return parse_model_def(yaml_load(text, path), path)


def load_checkpoint(path: str):
    """A foil checkpoint -> (FoilNet with its weights, metadata)."""
    tensors, meta = read_safetensors(path)
    if "model" not in meta:
        raise RefError(f"{path}: no 'model' entry in the metadata (not a foil checkpoint?)")
    model = FoilNet(parse_model_def(yaml_load(meta["model"], f"{path}: model metadata"),
                                    f"{path}: model metadata"))
    sd = model.state_dict()
    if set(sd) != set(tensors):
        raise RefError(f"{path}: holds tensors {sorted(tensors)}, the model needs {sorted(sd)}")
    for k, v in sd.items():
        if tuple(tensors[k].shape) != tuple(v.shape):
            raise RefError(f"{path}: tensor '{k}' has shape {list(tensors[k].shape)}, "
                           f"the model needs {list(v.shape)}")
        sd[k] = tensors[k].to(torch.float32)
    model.load_state_dict(sd)
    return model, meta


def load_any_model(path: str, seed: int = 1):
    """A checkpoint, or a model YAML with foil's initial weights for `seed`."""
    p = _resolve(path)
    if p.endswith(".safetensors"):
        return load_checkpoint(p)[0], True
    model = FoilNet(load_model_yaml(p))
    foil_init(model, seed)
    return model, False


def _resolve(path: str) -> str:
    if os.path.exists(path) or os.path.isabs(path):
        return path
    alt = os.path.join(REPO, path)
    return alt if os.path.exists(alt) else path


# --------------------------------------------------------------------------
# MNIST-format IDX data
# --------------------------------------------------------------------------

def _read_idx(dirname: str, split: str, kind: str):
    for name in (f"{split}-{kind}.gz", f"{split}-{kind}"):
        path = os.path.join(dirname, name)
        if os.path.exists(path):
            break
    else:
        raise RefError(f"{os.path.join(dirname, split + '-' + kind)}[.gz]: not found "
                       f"(give the folder with the MNIST IDX files with --data)")
    try:
        with (gzip.open(path) if path.endswith(".gz") else open(path, "rb")) as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise RefError(f"{path}: cannot read: {e}") from None
    if len(data) < 8 or data[0] != 0 or data[1] != 0 or data[2] != 8:
        raise RefError(f"{path}: not an IDX file of unsigned bytes")
    ndim = data[3]
    dims = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    body = data[4 + 4 * ndim:]
    if len(body) != math.prod(dims):
        raise RefError(f"{path}: {len(body)} data bytes, the header says {math.prod(dims)}")
    return path, dims, torch.frombuffer(bytearray(body), dtype=torch.uint8)


def load_split(dirname: str, split: str, limit: int = 0):
    """(images float32 (n, 1, h, w) in [0, 1], labels int64 (n)) of 'train' or 't10k'."""
    ip, idims, img = _read_idx(dirname, split, "images-idx3-ubyte")
    lp, ldims, lab = _read_idx(dirname, split, "labels-idx1-ubyte")
    if len(idims) != 3 or len(ldims) != 1 or idims[0] != ldims[0]:
        raise RefError(f"{ip}: {idims[0]} images but {lp} has {ldims[0]} labels")
    n = idims[0] if limit <= 0 else min(limit, idims[0])
    x = img[:n * idims[1] * idims[2]].reshape(n, 1, idims[1], idims[2]).to(torch.float32) / 255.0
    return x, lab[:n].to(torch.int64)


def data_dir(arg, config_dir=None) -> str:
    """As foil: --data, else $FOIL_DATA, else the config's data.dir, else data/raw/mnist."""
    if arg:
        return arg
    if os.environ.get("FOIL_DATA"):
        return os.environ["FOIL_DATA"]
    return _resolve(config_dir or "data/raw/mnist")


def check_input(model: FoilNet, x, where: str):
    want = list(model.mdef["input"])
    if list(x.shape[1:]) != want:
        raise RefError(f"{where}: images are {list(x.shape[1:])}, model {model.mdef['name']} takes {want}")


# --------------------------------------------------------------------------
# Devices, precision, timing
# --------------------------------------------------------------------------

def pick_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise RefError("--device cuda: no usable CUDA GPU (torch.cuda.is_available() is False)")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def device_name(dev: torch.device) -> str:
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def set_precision(tf32: bool):
    """fp32 (IEEE) or TF32 tensor cores for cuBLAS and cuDNN. The legacy flags:
    on torch >= 2.9 they set the new fp32_precision state as well, whereas
    setting only the new one to tf32 makes the legacy getters (which
    torch.compile reads) raise."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32  # PyTorch's default is True: set it either way


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


class Timer:
    def __init__(self, dev):
        self.dev = dev

    def __enter__(self):
        sync(self.dev)
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        sync(self.dev)
        self.seconds = time.perf_counter() - self.t0


def freeze(model):
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval()


# --------------------------------------------------------------------------
# The workloads
# --------------------------------------------------------------------------

@torch.no_grad()
def predict_logits(model, x, batch: int):
    return torch.cat([model(x[i:i + batch]) for i in range(0, x.shape[0], batch)])


def attack_batch(model, x0, y, kind: str, eps: float, step: float, steps: int,
                 random_start: bool, seed: int = 0, first: int = 0, rng: str = "foil"):
    """FGSM or PGD-Linf on one batch (untargeted, true labels, one restart)."""
    f32 = dict(dtype=torch.float32, device=x0.device)
    eps_t = torch.tensor(eps, **f32)
    if kind == "fgsm":
        step, steps, random_start = eps, 1, False
    step_t = torch.tensor(step, **f32)
    if random_start:
        if rng == "foil":
            streams = [foil_stream(RNG_ATTACK, first + i) for i in range(x0.shape[0])]
            u = philox_uniform(seed, streams, x0[0].numel(), x0.device).view_as(x0)
        else:
            u = torch.rand_like(x0)
        x = (x0 + (2.0 * u - 1.0) * eps_t).clamp(0.0, 1.0)
    else:
        x = x0.clone()
    lo, hi = x0 - eps_t, x0 + eps_t
    for _ in range(steps):
        x.requires_grad_(True)
        loss = F.cross_entropy(model(x), y, reduction="sum")
        (g,) = torch.autograd.grad(loss, x)
        x = x.detach() + step_t * torch.sign(g)
        x = torch.minimum(torch.maximum(x, lo), hi).clamp_(0.0, 1.0)
    return x.detach()


def run_attack(model, x, y, kind, eps, step, steps, random_start, batch, seed=0, rng="foil"):
    """Attacks all of x; returns (adversarial predictions, adversarial images or None)."""
    preds = []
    for i in range(0, x.shape[0], batch):
        adv = attack_batch(model, x[i:i + batch], y[i:i + batch], kind, eps, step, steps,
                           random_start, seed, i, rng)
        with torch.no_grad():
            preds.append(model(adv).argmax(1))
    return torch.cat(preds)


def _legendre(m: int, x: float):
    p0, p1 = 1.0, x
    for k in range(2, m + 1):
        p0, p1 = p1, ((2.0 * k - 1.0) * x * p1 - (k - 1.0) * p0) / k
    p = 1.0 if m == 0 else p1
    return p, m * (x * p1 - p0) / (x * x - 1.0)


def quadrature(rule: str, m: int):
    """Nodes and weights on [0, 1] (host/explain/explain_quad.c), in double."""
    if m < 1 or (rule == "trapezoid" and m < 2):
        raise RefError(f"--steps: {m} is too few for the {rule} rule")
    if rule == "gauss-legendre":
        alpha, weight = [0.0] * m, [0.0] * m
        shrink = 1.0 - 1.0 / (8.0 * m * m) + 1.0 / (8.0 * m * m * m)
        for i in range((m + 1) // 2):
            x = shrink * math.cos(math.pi * (4 * i + 3) / (4.0 * m + 2.0))
            for _ in range(100):
                p, dp = _legendre(m, x)
                dx = p / dp
                x -= dx
                if abs(dx) < 1e-15:
                    break
            if 2 * i + 1 == m:
                x = 0.0
            p, dp = _legendre(m, x)
            w = 1.0 / ((1.0 - x * x) * dp * dp)
            alpha[i], weight[i] = 0.5 * (1.0 - x), w
            alpha[m - 1 - i], weight[m - 1 - i] = 0.5 * (1.0 + x), w
        return alpha, weight
    node = {"left": lambda k: k / m, "right": lambda k: (k + 1) / m,
            "midpoint": lambda k: (k + 0.5) / m, "trapezoid": lambda k: k / (m - 1)}[rule]
    alpha = [node(k) for k in range(m)]
    weight = [1.0 / (m - 1) if rule == "trapezoid" else 1.0 / m] * m
    if rule == "trapezoid":
        weight[0] *= 0.5
        weight[-1] *= 0.5
    return alpha, weight


def ig_batch(model, x, base, target, alpha, weight, chunk: int):
    """Integrated Gradients of the target logits for a batch: (attr, F(x), F(base))."""
    n, m = x.shape[0], alpha.shape[0]
    c = m if chunk <= 0 else min(chunk, m)
    diff = x - base
    acc = torch.zeros(n, x[0].numel(), dtype=torch.float32, device=x.device)
    for k0 in range(0, m, c):
        a, w = alpha[k0:k0 + c], weight[k0:k0 + c]
        kc = a.shape[0]
        xs = (base.unsqueeze(1) + a.view(1, kc, 1, 1, 1) * diff.unsqueeze(1)).reshape(n * kc, *x.shape[1:])
        xs.requires_grad_(True)
        out = model(xs).gather(1, target.repeat_interleave(kc).unsqueeze(1)).sum()
        (g,) = torch.autograd.grad(out, xs)
        acc += torch.einsum("k,nkr->nr", w, g.reshape(n, kc, -1))
    attr = acc.view_as(x) * diff
    with torch.no_grad():
        fx = model(x).gather(1, target.unsqueeze(1)).squeeze(1)
        fb = model(base).gather(1, target.unsqueeze(1)).squeeze(1)
    return attr, fx, fb


def completeness(attr, fx, fb):
    """Relative completeness error per image, as foil's explain.csv relative_delta."""
    out = []
    for s, a, b in zip(attr.flatten(1).double().sum(1).tolist(), fx.tolist(), fb.tolist()):
        floor = 1e-4 * max(1.0, abs(a), abs(b))
        out.append((s - (a - b)) / max(abs(a - b), floor))
    return out


def _percentile(v, q):
    v = sorted(v)
    if not v:
        return float("nan")
    k = (len(v) - 1) * q
    lo = math.floor(k)
    return v[lo] + (v[min(lo + 1, len(v) - 1)] - v[lo]) * (k - lo)


# --------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------

def _setup(a):
    if a.threads:
        torch.set_num_threads(a.threads)
    return pick_device(a.device)


def _eps_list(s: str):
    try:
        v = [float(e) for e in s.split(",") if e.strip()]
    except ValueError:
        raise RefError(f"--eps: expected numbers separated by commas, got '{s}'") from None
    if not v or any(e < 0 or not math.isfinite(e) for e in v):
        raise RefError(f"--eps: expected non-negative numbers, got '{s}'")
    return v


def cmd_eval(a):
    dev = _setup(a)
    model, _ = load_checkpoint(a.model)
    model = freeze(model).to(dev)
    x, y = load_split(data_dir(a.data), "t10k", a.limit)
    check_input(model, x, a.model)
    x, y = x.to(dev), y.to(dev)
    with Timer(dev) as t:
        logits = predict_logits(model, x, a.batch)
    pred = logits.argmax(1)
    C = model.mdef["classes"]
    conf = torch.bincount(y * C + pred, minlength=C * C).view(C, C).cpu()
    support = conf.sum(1).tolist()
    predicted = conf.sum(0).tolist()
    diag = conf.diagonal().tolist()
    recall = [d / s if s else 0.0 for d, s in zip(diag, support)]
    precision = [d / p if p else 0.0 for d, p in zip(diag, predicted)]
    f1 = [2 * p * r / (p + r) if p + r else 0.0 for p, r in zip(precision, recall)]
    acc = sum(diag) / max(1, x.shape[0])
    print(f"model {model.mdef['name']} ({a.model}), {x.shape[0]} test images, device {device_name(dev)}, "
          f"torch {torch.__version__}")
    print(f"accuracy: {acc:.4f} ({sum(diag)}/{x.shape[0]}), macro recall {sum(recall) / C:.4f}, "
          f"{x.shape[0] / t.seconds:.0f} images/s")
    print("recall per class: " + " ".join(f"{r:.4f}" for r in recall))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"accuracy": acc, "precision": precision, "recall": recall, "f1": f1,
                       "support": support, "confusion": conf.tolist()}, f, indent=1)
    if a.dump_logits:
        n = min(a.dump_n, x.shape[0]) if a.dump_n > 0 else x.shape[0]
        with open(a.dump_logits, "w") as f:
            f.write("index,label,predicted," + ",".join(f"logit_{j}" for j in range(C)) + "\n")
            rows = logits[:n].cpu().tolist()
            for i, (row, lab, p) in enumerate(zip(rows, y[:n].tolist(), pred[:n].tolist())):
                f.write(f"{i},{lab},{p}," + ",".join(f"{v:.9g}" for v in row) + "\n")
        print(f"wrote the logits of the first {n} test images to {a.dump_logits}")
    if a.compare_logits:
        _compare_logits(a.compare_logits, logits.cpu())


def _compare_logits(path, logits):
    """Compares with a CSV of logits (index,...,logit_0..): max |difference|."""
    try:
        with open(path) as f:
            head = f.readline().strip().split(",")
            cols = [i for i, h in enumerate(head) if h.startswith("logit_")]
            worst, n, argmax_diff = 0.0, 0, 0
            for line in f:
                v = line.strip().split(",")
                i = int(v[0])
                ref = [float(v[c]) for c in cols]
                mine = logits[i].tolist()
                worst = max(worst, max(abs(p - q) for p, q in zip(ref, mine)))
                argmax_diff += max(range(len(ref)), key=ref.__getitem__) != max(range(len(mine)), key=mine.__getitem__)
                n += 1
    except (OSError, ValueError, IndexError) as e:
        raise RefError(f"{path}: cannot compare logits: {e}") from None
    print(f"compared with {path}: {n} images, max |logit difference| {worst:.3g}, "
          f"{argmax_diff} different predictions")


def _recipe(cfg: dict, where: str) -> dict:
    t = cfg.get("train") or {}
    d = cfg.get("data") or {}
    r = {"seed": cfg.get("seed", 1), "epochs": t.get("epochs", 1), "batch_size": t.get("batch_size", 64),
         "eval_batch": t.get("eval_batch", 500), "optimizer": t.get("optimizer", "adam"),
         "lr": t.get("lr", 1e-3), "momentum": t.get("momentum", 0.9), "nesterov": t.get("nesterov", False),
         "weight_decay": t.get("weight_decay", 0.0), "beta1": t.get("beta1", 0.9),
         "beta2": t.get("beta2", 0.999), "eps": t.get("eps", 1e-8), "lr_decay": t.get("lr_decay", 1.0),
         "lr_decay_epochs": t.get("lr_decay_epochs", 1), "train_limit": d.get("train_limit", 0),
         "test_limit": d.get("test_limit", 0)}
    for k in ("seed", "epochs", "batch_size", "eval_batch", "lr_decay_epochs", "train_limit", "test_limit"):
        _int(r[k], k, where, 0 if k in ("seed", "train_limit", "test_limit") else 1)
    if r["optimizer"] not in ("adam", "sgd"):
        raise RefError(f"{where}: train.optimizer: expected adam or sgd, got {r['optimizer']!r}")
    for k in ("lr", "momentum", "weight_decay", "beta1", "beta2", "eps", "lr_decay"):
        if not isinstance(r[k], (int, float)) or isinstance(r[k], bool):
            raise RefError(f"{where}: train.{k}: expected a number, got {r[k]!r}")
    return r


def _override(cfg: dict, item: str):
    if "=" not in item:
        raise RefError(f"'{item}': expected key=value (e.g. train.epochs=3)")
    key, val = item.split("=", 1)
    node = cfg
    parts = key.split(".")
    for p in parts[:-1]:
        if not isinstance(node.get(p), dict):
            node[p] = {}
        node = node[p]
    node[parts[-1]] = _flow_value(val, f"override {key}") if val else ""


def _evaluate(model, x, y, batch):
    model.eval()
    pred = predict_logits(model, x, batch).argmax(1)
    return (pred == y).float().mean().item()


def cmd_train(a):
    dev = _setup(a)
    if bool(a.config) == bool(a.model):
        raise RefError("train: give either -c RECIPE.yaml or -m CHECKPOINT")
    if a.config:
        path = _resolve(a.config)
        try:
            with open(path) as f:
                cfg_text = f.read()
        except OSError as e:
            raise RefError(f"{a.config}: {e.strerror}") from None
        cfg = yaml_load(cfg_text, path) or {}
        for o in a.overrides:
            _override(cfg, o)
        m = cfg.get("model")
        if isinstance(m, dict):
            mdef = parse_model_def(m, f"{path}: model")
        elif isinstance(m, str):
            cands = [m, os.path.join(os.path.dirname(path), m), os.path.join(os.path.dirname(path), "..", m)]
            found = next((c for c in cands if os.path.isfile(c)), None)
            if not found:
                raise RefError(f"{path}: model file '{m}' not found")
            mdef = load_model_yaml(found)
        else:
            raise RefError(f"{path}: missing 'model' (a model file name or a model map)")
        model = FoilNet(mdef)
        init = a.init or "foil"
        if init == "checkpoint":
            raise RefError("--init checkpoint needs -m CHECKPOINT")
    else:
        model, meta = load_checkpoint(a.model)
        cfg_text = meta.get("config", "")
        cfg = (yaml_load(cfg_text, f"{a.model}: config metadata") if cfg_text else {}) or {}
        for o in a.overrides:
            _override(cfg, o)
        init = a.init or "checkpoint"
    r = _recipe(cfg, a.config or a.model)
    for k in ("epochs", "batch_size", "lr", "seed"):
        if getattr(a, k) is not None:
            r[k] = getattr(a, k)
    if init == "foil":
        foil_init(model, r["seed"])
    model = model.to(dev)
    dd = data_dir(a.data, (cfg.get("data") or {}).get("dir"))
    xtr, ytr = load_split(dd, "train", r["train_limit"])
    xte, yte = load_split(dd, "t10k", r["test_limit"])
    check_input(model, xtr, dd)
    xtr, ytr, xte, yte = xtr.to(dev), ytr.to(dev), xte.to(dev), yte.to(dev)
    params = list(model.parameters())
    if r["optimizer"] == "adam":
        kw = dict(lr=r["lr"], betas=(r["beta1"], r["beta2"]), eps=r["eps"])
        opt = torch.optim.AdamW(params, weight_decay=r["weight_decay"], **kw) if r["weight_decay"] \
            else torch.optim.Adam(params, **kw)
    else:
        opt = torch.optim.SGD(params, lr=r["lr"], momentum=r["momentum"],
                              weight_decay=r["weight_decay"], nesterov=bool(r["nesterov"]))
    net = torch.compile(model) if a.compile else model
    n, bs = xtr.shape[0], r["batch_size"]
    steps_per_epoch = (n + bs - 1) // bs
    print(f"model {model.mdef['name']}, {sum(p.numel() for p in params)} parameters, init {init}, "
          f"{n} training / {xte.shape[0]} test images, {r['optimizer']} lr {r['lr']:g} batch {bs}, "
          f"rng {a.rng}, device {device_name(dev)}, torch {torch.__version__}")
    print("| epoch | train loss | test accuracy | train seconds | train images/s |\n|---|---|---|---|---|")
    step, total_images, total_secs, acc = 0, 0, 0.0, float("nan")
    for epoch in range(1, r["epochs"] + 1):
        lr = r["lr"] * r["lr_decay"] ** ((epoch - 1) // r["lr_decay_epochs"])
        for g in opt.param_groups:
            g["lr"] = lr
        if a.rng == "foil":
            perm = torch.tensor(foil_shuffle(n, r["seed"], epoch), dtype=torch.int64, device=dev)
        else:
            perm = torch.randperm(n, device=dev)
        model.train()
        loss_sum = torch.zeros((), dtype=torch.float64, device=dev)
        images = 0
        with Timer(dev) as t:
            for s in range(steps_per_epoch):
                if a.max_steps and step >= a.max_steps:
                    break
                idx = perm[s * bs:(s + 1) * bs]
                model.set_rng(a.rng, r["seed"], step)
                loss = F.cross_entropy(net(xtr[idx]), ytr[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                loss_sum += loss.detach().double() * idx.shape[0]
                images += idx.shape[0]
                step += 1
                if a.log_every and step % a.log_every == 0:
                    sync(dev)
                    print(f"  step {step}: mean loss {loss_sum.item() / images:.4f}", flush=True)
        mean_loss = loss_sum.item() / max(1, images)
        if not math.isfinite(mean_loss):
            raise RefError(f"training diverged: loss is {mean_loss} in epoch {epoch}")
        acc = _evaluate(model, xte, yte, r["eval_batch"])
        total_images += images
        total_secs += t.seconds
        print(f"| {epoch} | {mean_loss:.4f} | {acc:.4f} | {t.seconds:.1f} | {images / t.seconds:.0f} |", flush=True)
        if a.max_steps and step >= a.max_steps:
            break
    print(f"test accuracy {acc:.4f}; {total_images} training images in {total_secs:.1f} s: "
          f"{total_images / max(total_secs, 1e-9):.0f} images/s")
    if a.output:
        meta = {"model": model_def_to_yaml(model.mdef), "epoch": epoch, "step": step,
                "test_accuracy": f"{acc:.6f}", "seed": r["seed"], "config": cfg_text,
                "trainer": f"bench/torch_ref.py, torch {torch.__version__}"}
        write_safetensors(a.output, {k: v for k, v in model.state_dict().items()}, meta)
        print(f"wrote {a.output}")


def cmd_attack(a):
    eps_list = _eps_list(a.eps)
    dev = _setup(a)
    model, _ = load_checkpoint(a.model)
    model = freeze(model).to(dev)
    x, y = load_split(data_dir(a.data), "t10k", a.limit)
    check_input(model, x, a.model)
    x, y = x.to(dev), y.to(dev)
    if a.steps < 1:
        raise RefError("--steps must be >= 1")
    rs = a.attack == "pgd" and not a.no_random_start
    print(f"model {model.mdef['name']}, {x.shape[0]} test images, {a.attack}"
          + (f" steps {a.steps} step {a.step or '2.5 eps / steps'} random start {rs}" if a.attack == "pgd" else "")
          + f", batch {a.batch}, seed {a.seed}, rng {a.rng}, device {device_name(dev)}, torch {torch.__version__}")
    print("| attack | eps | accuracy | recall 0..9 | seconds | images/s |\n|---|---|---|---|---|---|")
    rows = []
    C = model.mdef["classes"]
    for eps in eps_list:
        step = a.step if a.step else 2.5 * eps / a.steps
        with Timer(dev) as t:
            pred = run_attack(model, x, y, a.attack, eps, step, a.steps, rs, a.batch, a.seed, a.rng)
        ok = (pred == y)
        acc = ok.float().mean().item()
        recall = [ok[y == c].float().mean().item() if (y == c).any() else float("nan") for c in range(C)]
        rows.append({"attack": a.attack, "eps": eps, "accuracy": acc, "recall": recall,
                     "seconds": t.seconds, "images_per_s": x.shape[0] / t.seconds})
        print(f"| {a.attack} | {eps:g} | {acc:.4f} | {' '.join(f'{r:.2f}' for r in recall)} | "
              f"{t.seconds:.2f} | {x.shape[0] / t.seconds:.0f} |", flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)


def _targets(model, x, y, target: str, batch: int):
    if target == "label":
        return y
    if target == "predicted":
        return predict_logits(model, x, batch).argmax(1)
    try:
        k = int(target)
    except ValueError:
        raise RefError(f"--target: expected label, predicted or a class number, got '{target}'") from None
    if not 0 <= k < model.mdef["classes"]:
        raise RefError(f"--target: class {k} is not in [0, {model.mdef['classes']})")
    return torch.full_like(y, k)


def run_ig(model, x, targets, baseline, alpha, weight, batch, chunk):
    attrs, fxs, fbs = [], [], []
    for i in range(0, x.shape[0], batch):
        xb = x[i:i + batch]
        base = torch.zeros_like(xb) if baseline == "black" else torch.ones_like(xb)
        at, fx, fb = ig_batch(model, xb, base, targets[i:i + batch], alpha, weight, chunk)
        attrs.append(at)
        fxs.append(fx)
        fbs.append(fb)
    return torch.cat(attrs), torch.cat(fxs), torch.cat(fbs)


def cmd_ig(a):
    dev = _setup(a)
    model, _ = load_checkpoint(a.model)
    model = freeze(model).to(dev)
    x, y = load_split(data_dir(a.data), "t10k", a.limit)
    check_input(model, x, a.model)
    x, y = x.to(dev), y.to(dev)
    tg = _targets(model, x, y, a.target, 500)
    qa, qw = quadrature(a.rule, a.steps)
    alpha = torch.tensor(qa, dtype=torch.float32, device=dev)
    weight = torch.tensor(qw, dtype=torch.float32, device=dev)
    with Timer(dev) as t:
        attr, fx, fb = run_ig(model, x, tg, a.baseline, alpha, weight, a.batch, a.chunk)
    rel = [abs(v) for v in completeness(attr, fx, fb)]
    print(f"model {model.mdef['name']}, IG of {x.shape[0]} test images, {a.steps} {a.rule} points, "
          f"{a.baseline} baseline, target {a.target}, batch {a.batch}, chunk {a.chunk}, "
          f"device {device_name(dev)}, torch {torch.__version__}")
    print(f"{x.shape[0]} images in {t.seconds:.2f} s: {x.shape[0] / t.seconds:.1f} images/s, "
          f"{x.shape[0] * a.steps / t.seconds:.0f} image-gradients/s")
    print(f"|relative completeness error|: median {_percentile(rel, 0.5):.3g}, "
          f"p95 {_percentile(rel, 0.95):.3g}, max {max(rel):.3g}")
    if a.save:
        write_safetensors(a.save, {"attributions": attr, "f_x": fx, "f_baseline": fb,
                                   "targets": tg.float()},
                          {"method": "ig", "steps": a.steps, "rule": a.rule, "baseline": a.baseline})
        print(f"wrote {a.save}")
    if a.compare:
        ref, _ = read_safetensors(a.compare)
        if "attributions" not in ref:
            raise RefError(f"{a.compare}: no 'attributions' tensor")
        r = ref["attributions"].float()
        n = min(r.shape[0], attr.shape[0])
        if "indices" in ref and ref["indices"][:n].tolist() != [float(i) for i in range(n)]:
            raise RefError(f"{a.compare}: its images are not the first {n} test images")
        mine = attr[:n].cpu().reshape(n, -1)
        r = r[:n].reshape(n, -1)
        scale = r.abs().amax(1).clamp_min(1e-12)
        err = ((mine - r).abs().amax(1) / scale)
        line = (f"compared with {a.compare}: {n} images, max |attr difference| / max |attr| per image: "
                f"median {err.median().item():.3g}, max {err.max().item():.3g}")
        if "f_x" in ref:
            line += f"; max |F(x) difference| {(ref['f_x'][:n].float() - fx[:n].cpu()).abs().max().item():.3g}"
        print(line)


def _bench_data(dev, dirname, n_max, mdef):
    try:
        x, y = load_split(dirname, "t10k")
        if list(x.shape[1:]) == list(mdef["input"]):
            while x.shape[0] < n_max:
                x, y = torch.cat([x, x]), torch.cat([y, y])
            return x[:n_max].to(dev), y[:n_max].to(dev), f"MNIST test set ({dirname})"
    except RefError:
        pass
    c, h, w = mdef["input"]
    x = philox_uniform(1, [2], n_max * c * h * w)[0].view(n_max, c, h, w)  # as bench/*.c
    y = torch.arange(n_max) % mdef["classes"]
    return x.to(dev), y.to(dev), "random images (no MNIST found)"


def cmd_bench(a):
    dev = _setup(a)
    torch.backends.cudnn.benchmark = not a.no_cudnn_benchmark
    models = a.models or DEFAULT_MODELS
    for path in models:
        if not os.path.isfile(_resolve(path)):
            raise RefError(f"{path}: no such file (a checkpoint or a model YAML)")
    precs = [p for p in a.precision.split(",") if p]
    modes = [m for m in a.modes.split(",") if m]
    for p in precs:
        if p not in ("fp32", "tf32"):
            raise RefError(f"--precision: expected fp32 and/or tf32, got '{p}'")
    for m in modes:
        if m not in ("eager", "compile"):
            raise RefError(f"--modes: expected eager and/or compile, got '{m}'")
    if dev.type != "cuda" and "tf32" in precs:
        precs = [p for p in precs if p != "tf32"] or ["fp32"]
        print("note: tf32 is a GPU setting; the CPU runs fp32 only")
    qa, qw = quadrature(a.ig_rule, a.ig_steps)
    alpha = torch.tensor(qa, dtype=torch.float32, device=dev)
    weight = torch.tensor(qw, dtype=torch.float32, device=dev)
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"PyTorch reference: {device_name(dev)}, torch {torch.__version__}"
          + (f", CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}" if dev.type == "cuda" else "")
          + f", {now}")
    print(f"FGSM (eps {a.eps:g}) over {a.fgsm_images} images, PGD-{a.pgd_steps} (eps {a.eps:g}, step "
          f"{a.pgd_step:g}, random start) over {a.pgd_images}, attack batch {a.batch}; IG-{a.ig_steps} "
          f"({a.ig_rule}, black baseline) of {a.ig_images} images, {a.ig_batch} images x {a.ig_chunk} "
          f"points per pass; training: Adam, batch {a.train_batch}, {a.train_steps} steps; "
          f"cudnn.benchmark {not a.no_cudnn_benchmark}; times after a warm-up, synchronised\n")
    print("| model | precision | mode | FGSM s | FGSM images/s | PGD s | PGD image-gradients/s | "
          "IG s | IG images/s | train images/s | FGSM / PGD accuracy |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    notes = []
    for path in models:
        base_model, trained = load_any_model(path)
        base_model = base_model.to(dev)
        n_max = max(a.fgsm_images, a.pgd_images, a.ig_images, a.batch, a.train_batch)
        x, y, src = _bench_data(dev, data_dir(a.data), n_max, base_model.mdef)
        for prec in precs:
            set_precision(prec == "tf32")
            for mode in modes:
                row = _bench_one(a, dev, base_model, trained, x, y, alpha, weight, mode)
                print(f"| {base_model.mdef['name']} | {prec} | {mode} | {row}", flush=True)
        notes.append(f"- {base_model.mdef['name']}: {path}, "
                     f"{'trained weights' if trained else 'foil initial weights (seed 1)'}; data: {src}")
    print("\n" + "\n".join(notes))


def _bench_one(a, dev, base_model, trained, x, y, alpha, weight, mode):
    import copy
    model = copy.deepcopy(base_model)
    try:
        net = torch.compile(model) if mode == "compile" else model
        freeze(model)
        xb, yb = x[:a.batch], y[:a.batch]
        # warm-up: every shape the timed runs use (compiles, cuDNN autotuning)
        for _ in range(2):
            attack_batch(net, xb, yb, "fgsm", a.eps, a.eps, 1, False)
            attack_batch(net, xb, yb, "pgd", a.eps, a.pgd_step, 2, True)
            run_ig(net, x[:a.ig_batch], y[:a.ig_batch], "black", alpha, weight, a.ig_batch, a.ig_chunk)
        if a.ig_images % a.ig_batch:
            k = a.ig_images % a.ig_batch
            run_ig(net, x[:k], y[:k], "black", alpha, weight, a.ig_batch, a.ig_chunk)
        with Timer(dev) as t_f:
            pf = run_attack(net, x[:a.fgsm_images], y[:a.fgsm_images], "fgsm", a.eps, a.eps, 1, False, a.batch)
        with Timer(dev) as t_p:
            pp = run_attack(net, x[:a.pgd_images], y[:a.pgd_images], "pgd", a.eps, a.pgd_step,
                            a.pgd_steps, True, a.batch)
        with Timer(dev) as t_i:
            run_ig(net, x[:a.ig_images], y[:a.ig_images], "black", alpha, weight, a.ig_batch, a.ig_chunk)
        train = "-"
        if a.train_steps > 0:
            for p in model.parameters():
                p.requires_grad_(True)
            model.train()
            opt = torch.optim.Adam(model.parameters(), lr=1e-4)
            gen = torch.Generator(device="cpu").manual_seed(1)
            idx = [torch.randint(0, x.shape[0], (a.train_batch,), generator=gen).to(dev)
                   for _ in range(a.train_steps + 3)]

            def step(i):
                model.set_rng("torch", 1, i)
                loss = F.cross_entropy(net(x[idx[i]]), y[idx[i]])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            for i in range(3):
                step(a.train_steps + i)
            with Timer(dev) as t_t:
                for i in range(a.train_steps):
                    step(i)
            train = f"{a.train_steps * a.train_batch / t_t.seconds:.0f}"
        acc_f = (pf == y[:a.fgsm_images]).float().mean().item()
        acc_p = (pp == y[:a.pgd_images]).float().mean().item()
        accs = f"{acc_f:.4f} / {acc_p:.4f}" if trained else "(random weights)"
        return (f"{t_f.seconds:.2f} | {a.fgsm_images / t_f.seconds:.0f} | {t_p.seconds:.2f} | "
                f"{a.pgd_images * a.pgd_steps / t_p.seconds:.0f} | {t_i.seconds:.2f} | "
                f"{a.ig_images / t_i.seconds:.1f} | {train} | {accs} |")
    except RefError:
        raise
    except Exception as e:  # torch.compile unavailable or failing: say so, go on
        if mode != "compile":
            raise
        msg = str(e).strip().splitlines()[0][:120] if str(e).strip() else type(e).__name__
        return f"torch.compile failed: {type(e).__name__}: {msg} |" + " |" * 9


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------

class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


def _common(p):
    p.add_argument("--data", metavar="DIR",
                   help="folder with the MNIST IDX files (.gz or raw); default $FOIL_DATA, else data/raw/mnist")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                   help="default auto: cuda when usable, else cpu")
    p.add_argument("--threads", type=int, default=0, metavar="N", help="CPU threads for torch (default: torch's)")


def build_parser():
    top = _Parser(prog=PROG, description=__doc__.split("\n\n")[0],
                  formatter_class=argparse.RawDescriptionHelpFormatter,
                  epilog="Commands: eval, train, attack, ig, bench; COMMAND --help says more.")
    sub = top.add_subparsers(dest="cmd", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser("eval", help="accuracy of a checkpoint on the test set",
                       description="Accuracy and per-class recall of a foil checkpoint on the test set "
                                   "(the t10k files), as `foil eval`.")
    p.add_argument("-m", "--model", required=True, metavar="CKPT", help="foil checkpoint (.safetensors)")
    p.add_argument("--limit", type=int, default=0, metavar="N", help="the first N test images (0: all)")
    p.add_argument("--batch", type=int, default=500, metavar="N")
    p.add_argument("--json", metavar="FILE", help="write accuracy, precision, recall, f1, support, confusion "
                                                  "(the keys of `foil eval --json`)")
    p.add_argument("--dump-logits", metavar="FILE", help="write the logits of the first --dump-n images as CSV")
    p.add_argument("--dump-n", type=int, default=100, metavar="N", help="images for --dump-logits (0: all; default 100)")
    p.add_argument("--compare-logits", metavar="CSV", help="compare with a logits CSV (index,...,logit_0,..)")
    _common(p)
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("train", help="train with a foil recipe",
                       description="Trains as `foil train` does: the recipe's epochs, batch, optimizer, lr and "
                                   "lr_decay; with --rng foil the shuffle order and dropout masks are foil's, and "
                                   "--init foil starts from foil's initial weights for the recipe's seed, so the "
                                   "result can be compared with `foil train` (up to float rounding). Prints the "
                                   "loss, test accuracy and training images/s of every epoch.",
                       epilog="key=value overrides any recipe key, e.g. train.epochs=3 data.train_limit=6400.")
    p.add_argument("-c", "--config", metavar="RECIPE", help="a foil recipe (configs/*.yaml): model and schedule")
    p.add_argument("-m", "--model", metavar="CKPT", help="start from a checkpoint's weights; its recipe from "
                                                         "its 'config' metadata")
    p.add_argument("--init", choices=["foil", "checkpoint"],
                   help="initial weights: foil's init for the seed (default with -c) or the checkpoint's "
                        "(default with -m)")
    p.add_argument("-o", "--output", metavar="FILE", help="write a foil checkpoint (loads in `foil eval -m`)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", dest="batch_size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--max-steps", type=int, default=0, metavar="N", help="stop after N steps (throughput runs)")
    p.add_argument("--rng", choices=["foil", "torch"], default="foil",
                   help="foil: foil's Philox shuffle and dropout masks (default); torch: randperm, F.dropout")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--log-every", type=int, default=0, metavar="N", help="print the loss every N steps")
    p.add_argument("overrides", nargs="*", metavar="key=value")
    _common(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("attack", help="FGSM or PGD-Linf over the test set",
                       description="Untargeted FGSM or PGD-Linf on the true labels over the test set, one row "
                                   "per eps: robust accuracy, per-class recall, seconds and images/s. With "
                                   "--rng foil the PGD random starts are foil's (seed, restart 0, image index), "
                                   "so the numbers compare with `foil attack`.")
    p.add_argument("-m", "--model", required=True, metavar="CKPT")
    p.add_argument("--attack", choices=["fgsm", "pgd"], default="fgsm")
    p.add_argument("--eps", default="0,0.1,0.2,0.3", help="comma-separated Linf radii (default 0,0.1,0.2,0.3)")
    p.add_argument("--steps", type=int, default=40, help="PGD iterations (default 40)")
    p.add_argument("--step", type=float, default=0.0, help="PGD step size (default 2.5 eps / steps, as foil)")
    p.add_argument("--no-random-start", action="store_true", help="PGD from the clean image")
    p.add_argument("--seed", type=int, default=0, help="random starts (default 0, as a foil sweep)")
    p.add_argument("--rng", choices=["foil", "torch"], default="foil")
    p.add_argument("--limit", type=int, default=0, metavar="N", help="the first N test images (0: all)")
    p.add_argument("--batch", type=int, default=500, metavar="N")
    p.add_argument("--json", metavar="FILE", help="write the rows as JSON")
    _common(p)
    p.set_defaults(func=cmd_attack)

    p = sub.add_parser("ig", help="Integrated Gradients of test images",
                       description="Integrated Gradients of the target logit for the first --limit test images, "
                                   "with foil's quadrature rules; prints images/s and the relative completeness "
                                   "error |sum(attr) - (F(x) - F(base))| / |F(x) - F(base)|.")
    p.add_argument("-m", "--model", required=True, metavar="CKPT")
    p.add_argument("--limit", type=int, default=100, metavar="K", help="the first K test images (default 100)")
    p.add_argument("--steps", type=int, default=64, help="path points (default 64)")
    p.add_argument("--rule", choices=["gauss-legendre", "midpoint", "left", "right", "trapezoid"],
                   default="gauss-legendre")
    p.add_argument("--baseline", choices=["black", "white"], default="black")
    p.add_argument("--target", default="label", help="label | predicted | a class number (default label)")
    p.add_argument("--batch", type=int, default=25, metavar="N", help="images per pass (default 25)")
    p.add_argument("--chunk", type=int, default=32, metavar="C",
                   help="path points per image per forward (0: all; default 32, as foil)")
    p.add_argument("--save", metavar="FILE", help="write attributions, f_x, f_baseline as safetensors")
    p.add_argument("--compare", metavar="FILE", help="compare with foil's explain attributions.safetensors")
    _common(p)
    p.set_defaults(func=cmd_ig)

    p = sub.add_parser("bench", help="the GPU comparison table",
                       description="Times FGSM, PGD and IG (and training steps) per model x precision x mode and "
                                   "prints a Markdown table with the device, torch version and date. Models are "
                                   "checkpoints or model YAMLs (foil's initial weights; the cost does not depend "
                                   "on them); default configs/models/madry.yaml and cleverhans.yaml. Data: the "
                                   "MNIST test set (repeated past 10k), else random images.")
    p.add_argument("models", nargs="*", metavar="MODEL")
    p.add_argument("--precision", default="fp32,tf32", help="fp32,tf32 (default both; CPU: fp32)")
    p.add_argument("--modes", default="eager,compile", help="eager,compile (default both)")
    p.add_argument("--eps", type=float, default=0.3)
    p.add_argument("--fgsm-images", type=int, default=10000)
    p.add_argument("--pgd-images", type=int, default=10000)
    p.add_argument("--pgd-steps", type=int, default=40)
    p.add_argument("--pgd-step", type=float, default=0.01)
    p.add_argument("--batch", type=int, default=500, help="attack batch (default 500)")
    p.add_argument("--ig-images", type=int, default=1000)
    p.add_argument("--ig-steps", type=int, default=64)
    p.add_argument("--ig-rule", default="gauss-legendre",
                   choices=["gauss-legendre", "midpoint", "left", "right", "trapezoid"])
    p.add_argument("--ig-batch", type=int, default=25, help="IG images per pass (default 25, as bench_explain)")
    p.add_argument("--ig-chunk", type=int, default=32, help="IG points per image per forward (default 32)")
    p.add_argument("--train-steps", type=int, default=50, help="timed Adam steps (0: skip; default 50)")
    p.add_argument("--train-batch", type=int, default=128, help="default 128, as bench_train")
    p.add_argument("--no-cudnn-benchmark", action="store_true", help="leave cudnn.benchmark off")
    _common(p)
    p.set_defaults(func=cmd_bench)
    return top


def main(argv=None):
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.cmd == "train":  # key=value overrides may come between options
        args.overrides += [e for e in extra if "=" in e and not e.startswith("-")]
        extra = [e for e in extra if not ("=" in e and not e.startswith("-"))]
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    for k in ("limit", "batch", "dump_n", "max_steps", "threads", "ig_batch", "ig_images", "fgsm_images",
              "pgd_images", "pgd_steps", "ig_steps", "train_steps", "train_batch", "log_every"):
        v = getattr(args, k, None)
        if v is not None and (v < 0 or (v == 0 and k in ("batch", "ig_batch", "train_batch", "pgd_steps",
                                                         "ig_steps", "fgsm_images", "pgd_images", "ig_images"))):
            sys.stderr.write(f"{PROG} {args.cmd}: --{k.replace('_', '-')} must be "
                             f"{'>= 1' if v == 0 else '>= 0'}, got {v}\n")
            return 2
    try:
        args.func(args)
    except RefError as e:
        sys.stderr.write(f"{PROG} {args.cmd}: {e}\n")
        return 1
    except torch.cuda.OutOfMemoryError as e:
        sys.stderr.write(f"{PROG} {args.cmd}: out of GPU memory (lower --batch): {str(e).splitlines()[0]}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write(f"{PROG} {args.cmd}: interrupted\n")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
