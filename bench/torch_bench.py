"""The workloads in PyTorch eager mode, written as a PyTorch user would.

Notes on fairness (all deliberate; see bench/README.md):
* Threading is left at torch's default (``torch.get_num_threads()``, reported in the JSON).
* Weights are ``nn.Parameter``s made from the shared float32 arrays; dense layers are
  ``x @ W + b`` with W in TF's ``[in, out]`` layout (no nn.Linear transpose).
* CNN: filters are converted HWIO -> OIHW once at build time, and the fixed batches are
  converted NHWC -> NCHW once, outside the timed step (a user with a fixed dataset would store
  it in the framework's native layout). Before flattening, the NCHW map is permuted to NHWC so
  the dense weights mean what they mean in the TF version and the losses agree.
* resnet: F.batch_norm in training mode on running buffers (torch momentum = 1 - TF's 0.99);
  TF's SAME padding is asymmetric for the stride-2 3x3 convs (0 before, 1 after), so those get
  an explicit F.pad; every other conv uses conv2d's symmetric padding argument.
* lstm: torch.nn.LSTM (its fused kernel) with the TF kernel split into weight_ih / weight_hh and
  the gates reordered from TF's i, j, f, o to torch's i, f, g, o. TF has one bias, torch two
  (b_ih + b_hh); b_hh is frozen at zero so the trainable parameters are TF's.
* transformer: F.embedding, F.layer_norm, F.scaled_dot_product_attention (the same maths as
  softmax(q k^T / sqrt(dh)) v, torch's fast path).
* Optimizers are torch's own: SGD, Adam(eps=1e-8), SGD(momentum=0.9). SGD with momentum
  (dampening 0, no Nesterov) is exactly TF1's ``accum = m*accum + g; w -= lr*accum``. torch's
  Adam adds eps to ``sqrt(v_hat)`` (bias-corrected v) while TF1 adds it to ``sqrt(v)`` after
  folding the bias correction into the learning rate; the two differ by a factor
  ``sqrt(1-b2^t)`` on eps, i.e. negligibly at eps=1e-8. Nothing custom is implemented.
* Each step: zero_grad(set_to_none=True), forward, loss.backward(), opt.step(), loss.item() (a Python float).

    python bench/torch_bench.py --workload mlp --steps 100 --json
"""

from __future__ import annotations

import harness


def build(wl: dict):
    try:
        import torch
        import torch.nn.functional as F
    except Exception as e:  # noqa: BLE001 - any import failure means "unavailable"
        raise harness.Unavailable(f"{type(e).__name__}: {e}") from e

    import os
    torch.manual_seed(0)
    device = torch.device(os.environ.get("TORCH_BENCH_DEVICE", "cpu"))  # cuda for bench/gpu.py
    name = wl["model"]
    w = wl["weights"]

    def param(a, conv: bool = False):
        t = torch.tensor(a.transpose(3, 2, 0, 1) if conv else a)  # copies; HWIO -> OIHW for conv
        return torch.nn.Parameter(t.contiguous().to(device))

    if name == "xor":
        p = {k: param(v) for k, v in w.items()}

        def model(x):
            h = torch.sigmoid(x @ p["w1"] + p["b1"])
            return torch.sigmoid(h @ p["w2"] + p["b2"])

        def loss_fn(out, y):
            return torch.sum(torch.square(y - out))

        batches = [(torch.from_numpy(x.copy()).to(device), torch.from_numpy(y.copy()).to(device))
                   for x, y in wl["batches"]]
    elif name == "mlp":
        p = {k: param(v) for k, v in w.items()}

        def model(x):
            h = F.relu(x @ p["w1"] + p["b1"])
            h = F.relu(h @ p["w2"] + p["b2"])
            return h @ p["w3"] + p["b3"]

        loss_fn = F.cross_entropy  # mean over the batch, int64 class labels
        batches = [(torch.from_numpy(x.copy()).to(device), torch.from_numpy(y.copy()).to(device))
                   for x, y in wl["batches"]]
    elif name == "cnn":
        p = {k: param(v, conv=k in ("c1", "c2")) for k, v in w.items()}

        def model(x):  # x: NCHW
            h = F.max_pool2d(F.relu(F.conv2d(x, p["c1"], p["cb1"])), 2, 2)
            h = F.max_pool2d(F.relu(F.conv2d(h, p["c2"], p["cb2"])), 2, 2)
            h = h.permute(0, 2, 3, 1).reshape(h.shape[0], -1)  # flatten in NHWC order
            h = F.relu(h @ p["w3"] + p["b3"])
            return h @ p["w4"] + p["b4"]

        loss_fn = F.cross_entropy
        # Pre-converted NHWC -> NCHW once, outside the timed step.
        batches = [
            (torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).to(device), torch.from_numpy(y.copy()).to(device))
            for x, y in wl["batches"]
        ]
    elif name == "resnet":
        p, model, buffers = _resnet(torch, F, wl, param, device)
        loss_fn = F.cross_entropy
        batches = [
            (torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).to(device), torch.from_numpy(y.copy()).to(device))
            for x, y in wl["batches"]
        ]
    elif name == "lstm":
        lstm, head = _lstm(torch, wl, device)
        p = {**{k: v for k, v in lstm.named_parameters() if v.requires_grad}, **head}

        def model(x):
            _, (h_n, _c_n) = lstm(x)
            return h_n[0] @ head["w"] + head["b"]

        loss_fn = F.cross_entropy
        batches = [(torch.from_numpy(x.copy()).to(device), torch.from_numpy(y.copy()).to(device))
                   for x, y in wl["batches"]]
    elif name == "transformer":
        p = {k: param(v) for k, v in w.items()}
        model = _transformer(torch, F, wl, p)
        loss_fn = F.cross_entropy
        batches = [(torch.from_numpy(x.copy()).to(device), torch.from_numpy(y.copy()).to(device))
                   for x, y in wl["batches"]]
    else:
        raise ValueError(name)

    spec = wl["optimizer"]
    params = list(p.values())
    if spec["name"] == "sgd":
        opt = torch.optim.SGD(params, lr=spec["lr"])
    elif spec["name"] == "momentum":
        opt = torch.optim.SGD(params, lr=spec["lr"], momentum=spec["momentum"])
    elif spec["name"] == "adam":
        opt = torch.optim.Adam(
            params, lr=spec["lr"], betas=(spec["beta1"], spec["beta2"]), eps=spec["epsilon"]
        )
    else:
        raise ValueError(spec["name"])

    nb = len(batches)

    def step(i: int) -> float:
        x, y = batches[i % nb]
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    info = {
        "torch": torch.__version__,
        "num_threads": torch.get_num_threads(),
        "num_interop_threads": torch.get_num_interop_threads(),
        "mkldnn": bool(torch.backends.mkldnn.is_available()),
    }
    return step, info, None


def _same_conv(F, x, k, stride: int):
    """conv2d with TF's SAME padding: total = max((ceil(n / s) - 1) * s + kh - n, 0), the smaller
    half before. Symmetric cases use conv2d's padding argument, the others an explicit F.pad."""
    kh = k.shape[2]
    n = x.shape[2]
    total = max((-(-n // stride) - 1) * stride + kh - n, 0)
    before, after = total // 2, total - total // 2
    if before == after:
        return F.conv2d(x, k, stride=stride, padding=before)
    return F.conv2d(F.pad(x, (before, after, before, after)), k, stride=stride)


def _resnet(torch, F, wl, param, device):
    """The resnet of workloads.py on NCHW tensors; returns (parameters, model, BN buffers)."""
    from workloads import BN_EPSILON, BN_MOMENTUM

    w = wl["weights"]
    p = {k: param(v, conv=v.ndim == 4) for k, v in w.items()}
    buffers = {}
    for k, v in w.items():
        if k.endswith("/gamma"):
            prefix = k[: -len("/gamma")]
            buffers[prefix] = (torch.zeros(v.shape, device=device), torch.ones(v.shape, device=device))

    def bn(h, prefix):
        mean, var = buffers[prefix]
        return F.batch_norm(h, mean, var, p[prefix + "/gamma"], p[prefix + "/beta"], training=True,
                            momentum=1.0 - BN_MOMENTUM, eps=BN_EPSILON)

    def model(x):
        h = F.relu(bn(_same_conv(F, x, p["stem/conv"], 1), "stem/bn"))
        for prefix, _cin, _cout, stride in wl["blocks"]:
            r = F.relu(bn(_same_conv(F, h, p[f"{prefix}/conv1"], stride), f"{prefix}/bn1"))
            r = bn(_same_conv(F, r, p[f"{prefix}/conv2"], 1), f"{prefix}/bn2")
            if f"{prefix}/proj" in p:
                h = bn(_same_conv(F, h, p[f"{prefix}/proj"], stride), f"{prefix}/bnp")
            h = F.relu(h + r)
        h = h.mean(dim=(2, 3))  # global average pool
        return h @ p["dense/w"] + p["dense/b"]

    return p, model, buffers


def _lstm(torch, wl, device):
    """torch.nn.LSTM holding the TF kernel: TF columns [i | j | f | o] -> torch rows [i | f | g | o]."""
    import numpy as np
    from workloads import LSTM_FEATURES

    w = wl["weights"]
    (h,) = wl["hidden"]
    kernel = w["kernel"]
    order = [0, 2, 1, 3]  # torch gate g = TF's j

    def gates(a):  # [rows, 4h] TF -> [4h, rows] torch
        return np.concatenate([a[:, g * h : (g + 1) * h] for g in order], axis=1).T.copy()

    lstm = torch.nn.LSTM(LSTM_FEATURES, h, batch_first=True).to(device)
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(torch.from_numpy(gates(kernel[:LSTM_FEATURES])))
        lstm.weight_hh_l0.copy_(torch.from_numpy(gates(kernel[LSTM_FEATURES:])))
        lstm.bias_ih_l0.copy_(torch.from_numpy(gates(w["bias"][None, :])[:, 0]))
        lstm.bias_hh_l0.zero_()
    lstm.bias_hh_l0.requires_grad_(False)  # TF has a single bias
    head = {k: torch.nn.Parameter(torch.tensor(w[k]).to(device)) for k in ("w", "b")}
    return lstm, head


def _transformer(torch, F, wl, p):
    """Pre-norm encoder of workloads.py: ids [batch, time] -> logits [batch, 10]."""
    import math

    from workloads import LN_EPSILON, N_HEADS

    (d,) = wl["hidden"]
    dh = d // N_HEADS
    n_blocks = sum(1 for k in p if k.endswith("/ln1/gamma"))

    def ln(h, prefix):
        return F.layer_norm(h, (d,), p[prefix + "/gamma"], p[prefix + "/beta"], eps=LN_EPSILON)

    def dense(h, prefix):
        return h @ p[prefix + "/w"] + p[prefix + "/b"]

    def model(ids):
        b, t = ids.shape
        h = F.embedding(ids, p["tok_emb"]) + p["pos_emb"]
        for i in range(n_blocks):
            a = ln(h, f"b{i}/ln1")
            q, k, v = (dense(a, f"b{i}/{n}").view(b, t, N_HEADS, dh).transpose(1, 2) for n in "qkv")
            o = F.scaled_dot_product_attention(q, k, v, scale=1.0 / math.sqrt(dh))
            h = h + dense(o.transpose(1, 2).reshape(b, t, d), f"b{i}/o")
            f = dense(F.relu(dense(ln(h, f"b{i}/ln2"), f"b{i}/ffn1")), f"b{i}/ffn2")
            h = h + f
        return dense(ln(h, "lnf").mean(dim=1), "out")

    return model


if __name__ == "__main__":
    harness.main("torch", build)
