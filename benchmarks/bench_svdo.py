"""SVDO by power iteration vs exact ``torch.linalg.eigvalsh`` (forward + backward).

Feature maps at DEEN / ViT sizes (O.F.) and all ResNet-50 conv weights (O.W.): time of our
power-iteration penalty (default 2 steps) against the same penalty with exact eigenvalues of
the same Gram (``eigvalsh``), plus the relative error of the 2-step ``lambda_1`` estimate.
Non-negative inputs stand in for post-ReLU features.

    python -m benchmarks.bench_svdo [--quick] [--device cuda] [--no-write]
"""

from __future__ import annotations

import torch
from torch import nn

from benchmarks._common import cli, interleaved_times
from benchmarks.bench_losses import synced
from vireid.losses import FeatureOrthogonality, WeightOrthogonality, svdo_eigs


def _smaller_gram(m: torch.Tensor) -> torch.Tensor:
    if m.shape[-2] <= m.shape[-1]:
        return m @ m.transpose(-1, -2)
    return m.transpose(-1, -2) @ m


def _exact_penalty(m: torch.Tensor) -> torch.Tensor:
    lam = torch.linalg.eigvalsh(_smaller_gram(m))
    return (lam[..., -1] - lam[..., 0]).pow(2).sum()


def resnet50_convs() -> nn.ModuleList:
    """Conv2d layers with the shapes of torchvision's ResNet-50 (53 convs)."""
    convs = [nn.Conv2d(3, 64, 7, bias=False)]
    inplanes = 64
    for planes, blocks in ((64, 3), (128, 4), (256, 6), (512, 3)):
        for i in range(blocks):
            convs += [
                nn.Conv2d(inplanes, planes, 1, bias=False),
                nn.Conv2d(planes, planes, 3, bias=False),
                nn.Conv2d(planes, planes * 4, 1, bias=False),
            ]
            if i == 0:
                convs.append(nn.Conv2d(inplanes, planes * 4, 1, bias=False))
            inplanes = planes * 4
    return nn.ModuleList(convs)


def run(quick: bool = False, device: str = "cpu") -> list[dict]:
    torch.manual_seed(0)
    b = 2 if quick else 16
    reps = 3 if quick else 7
    feature_cases = {
        "OF_deen_layer2": (b, 512, 48, 18),  # after layer2 (+CAM) at 384x144: C < HW
        "OF_deen_layer4": (b, 2048, 24, 9),  # layer4 output: HW < C, Gram 216x216
        "OF_vit_tokens": (b, 576, 768),  # (B, N, C) tokens -> M = (768, 576)
    }
    rows = []
    for name, shape in feature_cases.items():
        x = torch.randn(*shape, device=device).relu_()
        m = x.flatten(2) if x.dim() == 4 else x.transpose(1, 2)
        of = FeatureOrthogonality(beta=1.0, seed=0)

        def power(x=x, of=of):
            xi = x.detach().requires_grad_(True)
            of(xi).backward()

        def exact(x=x):
            xi = x.detach().requires_grad_(True)
            mi = xi.flatten(2) if xi.dim() == 4 else xi.transpose(1, 2)
            (_exact_penalty(mi) / xi.shape[0]).backward()

        t = interleaved_times({"power": synced(power, device), "exact": synced(exact, device)}, repeats=reps)
        with torch.no_grad():
            lam1 = svdo_eigs(m, generator=torch.Generator().manual_seed(0))[0]
            ref = torch.linalg.eigvalsh(_smaller_gram(m))[..., -1]
            err = ((lam1 - ref).abs() / ref).max().item()
        note = f"input {tuple(shape)}, Gram {min(m.shape[-2:])}^2"
        rows += [
            {"name": f"{name}_power2", "value": t["power"] * 1e3, "unit": "ms", "note": note},
            {"name": f"{name}_eigvalsh", "value": t["exact"] * 1e3, "unit": "ms", "note": note},
            {"name": f"{name}_lambda1_relerr", "value": err, "unit": "", "note": "2 steps, max over batch"},
        ]
    convs = resnet50_convs()
    if quick:  # conv1 and layer1
        convs = convs[:11]
    convs = convs.to(device)
    ow = WeightOrthogonality(beta=1.0, seed=0)

    def ow_power():
        convs.zero_grad(set_to_none=True)
        ow(convs).backward()

    def ow_exact():
        convs.zero_grad(set_to_none=True)
        sum(_exact_penalty(c.weight.reshape(c.weight.shape[0], -1)) for c in convs).backward()

    t = interleaved_times({"power": synced(ow_power, device), "exact": synced(ow_exact, device)}, repeats=reps)
    note = f"{len(convs)} of ResNet-50's 53 convs, fwd+bwd"
    rows += [
        {"name": "OW_resnet50_power2", "value": t["power"] * 1e3, "unit": "ms", "note": note},
        {"name": "OW_resnet50_eigvalsh", "value": t["exact"] * 1e3, "unit": "ms", "note": note},
    ]
    return rows


def main(argv: list[str] | None = None) -> int:
    return cli(
        "bench_svdo",
        "SVDO power iteration vs exact eigen-decomposition",
        run,
        argv,
        __doc__,
        options={"--device": {"default": "cpu", "help": "torch device, e.g. cpu or cuda"}},
    )


if __name__ == "__main__":
    raise SystemExit(main())
