"""ABD-Net's SVDO orthogonality regularisers (O.F. on features, O.W. on weights).

Chen et al., "ABD-Net: Attentive but Diverse Person Re-Identification", ICCV 2019, Sec. 3.2
(SVDO): ``SVDO(M) = beta * ||lambda_1(M M^T) - lambda_2(M M^T)||_2^2`` with ``lambda_1`` /
``lambda_2`` the largest / smallest eigenvalue, both estimated by power iteration (no SVD or
EVD in the training path).  Details checked against the authors' code
(``torchreid/losses/of_penalty.py`` for O.F., ``torchreid/regularizers/SVMO.py`` -- the
regulariser their ``--use-ow`` actually selects -- for O.W.; the choices are discussed in
docs/abd.md):

* **Estimator.**  ``k = num_iters`` matrix-vector products: ``v <- X v / |X v|`` ``k - 1``
  times, then the Rayleigh quotient ``v^T X v / v^T v``.  For ``k = 2`` this is exactly
  the authors' ``(X X x)^T (X x) / (X x)^T (X x)``.  The Rayleigh quotient (not the norm
  ratio ``|q| / |p|`` of successive iterates) is signed, which the shifted step needs.
* ``lambda_2 = lambda_1 + mu`` with ``mu`` the dominant eigenvalue of ``X - lambda_1 I``
  (negative: ``lambda_min - lambda_1``), estimated the same way.
* **Cost.**  The Gram ``X`` (n x n, n = its side) is formed once (O(n^2 c), one GEMM); each
  step is then O(n^2), and the shift is applied in the product (``X v - lambda_1 v``), so
  ``X - lambda_1 I`` is never formed.  (Matrix-free ``M (M^T v)`` steps are slower on CPU,
  fwd + bwd: each step's backward writes a full-size gradient of ``M``.)
* Start vectors: uniform ``[0, 1)`` for ``lambda_1`` (as SVMO.py; it overlaps well with the
  Perron vector of the non-negative Gram of post-ReLU features, where of_penalty.py's standard
  normal start can be nearly orthogonal to it) and standard normal for the shifted step (as
  of_penalty.py), drawn from ``generator`` (a seeded ``torch.Generator``;
  ``None`` = the global CPU RNG) on the CPU and moved to ``M``'s device, so results do not
  depend on the device.
* **No detach**: gradients flow through the whole iteration, shift included, as in the
  authors' code.  Computed in float32 with autocast disabled (eigenvalues overflow fp16).
* **Which Gram.**  ``gram="auto"`` (default) uses the smaller of ``M M^T`` and ``M^T M``:
  cheaper (O(n^2 c) with n = min(r, c)), and its eigenvalues are the squared singular values
  ``sigma_i(M)^2``, all ``min(r, c)`` of them, so ``lambda_2 = sigma_min(M)^2``.  The larger Gram has the same
  non-zero eigenvalues plus ``|r - c|`` exact zeros, so with it ``lambda_2`` is 0 whenever
  ``M`` is wide/tall -- which is what the authors' code computes for O.F. maps with
  ``C > H*W`` and O.W. 1x1 convs with ``out > in`` (they always use the ``rows x rows``
  Gram).  ``gram="outer"`` (``M M^T``) reproduces that; ``"inner"`` forces ``M^T M``.

The O.F. penalty has both forms: the paper's squared gap averaged over samples (the class
defaults) and the authors' training code's (``of_penalty.py:62,67``): the linear gap
``beta * (lambda_1 - lambda_2)`` summed over samples and divided by ``B / 32``
(``squared=False, reduction="abd"``).  The objective's ``of`` term uses the authors' form unless
``loss.svdo_of.form=paper`` (:mod:`vireid.objective.terms`).  Their SVMO multiplies ``beta`` by
10 (``SVMO.py:72``); :class:`WeightOrthogonality` uses ``beta`` as given, so ABD-Net's
``--ow-beta 1e-3`` is a weight of ``1e-2`` here.
"""

from __future__ import annotations

from typing import Callable, Iterable, Literal

import torch
from torch import Tensor, nn

from vireid.errors import ShapeError

Gram = Literal["auto", "outer", "inner"]


def _use_outer(m: Tensor, gram: Gram) -> bool:
    if gram not in ("auto", "outer", "inner"):
        raise ValueError(f"gram must be 'auto', 'outer' or 'inner', got {gram!r}")
    return gram == "outer" or (gram == "auto" and m.shape[-2] <= m.shape[-1])


def _gram(m: Tensor, outer: bool) -> Tensor:
    return m @ m.transpose(1, 2) if outer else m.transpose(1, 2) @ m


def _rayleigh_power(x: Tensor, start: Tensor, num_iters: int, shift: Tensor | None = None) -> Tensor:
    """Dominant eigenvalue of ``x - shift * I`` (x: (B, n, n), start: (B, n)) -> (B,)."""

    def matvec(v: Tensor) -> Tensor:
        w = (x @ v.unsqueeze(-1)).squeeze(-1)
        return w if shift is None else w - shift.unsqueeze(-1) * v

    v = start
    for _ in range(num_iters - 1):
        w = matvec(v)
        v = w / w.norm(dim=-1, keepdim=True).clamp(min=1e-30)
    w = matvec(v)
    return (v * w).sum(-1) / (v * v).sum(-1).clamp(min=1e-30)


def svdo_eigs(
    M: Tensor, num_iters: int = 2, generator: torch.Generator | None = None, gram: Gram = "auto"
) -> tuple[Tensor, Tensor]:
    """Power-iteration estimates ``(lambda_1, lambda_2)`` of the Gram of ``M``.

    ``M``: (r, c) or a batch (B, r, c).  Returns float32 tensors of shape () or (B,).
    """
    if M.dim() not in (2, 3):
        raise ShapeError(f"svdo_eigs: expected M of shape (r, c) or (B, r, c), got {tuple(M.shape)}")
    if num_iters < 1:
        raise ValueError(f"num_iters must be >= 1, got {num_iters}")
    single = M.dim() == 2
    m = M.unsqueeze(0) if single else M
    outer = _use_outer(m, gram)
    with torch.autocast(device_type=m.device.type, enabled=False):
        x = _gram(m.float(), outer)
        b, n = x.shape[0], x.shape[-1]
        gdev = generator.device if generator is not None else torch.device("cpu")
        s1 = torch.rand(b, n, generator=generator, device=gdev).to(x.device)
        s2 = torch.randn(b, n, generator=generator, device=gdev).to(x.device)
        lam1 = _rayleigh_power(x, s1, num_iters)
        lam2 = lam1 + _rayleigh_power(x, s2, num_iters, shift=lam1)
    if single:
        return lam1[0], lam2[0]
    return lam1, lam2


def _make_generator(seed: int | None) -> torch.Generator | None:
    return None if seed is None else torch.Generator().manual_seed(int(seed))


Reduction = Literal["mean", "abd"]


class FeatureOrthogonality(nn.Module):
    """O.F.: ``beta * (lambda_1 - lambda_2)^2`` (``squared``, the paper's form) or
    ``beta * (lambda_1 - lambda_2)`` (the authors' code) of per-sample feature matrices, reduced
    over the batch by ``reduction``.

    Input: CNN maps (B, C, H, W) -> M_b = (C, H*W), or ViT tokens (B, N, C) -> M_b = (C, N).
    ``reduction="mean"``: the mean over the B samples; ``"abd"``: ABD-Net's
    ``singular_penalty.sum() / (x.size(0) / 32.)`` (``of_penalty.py:67``, "normalize to 32-batch
    case"), i.e. 32 x the mean.  Their code also scales its "intermediate" position (the shallow
    CAM's output) by 0.01 (``of_penalty.py:64-65``): that factor belongs in ``beta``.
    Beware of scale: with post-ReLU maps ``lambda_1`` grows like ``C * H * W``, so the squared
    gap grows like its square; for DEEN's layer2 maps at 192 x 72 from random weights the squared
    penalty at beta = 1e-6 is ~3e4 against identity ~6 and triplet ~60.  Check it against the
    other losses (``tests/config/test_balance.py`` does for every shipped config).
    ``seed`` seeds a private generator for the start vectors (``None``: global RNG);
    ``forward(x, generator=...)`` overrides it.
    """

    def __init__(
        self,
        beta: float = 1e-6,
        num_iters: int = 2,
        squared: bool = True,
        gram: Gram = "auto",
        seed: int | None = None,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__()
        if reduction not in ("mean", "abd"):
            raise ValueError(f"reduction must be 'mean' or 'abd', got {reduction!r}")
        self.beta, self.num_iters, self.squared, self.gram = float(beta), int(num_iters), bool(squared), gram
        self.reduction = reduction
        self._generator = _make_generator(seed)

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        if x.dim() == 4:
            m = x.flatten(2)  # (B, C, H*W)
        elif x.dim() == 3:
            m = x.transpose(1, 2)  # tokens (B, N, C) -> (B, C, N)
        else:
            raise ShapeError(
                f"FeatureOrthogonality: expected maps (B, C, H, W) or tokens (B, N, C), got {tuple(x.shape)}"
            )
        gen = generator if generator is not None else self._generator
        lam1, lam2 = svdo_eigs(m, self.num_iters, gen, self.gram)
        gap = lam1 - lam2
        per_sample = self.beta * (gap.pow(2) if self.squared else gap)
        if self.reduction == "abd":
            return per_sample.sum() / (per_sample.shape[0] / 32.0)
        return per_sample.mean()

    def extra_repr(self) -> str:
        return (
            f"beta={self.beta}, num_iters={self.num_iters}, squared={self.squared}, gram={self.gram!r}, "
            f"reduction={self.reduction!r}"
        )


ModuleFilter = Callable[[str, nn.Module], bool]


class WeightOrthogonality(nn.Module):
    """O.W.: sum over layers of ``beta * (lambda_1 - lambda_2)^2`` (``form="difference"``)
    or ``beta * (lambda_1 / lambda_2 - 1)^2`` (``form="condition"``, ABD-Net's SVDO.py form).

    Each ``nn.Conv2d`` weight (and ``nn.Linear`` if ``include_linear``) is reshaped to
    (out, in * kh * kw).  ``forward(modules, filter=None)`` takes a root module (all its
    sub-modules, ``filter(name, module)`` selecting) or an iterable of modules (names are
    their indices).  Layers with equal weight shapes are estimated in one batched call.
    ABD-Net's SVMO.py (what their ``--use-ow`` runs: the difference form) uses ``10 * beta``
    (``SVMO.py:72``) and skips single-output layers (whose penalty is 0 here anyway); pass
    ``beta=1e-2`` for their ``--ow-beta 1e-3``.  Their SVDO.py (condition form, not selected by their
    training script) estimates with ``|X^2 x|^2 / |X x|^2``, i.e. ``lambda^2``, and then
    shifts by it; we use proper eigenvalue estimates for both forms.  ``eps`` bounds
    ``lambda_2`` away from 0 in the condition form.
    """

    def __init__(
        self,
        beta: float = 1e-3,
        form: Literal["difference", "condition"] = "difference",
        num_iters: int = 2,
        include_linear: bool = False,
        gram: Gram = "auto",
        eps: float = 1e-12,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        if form not in ("difference", "condition"):
            raise ValueError(f"form must be 'difference' or 'condition', got {form!r}")
        self.beta, self.form, self.num_iters = float(beta), form, int(num_iters)
        self.include_linear, self.gram, self.eps = bool(include_linear), gram, float(eps)
        self._generator = _make_generator(seed)

    def _weights(self, modules: nn.Module | Iterable[nn.Module], filter: ModuleFilter | None) -> list[Tensor]:
        named = (
            modules.named_modules() if isinstance(modules, nn.Module) else ((str(i), m) for i, m in enumerate(modules))
        )
        kinds: tuple[type, ...] = (nn.Conv2d, nn.Linear) if self.include_linear else (nn.Conv2d,)
        return [
            m.weight.reshape(m.weight.shape[0], -1)
            for name, m in named
            if isinstance(m, kinds) and (filter is None or filter(name, m))
        ]

    def forward(
        self,
        modules: nn.Module | Iterable[nn.Module],
        filter: ModuleFilter | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        weights = self._weights(modules, filter)
        if not weights:
            raise ShapeError("WeightOrthogonality: no Conv2d/Linear layer selected")
        groups: dict[tuple[int, int], list[Tensor]] = {}
        for w in weights:
            groups.setdefault(tuple(w.shape), []).append(w)
        gen = generator if generator is not None else self._generator
        total = weights[0].new_zeros((), dtype=torch.float32)
        for ws in groups.values():
            lam1, lam2 = svdo_eigs(torch.stack(ws), self.num_iters, gen, self.gram)
            if self.form == "difference":
                pen = (lam1 - lam2).pow(2)
            else:
                pen = (lam1 / lam2.clamp(min=self.eps) - 1).pow(2)
            total = total + pen.sum()
        return self.beta * total

    def extra_repr(self) -> str:
        return (
            f"beta={self.beta}, form={self.form!r}, num_iters={self.num_iters}, "
            f"include_linear={self.include_linear}, gram={self.gram!r}"
        )
