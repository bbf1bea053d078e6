"""DEEN-ViT: DEEN (Zhang & Wang, CVPR 2023) carried over to a ViT ("EmbedNet" on "DualViT").

The design, part by part, with every choice and its reason, is ``docs/deen_vit.md``; in short:

* **DualViT**: modality-specific patch embeddings (``patch_embed_visible``,
  ``patch_embed_infrared``; both initialised from a pretrained ``patch_embed`` by
  :meth:`DEENViT.load_pretrained`), a shared cls token, position embeddings and blocks
  (timm names).  The blocks are split into stages (default 4 x 3 of a 12-block ViT) and
  **each stage consumes the previous stage's output** (the images are embedded once).
  ``modal`` 0 = visible batch then infrared batch, as DEEN.
* **Token MFA** (:mod:`vireid.models.token_mfa`) after every stage, on the patch tokens
  (cls passes through).  ``mfa_low="stage0"``: the low-level input of every MFA is the
  stage-0 output (MFA0 is then MFA(x0, x0)); ``"previous"`` (DEEN's wiring): MFA_s gets
  the previous MFA's output, MFA0 the embedded tokens entering stage 0.  ``mfa_pool``
  (default 1, 1, 2, 4) pools the low-level tokens on the grid (docs/deen_vit.md, Token MFA).
* **Expansion** after the last MFA via :func:`vireid.models.expansion.build_expansion`
  (default ``"dee"``): patch tokens (B', N, C) -> (B' (1 + K), N, C).  The cls token is
  repeated for every embedding (the generated embeddings start from the original cls; the
  stage-4 blocks then mix each with its own tokens).
* **Stage 4**: ``stage4_depth`` new Transformer blocks (default 1), the
  pretrained final ``norm``, pooling (``pool="avg"`` over patch tokens, ``"cls"`` or ``"both"``
  = [cls, avg], 2C), neck (``"bnneck"``: DEEN's BatchNorm1d with frozen bias;
  ``"linear_bn_relu"``: Linear + BatchNorm1d + ReLU) and a bias-free classifier.
* **Losses**: ``aux_losses["ort"]`` is DEEN's orthogonal loss on the final pooled features
  of the generated embeddings (``vireid.losses.deen_orthogonal_loss``, only when K >= 2), in
  its ``absolute=True`` form: pooled ViT tokens are signed, and DEEN's raw form (written for
  post-ReLU CNN features) is unbounded below there;
  the expansion module's own label-free losses are added as ``"expansion_<name>"`` and its pooled
  generated embeddings as ``TrainOutput.branch_embeddings`` (SS-DEC's InfoNCE).
  ``TrainOutput.modality`` is the (M,) modality of the input batch (1 visible, 2 infrared).
* **SVDO** (ABD-Net, Sec. 3.2; docs/abd.md): ``svdo_of_stages`` puts the patch tokens that leave those
  stages (after MFA; index ``len(stages)`` = stage 4 before the final norm) in
  ``TrainOutput.of_features``, concatenated along the batch (the O.F. penalty is a mean over
  samples, so concatenation = averaging over stages and samples); :meth:`ow_modules` returns the
  qkv/proj/fc1/fc2 Linear layers of ``svdo_ow_blocks`` (indices into ``blocks`` followed by the
  stage-4 blocks).  Both off by default.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Annotated, Any, Literal, Mapping, Sequence

import torch
from torch import Tensor, nn

from vireid.core.params import AT_LEAST_1, NON_NEGATIVE, KwargsOf, Length, Registered
from vireid.errors import CheckpointError, ConfigError, ShapeError
from vireid.losses.orthogonal import deen_orthogonal_loss
from vireid.models.base import MODAL_BOTH, MODAL_INFRARED, MODAL_VISIBLE, ReIDModel, check_images, declared_config
from vireid.models.expansion import EXPANSIONS, build_expansion
from vireid.models.registry import register_model
from vireid.models.token_mfa import TokenMFA
from vireid.models.vit import (
    Block,
    DropPath,
    VisionTransformer,
    drop_path_rates,
    init_vit_weights_,
    prefix_and_position,
    run_blocks,
    to_2tuple,
    vit_kwargs,
)
from vireid.models.vit_weights import key_report, read_timm_checkpoint, resample_abs_pos_embed
from vireid.models.weights import load_state_dict_strict

# VisionTransformer kwargs that DEEN-ViT accepts in ``vit=dict(...)``.
VIT_KEYS = (
    "size",
    "patch_size",
    "patch_stride",
    "embed_dim",
    "depth",
    "num_heads",
    "mlp_ratio",
    "qkv_bias",
    "init_values",
    "pre_norm",
    "pos_drop_rate",
    "proj_drop_rate",
    "attn_drop_rate",
    "drop_path_rate",
)


def resolve_vit(vit: str | Mapping[str, Any]) -> dict[str, Any]:
    """``"tiny"|"small"|"base"`` or a dict of VisionTransformer kwargs (optionally ``size`` as the base)."""
    if isinstance(vit, str):
        return vit_kwargs(vit)
    if not isinstance(vit, Mapping):
        raise ConfigError(f"vit: expected 'tiny', 'small', 'base' or a dict, got {vit!r}")
    unknown = sorted(set(vit) - set(VIT_KEYS))
    if unknown:
        raise ConfigError(f"vit: unknown keys {unknown}; allowed: {', '.join(VIT_KEYS)}")
    cfg = vit_kwargs(vit["size"]) if "size" in vit else vit_kwargs("base")
    cfg.update({k: v for k, v in vit.items() if k != "size"})
    return cfg


class LinearBNReLU(nn.Sequential):
    """Neck option (docs/deen_vit.md): Linear + BatchNorm1d + ReLU (Kaiming fan-out Linear, as DEEN's init)."""

    def __init__(self, dim: int) -> None:
        super().__init__(nn.Linear(dim, dim), nn.BatchNorm1d(dim), nn.ReLU(inplace=False))
        nn.init.kaiming_normal_(self[0].weight, a=0, mode="fan_out")
        nn.init.zeros_(self[0].bias)


def _vit_family(a: Mapping[str, Any]) -> str | None:
    base = (a["embed_dim"], a["depth"], a["num_heads"], float(a.get("mlp_ratio", 4.0))) == (768, 12, 12, 4.0)
    return "vit_base_patch16" if base and to_2tuple(a["patch_size"], "patch_size") == (16, 16) else None


@register_model(
    "deen_vit", architecture="DEENViT", summary="DEEN on a dual-patch-embedding ViT (token MFA, expansion modules)"
)
class DEENViT(ReIDModel):
    """DEEN on a dual-patch-embedding ViT; see the module docstring for every choice."""

    train_bytes_per_input_byte = 200.0  # at least what benchmarks/bench_activation_memory.py measures

    def __init__(
        self,
        num_classes: Annotated[int, AT_LEAST_1],
        *,
        vit: Literal["tiny", "small", "base"] | Mapping[str, Any] = "base",
        img_size: Annotated[int | Sequence[int], Length(1, 2), AT_LEAST_1] = (384, 384),
        stages: Annotated[Sequence[int], Length(1, None), AT_LEAST_1] = (3, 3, 3, 3),
        mfa: bool = True,
        mfa_low: Literal["stage0", "previous"] = "stage0",
        mfa_pool: Annotated[Sequence[int], AT_LEAST_1] = (1, 1, 2, 4),
        mfa_norm: Literal["bn", "ln"] = "bn",
        expansion: Annotated[str, Registered(EXPANSIONS)] = "dee",
        expansion_kwargs: Annotated[
            Mapping[str, Any] | None, KwargsOf(EXPANSIONS, by="expansion", skip=("dim",))
        ] = None,
        stage4_depth: Annotated[int, NON_NEGATIVE] = 1,
        pool: Literal["avg", "cls", "both"] = "avg",
        neck: Literal["bnneck", "linear_bn_relu"] = "bnneck",
        grad_checkpointing: bool = False,
        svdo_of_stages: Annotated[Sequence[int], NON_NEGATIVE] = (),
        svdo_ow_blocks: Annotated[Sequence[int], NON_NEGATIVE] = (),
    ) -> None:
        super().__init__()
        self.config: dict[str, Any] = declared_config(DEENViT, locals())
        self.config["expansion_kwargs"] = self.config["expansion_kwargs"] or {}
        cfg = resolve_vit(vit)
        dim, depth, heads = int(cfg["embed_dim"]), int(cfg["depth"]), int(cfg["num_heads"])
        stages = tuple(int(s) for s in stages)
        if sum(stages) != depth:
            raise ConfigError(f"stages {stages} must be positive and sum to the ViT depth {depth}")
        if len(tuple(mfa_pool)) != len(stages):
            raise ConfigError(f"mfa_pool {tuple(mfa_pool)} needs one factor per stage ({len(stages)})")
        bad = [s for s in svdo_of_stages if not 0 <= int(s) <= len(stages)]
        if bad:
            raise ConfigError(f"svdo_of_stages {bad} out of range 0..{len(stages)}")
        bad = [b for b in svdo_ow_blocks if not 0 <= int(b) < depth + stage4_depth]
        if bad:
            raise ConfigError(f"svdo_ow_blocks {bad} out of range 0..{depth + stage4_depth - 1}")

        self.img_size = to_2tuple(img_size, "img_size")
        self.embed_dim, self.stages, self.pool, self.mfa_low = dim, stages, pool, mfa_low
        self.vit_args = {k: cfg[k] for k in ("patch_size", "embed_dim", "depth", "num_heads")}
        self.vit_args["mlp_ratio"] = float(cfg.get("mlp_ratio", 4.0))
        self.grad_checkpointing = bool(grad_checkpointing)
        self.svdo_of_stages = tuple(sorted({int(s) for s in svdo_of_stages}))
        self.svdo_ow_blocks = tuple(sorted({int(b) for b in svdo_ow_blocks}))
        # The shared trunk is timm's ViT (vireid.models.vit.VisionTransformer, checked against timm),
        # built once and adopted under DEEN-ViT's names; only the patch embedding is duplicated per modality.
        trunk = VisionTransformer(
            img_size=self.img_size,
            num_classes=0,
            global_pool="",
            fc_norm=False,
            **{k: v for k, v in cfg.items() if k not in ("drop_path_rate",)},
        )
        self.patch_embed_visible = trunk.patch_embed
        self.patch_embed_infrared = copy.deepcopy(trunk.patch_embed)
        self.patch_embed_infrared.proj.reset_parameters()  # independent until load_pretrained copies one stem
        self.grid_size: tuple[int, int] = trunk.grid_size
        self.cls_token, self.pos_embed, self.pos_drop = trunk.cls_token, trunk.pos_embed, trunk.pos_drop
        self.norm_pre, self.blocks, self.norm = trunk.norm_pre, trunk.blocks, trunk.norm
        # stochastic depth runs linearly over the trunk and the stage-4 blocks together
        dpr = drop_path_rates(cfg.get("drop_path_rate", 0.0), depth + stage4_depth)
        for blk, p in zip(self.blocks, dpr[:depth], strict=True):
            blk.drop_path1 = blk.drop_path2 = DropPath(p) if p > 0 else nn.Identity()
        self.mfa = nn.ModuleList(TokenMFA(dim, p, mfa_norm) for p in mfa_pool) if mfa else None
        self.expansion_name = expansion
        self.expansion = build_expansion(expansion, dim, **dict(expansion_kwargs or {}))
        self.num_embeddings = 1 + int(self.expansion.num_generated)
        block_args = dict(
            dim=dim,
            num_heads=heads,
            mlp_ratio=cfg.get("mlp_ratio", 4.0),
            qkv_bias=cfg.get("qkv_bias", True),
            proj_drop=cfg.get("proj_drop_rate", 0.0),
            attn_drop=cfg.get("attn_drop_rate", 0.0),
            init_values=cfg.get("init_values"),
        )
        self.stage4 = nn.Sequential(*[Block(**block_args, drop_path=dpr[depth + i]) for i in range(stage4_depth)])
        init_vit_weights_(self.stage4)
        self.feat_dim = 2 * dim if pool == "both" else dim
        self.init_head(self.feat_dim, num_classes, None if neck == "bnneck" else LinearBNReLU(self.feat_dim))

    @property
    def pretrained_family(self) -> str | None:  # type: ignore[override]
        """ViT-B/16 models take the named ImageNet weights; other sizes take files only."""
        return _vit_family(self.vit_args)

    @classmethod
    def family_for(cls, kwargs: dict[str, Any]) -> str | None:
        return _vit_family(resolve_vit(kwargs.get("vit", "base")))

    # ------------------------------------------------------------------ forward
    def _embed(self, x_vis: Tensor | None, x_ir: Tensor | None, modal: int) -> tuple[Tensor, Tensor]:
        """Patch tokens of the requested modalities (visible first) and their (M,) modality labels."""
        parts, labels = [], []
        if modal not in (MODAL_BOTH, MODAL_VISIBLE, MODAL_INFRARED):
            raise ShapeError(f"modal must be 0 (both), 1 (visible) or 2 (infrared), got {modal!r}")
        for x, embed, code, name, used in (
            (x_vis, self.patch_embed_visible, MODAL_VISIBLE, "x_vis", (0, 1)),
            (x_ir, self.patch_embed_infrared, MODAL_INFRARED, "x_ir", (0, 2)),
        ):
            if modal not in used:
                continue
            if x is None:
                raise ShapeError(f"{name} is required for modal={modal}")
            check_images(x, name, self.patch_embed_visible.patch_size)
            if tuple(x.shape[2:]) != self.img_size:
                raise ShapeError(
                    f"{name}: this model was built for {self.img_size[0]}x{self.img_size[1]} images "
                    f"(img_size), got {x.shape[2]}x{x.shape[3]}"
                )
            parts.append(embed(x))
            labels.append(torch.full((x.shape[0],), code, dtype=torch.long, device=x.device))
        return torch.cat(parts, 0), torch.cat(labels, 0)

    def _pool(self, x: Tensor) -> Tensor:
        if self.pool == "cls":
            return x[:, 0]
        avg = x[:, 1:].mean(dim=1)
        return torch.cat((x[:, 0], avg), dim=1) if self.pool == "both" else avg

    def forward_features(
        self, x_vis: Tensor | None, x_ir: Tensor | None, modal: int = MODAL_BOTH
    ) -> tuple[Tensor, dict[str, Tensor], dict[str, Any]]:
        tokens, modality = self._embed(x_vis, x_ir, modal)
        m = tokens.shape[0]
        x = self.norm_pre(prefix_and_position(tokens, self.cls_token, self.pos_embed, self.pos_drop))
        low = x[:, 1:]
        of_feats: list[Tensor] = []
        start = 0
        for s, n_blocks in enumerate(self.stages):
            x = run_blocks(self.blocks[start : start + n_blocks], x, self.grad_checkpointing)
            start += n_blocks
            if self.mfa is not None:
                patches = x[:, 1:]
                if s == 0 and self.mfa_low == "stage0":
                    low = patches
                z = self.mfa[s](patches, low, self.grid_size)
                if self.mfa_low == "previous":
                    low = z
                x = torch.cat((x[:, :1], z), dim=1)
            if s in self.svdo_of_stages:
                of_feats.append(x[:, 1:])
        expanded, exp_aux, branch_embeddings = self.expansion(x[:, 1:], self.grid_size, modality)
        e = expanded.shape[0] // m
        x = torch.cat((x[:, :1].repeat(e, 1, 1), expanded), dim=1)
        x = run_blocks(self.stage4, x, self.grad_checkpointing)
        if len(self.stages) in self.svdo_of_stages:
            of_feats.append(x[:, 1:])
        pooled = self._pool(self.norm(x))
        aux: dict[str, Tensor] = {}
        if e >= 3 and self.training:  # a training loss; skipped at test time
            aux["ort"] = deen_orthogonal_loss(pooled, e, absolute=True)
        aux.update({f"expansion_{k}": v for k, v in exp_aux.items()})
        fields: dict[str, Any] = {"modality": modality, "branch_embeddings": branch_embeddings, "feature_map": x}
        if of_feats:
            fields["of_features"] = torch.cat(of_feats, dim=0)
        return pooled, aux, fields

    @property
    def aux_loss_names(self) -> tuple[str, ...]:
        own = ("ort",) if self.num_embeddings >= 3 else ()
        return own + tuple(f"expansion_{n}" for n in self.expansion.aux_loss_names)

    # ------------------------------------------------------------------ options
    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.grad_checkpointing = bool(enable)

    def ow_modules(self, reach: str = "all") -> list[nn.Module]:
        """The Linear layers (qkv, proj, fc1, fc2) of ``svdo_ow_blocks`` for SVDO O.W.; ``reach`` (which
        of a ResNet's convolutions ABD-Net's code covers) has no ViT counterpart: the blocks are chosen
        by ``svdo_ow_blocks``."""
        all_blocks = [*self.blocks, *self.stage4]
        return [
            layer
            for i in self.svdo_ow_blocks
            for layer in (all_blocks[i].attn.qkv, all_blocks[i].attn.proj, all_blocks[i].mlp.fc1, all_blocks[i].mlp.fc2)
        ]

    def pretrained_key_map(self) -> dict[str, list[str]]:
        """timm checkpoint key -> the keys of this model it initialises."""
        own = self.state_dict()
        mapping: dict[str, list[str]] = {"cls_token": ["cls_token"], "pos_embed": ["pos_embed"]}
        for k in own:
            if k.startswith("patch_embed_visible."):
                rest = k[len("patch_embed_visible.") :]
                mapping[f"patch_embed.{rest}"] = [k, f"patch_embed_infrared.{rest}"]
            elif k.startswith(("blocks.", "norm.", "norm_pre.")):
                mapping[k] = [k]
        return mapping

    def _load_pretrained_file(self, path: Path) -> None:
        """The ViT parts from a timm ViT checkpoint (timm names; ``head.*`` and ``pre_logits.*`` ignored).

        ``patch_embed`` initialises both modality embeddings; ``pos_embed`` is kept when it has this
        model's grid and resampled otherwise (timm's rule; the checkpoint's grid must then be square).
        Keys missing from the checkpoint, unknown keys and shape mismatches raise one
        :class:`CheckpointError` listing them.  MFA, expansion, stage 4, neck and classifier keep their
        initialisation.
        """
        sd = {k: v for k, v in read_timm_checkpoint(path).items() if not k.startswith(("head.", "pre_logits."))}
        if "pos_embed" in sd and sd["pos_embed"].shape != self.pos_embed.shape:
            try:
                sd["pos_embed"] = resample_abs_pos_embed(sd["pos_embed"], self.grid_size, None, 1)
            except (CheckpointError, ShapeError) as exc:
                raise CheckpointError(f"{path}: {exc}") from None
        mapping = self.pretrained_key_map()
        missing = sorted(set(mapping) - set(sd))
        unexpected = sorted(set(sd) - set(mapping))
        if missing or unexpected:
            raise CheckpointError(key_report(path, missing, unexpected, []))
        new = {dst: sd[src] for src, dsts in mapping.items() for dst in dsts}
        load_state_dict_strict(self, new, source=f"{path} (timm ViT)", strict=False)
