"""DEEN-ViT expansion modules: forward+backward time and memory, side by side.

Each expansion module (DEE 2D/1D when available, T-MHEE with and without the token-level
orthogonality loss, CM-ATM, SS-DEC) expands (B, N, C) tokens to (3B, N, C); one step is
forward + ``loss = mean(out^2) + sum(aux_losses)`` + backward.  Sizes: DEEN-ViT's default
384x384 ViT-B/16 (N = 24 x 24 = 576, C = 768) and the person-shaped 256x128 (N = 16 x 8 = 128),
B = 4 (e.g. 2 visible + 2 infrared).  ``--quick``: N = 4 x 4, C = 64.

Time: median of repeats after one warm-up, the modules measured alternately (A B C A B C ...).
Memory: on CUDA the peak ``torch.cuda.max_memory_allocated`` during the step minus the memory
before it.  On CPU (no allocator statistics) the *activation memory*: the bytes of the tensors
autograd saves for backward (``torch.autograd.graph.saved_tensors_hooks``, unique storages,
parameters and the input excluded) -- the part of training memory the module adds per step;
transient buffers inside an op are not counted.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from benchmarks._common import cli, interleaved_times, median_time, saved_activation_bytes
from vireid.losses.token_orthogonality import token_orthogonality_loss
from vireid.models.expansion import build_expansion

# row label -> (expansion name, constructor kwargs)
VARIANTS: dict[str, tuple[str, dict]] = {
    "dee": ("dee", {}),
    "dee1d": ("dee1d", {}),
    "tmhee": ("tmhee", {}),
    "tmhee+token_ort": ("tmhee", {"token_ortho": True}),
    "cmatm": ("cmatm", {}),
    "ssdec": ("ssdec", {"seed": 0}),
}


def _step(
    module: torch.nn.Module, x: torch.Tensor, grid: tuple[int, int], modality: torch.Tensor
) -> Callable[[], None]:
    def fn() -> None:
        module.zero_grad(set_to_none=True)
        out, aux, _ = module(x, grid, modality)
        loss = out.float().square().mean() + sum(aux.values(), torch.zeros((), device=x.device))
        loss.backward()
        if x.is_cuda:
            torch.cuda.synchronize(x.device)

    return fn


def peak_memory_bytes(fn: Callable[[], None], x: torch.Tensor, module: torch.nn.Module) -> tuple[int, str]:
    if x.is_cuda:
        torch.cuda.synchronize(x.device)
        base = torch.cuda.memory_allocated(x.device)
        torch.cuda.reset_peak_memory_stats(x.device)
        fn()
        return torch.cuda.max_memory_allocated(x.device) - base, "CUDA peak allocated above baseline"
    return saved_activation_bytes(fn, [x, *module.parameters()]), "CPU: saved-for-backward activations"


def _naive_token_ort(x: torch.Tensor) -> torch.Tensor:
    """The full-Gram form (reference for the memory comparison)."""
    xn = F.normalize(x, dim=-1)
    g = torch.bmm(xn, xn.transpose(1, 2))
    g = g - torch.diag_embed(g.diagonal(dim1=1, dim2=2))
    return g.abs().sum() / (x.shape[0] * x.shape[1] * (x.shape[1] - 1))


def token_ort_rows(x: torch.Tensor, label: str) -> list[dict]:
    """Chunked custom-autograd token-orthogonality loss vs the naive full Gram, side by side."""
    rows = []
    fns = {"chunked": token_orthogonality_loss, "naive full Gram": _naive_token_ort}
    steps = {}
    for name, loss_fn in fns.items():
        leaf = x.detach().clone().requires_grad_()

        def step(loss_fn=loss_fn, leaf=leaf) -> None:
            leaf.grad = None
            loss_fn(leaf).backward()

        steps[name] = step
        mem, how = peak_memory_bytes(step, leaf, torch.nn.Module())
        rows.append(
            {
                "name": f"token_ort loss only ({name}) @ {label}: memory",
                "value": mem / 2**20,
                "unit": "MiB",
                "note": how,
            }
        )
    times = interleaved_times(steps, repeats=3, warmup=1)
    for name in fns:
        rows.append(
            {
                "name": f"token_ort loss only ({name}) @ {label}: fwd+bwd",
                "value": times[name] * 1e3,
                "unit": "ms",
                "note": f"input {tuple(x.shape)}",
            }
        )
    return rows


def full_model_rows(quick: bool, dev: torch.device) -> list[dict]:
    """A DEENViT training step (modal 0, 2 visible + 2 infrared images) per expansion module.

    The models are built and measured one after another (keeping six ViT-B models and their
    gradients alive at once would need several GB); ViT-B at 384x384 only on CUDA (too slow on CPU).
    """
    try:
        from vireid.models.deen_vit import DEENViT
    except ImportError as exc:
        return [{"name": "DEENViT full model", "value": "n/a", "unit": "", "note": f"not available: {exc}"}]
    if quick:
        configs = [
            (
                "tiny-64 ViT 64x32",
                dict(
                    vit={"size": "tiny", "embed_dim": 64, "num_heads": 2, "depth": 4},
                    stages=(1, 1, 1, 1),
                    img_size=(64, 32),
                ),
            )
        ]
    else:
        configs = [("ViT-B 256x128", dict(vit="base", img_size=(256, 128)))]
        if dev.type == "cuda":
            configs.append(("ViT-B 384x384", dict(vit="base", img_size=(384, 384))))
    names = ["none", "dee", "dee1d", "tmhee", "cmatm", "ssdec"]
    rows: list[dict] = []
    for label, cfg in configs:
        h, w = cfg["img_size"]
        g = torch.Generator(dev).manual_seed(0)
        x_vis = torch.randn(2, 3, h, w, device=dev, generator=g)
        x_ir = torch.randn(2, 3, h, w, device=dev, generator=g)
        for name in names:
            torch.manual_seed(0)
            model = DEENViT(num_classes=8, expansion=name, **cfg).to(dev).train()
            labels = torch.arange(4, device=dev).repeat(model.num_embeddings)

            def step(model=model, labels=labels, x_vis=x_vis, x_ir=x_ir) -> None:
                model.zero_grad(set_to_none=True)
                out = model(x_vis, x_ir, 0)
                loss = F.cross_entropy(out.logits, labels) + sum(out.aux_losses.values(), torch.zeros((), device=dev))
                loss.backward()
                if dev.type == "cuda":
                    torch.cuda.synchronize(dev)

            t = median_time(step, repeats=2 if quick else (3 if dev.type == "cpu" else 10), warmup=1)
            mem, how = peak_memory_bytes(step, x_vis, model)
            n_exp = sum(p.numel() for p in model.expansion.parameters())
            rows.append(
                {
                    "name": f"DEENViT {label} expansion={name}: train step",
                    "value": t * 1e3,
                    "unit": "ms",
                    "note": f"modal 0, 2+2 images, expansion {n_exp / 1e6:.2f} M params, {dev.type}",
                }
            )
            rows.append(
                {"name": f"DEENViT {label} expansion={name}: memory", "value": mem / 2**20, "unit": "MiB", "note": how}
            )
            del model, step
    return rows


def run(quick: bool = False, device: str | torch.device | None = None, full_model: bool = True) -> list[dict]:
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    b = 4
    sizes = (
        [("quick 4x4 tokens", (4, 4), 64)]
        if quick
        else [("384x384 ViT-B (N=576)", (24, 24), 768), ("256x128 ViT-B (N=128)", (16, 8), 768)]
    )
    repeats = 3 if quick or dev.type == "cpu" else 10
    rows: list[dict] = []
    for size_name, grid, c in sizes:
        n = grid[0] * grid[1]
        x = torch.randn(b, n, c, device=dev, generator=torch.Generator(dev).manual_seed(0))
        modality = torch.tensor([0, 0, 1, 1], device=dev)
        steps, mems, params = {}, {}, {}
        for label, (name, kw) in VARIANTS.items():
            torch.manual_seed(0)
            try:
                module = build_expansion(name, c, **kw).to(dev).train()
            except (ImportError, AttributeError) as exc:  # another variant not written yet
                rows.append(
                    {"name": f"{label} @ {size_name}", "value": "n/a", "unit": "", "note": f"not available: {exc}"}
                )
                continue
            steps[label] = _step(module, x, grid, modality)
            params[label] = sum(p.numel() for p in module.parameters())
            mems[label] = peak_memory_bytes(steps[label], x, module)
        times = interleaved_times(steps, repeats=repeats, warmup=1)
        for label in steps:
            mem, how = mems[label]
            rows.append(
                {
                    "name": f"{label} @ {size_name}, B={b}: fwd+bwd",
                    "value": times[label] * 1e3,
                    "unit": "ms",
                    "note": f"{params[label] / 1e6:.2f} M params, {dev.type}",
                }
            )
            rows.append(
                {"name": f"{label} @ {size_name}, B={b}: memory", "value": mem / 2**20, "unit": "MiB", "note": how}
            )
        gen = torch.randn(2 * b, n, c, device=dev)  # the K * B generated embeddings of T-MHEE
        rows += token_ort_rows(gen, f"{size_name}, K*B={2 * b}")
    if full_model:
        rows += full_model_rows(quick, dev)
    return rows


def main(argv: list[str] | None = None) -> int:
    return cli(
        "bench_vit_expansions",
        "DEEN-ViT expansion modules",
        run,
        argv,
        __doc__,
        options={
            "--device": {"default": None, "help": "cpu / cuda (default: cuda if available)"},
            "--no-full-model": {
                "dest": "full_model",
                "action": "store_false",
                "help": "skip the DEENViT full-model rows",
            },
        },
    )


if __name__ == "__main__":
    raise SystemExit(main())
