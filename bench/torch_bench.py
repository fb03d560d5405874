"""The three workloads in PyTorch eager mode, written as a PyTorch user would.

Notes on fairness (all deliberate; see bench/README.md):
* Threading is left at torch's default (``torch.get_num_threads()``, reported in the JSON).
* Weights are ``nn.Parameter``s made from the shared float32 arrays; dense layers are
  ``x @ W + b`` with W in TF's ``[in, out]`` layout (no nn.Linear transpose).
* CNN: filters are converted HWIO -> OIHW once at build time, and the fixed batches are
  converted NHWC -> NCHW once, outside the timed step (a user with a fixed dataset would store
  it in the framework's native layout). Before flattening, the NCHW map is permuted to NHWC so
  the dense weights mean what they mean in the TF version and the losses agree.
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
    name = wl["name"]
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


if __name__ == "__main__":
    harness.main("torch", build)
