"""``configs/agw_{sysu,regdb,llcm}.yaml`` is the AGW authors' run, value by value.

Each value is held against the authors' code: ``AGW/{train,test,model,utils,random_erasing}.py`` of
ZYK100/LLCM at commit 886e27c (identical to mangye16/Cross-Modal-Re-ID-baseline for model, loss
and utils), run as their README says: ``python train.py --dataset sysu --lr 0.1 --method agw``.
"""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import pytest
import torch

from tests.config.test_loader import CONFIGS
from vireid.config import build, load_config
from vireid.engine.hooks import EvalHook
from vireid.losses import WeightedRegularizedTriplet
from vireid.models.base import TrainOutput

RECIPES = ["agw_sysu.yaml", "agw_regdb.yaml", "agw_llcm.yaml"]

# (config field, the authors' value, where it is)
AUTHORS = [
    ("data.height", 288, "train.py:35 --img_h default 288"),
    ("data.width", 144, "train.py:34 --img_w default 144"),
    ("data.num_ids", 8, "train.py:36 --batch-size default 8 (identities per batch)"),
    ("data.num_pos", 4, "train.py:41 --num_pos default 4"),
    ("data.workers", 4, "train.py:33 --workers default 4"),
    ("data.test_batch_size", 64, "train.py:37 --test-batch default 64"),
    ("data.pad", 10, "train.py:105 transforms.Pad(10)"),
    ("data.flip", True, "train.py:107 transforms.RandomHorizontalFlip()"),
    ("data.grayscale_p", 0.0, "train.py:103-111 no RandomGrayscale in transform_train"),
    ("data.erasing_p", 0.5, "train.py:40 --erasing_p default 0.5, used at :110"),
    ("data.erasing_area", (0.02, 0.4), "random_erasing.py:22 defaults sl=0.02, sh=0.4 (train.py:110 sets neither)"),
    ("data.erasing_ratio", 0.3, "random_erasing.py:22 default r1=0.3"),
    ("data.erasing_value", (0.0, 0.0, 0.0), "train.py:110 RandomErasing(..., mean=[0.0, 0.0, 0.0])"),
    ("data.channel_aug", None, "train.py:103-111 no channel augmentation"),
    ("model.name", "agw", "train.py:176-177 embed_net (method agw)"),
    ("model.args", {"non_local": True, "gem": True}, "train.py:177 embed_net(n_class, no_local='on', gm_pool='on')"),
    ("loss.id_weight", 1.0, "train.py:270 loss = loss_id + loss_tri"),
    ("loss.label_smoothing", 0.0, "train.py:194 nn.CrossEntropyLoss()"),
    ("loss.triplet", "weighted", "train.py:195-196 criterion_tri = TripletLoss_WRT()"),
    ("loss.triplet_weight", 1.0, "train.py:270 loss = loss_id + loss_tri"),
    ("loss.metric_normalize", False, "train.py:265 criterion_tri(feat, labels): normalize_feature=False"),
    ("loss.cpm_weight", 0.0, "train.py:270 no other term"),
    ("loss.ort_weight", 0.0, "train.py:270 no other term"),
    ("loss.svdo_of_weight", 0.0, "train.py:270 no other term"),
    ("loss.svdo_ow_weight", 0.0, "train.py:270 no other term"),
    ("loss.infonce_weight", 0.0, "train.py:270 no other term"),
    ("optim.name", "sgd", "train.py:25 --optim default 'sgd'"),
    ("optim.lr", 0.1, "train.py:24 --lr default 0.1; :213-214 bottleneck and classifier at args.lr"),
    ("optim.backbone_lr_mult", 0.1, "train.py:212 {'params': base_params, 'lr': 0.1 * args.lr}"),
    ("optim.head_modules", ("bottleneck", "classifier"), "train.py:206-207 ignored_params: bottleneck, classifier"),
    ("optim.momentum", 0.9, "train.py:215 momentum=0.9"),
    ("optim.nesterov", True, "train.py:215 nesterov=True"),
    ("optim.weight_decay", 5e-4, "train.py:215 weight_decay=5e-4"),
    ("optim.schedule", "step", "train.py:218-233 adjust_learning_rate, once per epoch (:238)"),
    ("optim.warmup_epochs", 10.0, "train.py:220-221 lr * (epoch + 1) / 10 for epoch < 10"),
    ("optim.milestones", (20, 50), "train.py:224-227 0.1 lr from epoch 20, 0.01 lr from epoch 50"),
    ("optim.gammas", (0.1, 0.01), "train.py:224-227"),
    ("optim.grad_clip", None, "train.py:271-273 no clipping"),
    ("train.epochs", 81, "train.py:365 for epoch in range(start_epoch, 81 - start_epoch)"),
    ("train.steps_per_epoch", None, "utils.py:73-74 int(N / (batchSize * num_pos)) + 1 batches (our default)"),
    ("train.seed", 0, "train.py:43 --seed default 0"),
    ("eval.every", 2, "train.py:387 if epoch > 0 and epoch % 2 == 0"),
    ("eval.start", 3, "train.py:387 first after 0-based epoch 2, i.e. 3 epochs done"),
    ("eval.trials", 1, "train.py:128 process_gallery_sysu(..., trial=0) while training"),
    ("eval.metric", "rank1", "train.py:393 best by cmc_att[0]"),
    ("eval.flip", False, "test.py:108,126 one forward per image, no flipped copy"),
    ("eval.combine", "bn", "test.py:263 distmat from feat_fc (the BN feature), printed first (:282)"),
]


def field(cfg, dotted: str):
    section, name = dotted.split(".")
    return getattr(getattr(cfg, section), name)


@pytest.mark.parametrize("recipe", RECIPES)
@pytest.mark.parametrize("dotted, value, where", AUTHORS, ids=[a[0] for a in AUTHORS])
def test_recipe_value_is_the_authors(recipe, dotted, value, where):
    got = field(load_config(CONFIGS / recipe), dotted)
    if isinstance(value, float):
        assert got == pytest.approx(value), where
    else:
        assert got == value, where


def test_recipes_differ_only_in_the_dataset():
    sysu, regdb, llcm = (load_config(CONFIGS / r) for r in RECIPES)
    assert (sysu.data.dataset, sysu.data.mode) == ("sysu", "all")  # test.py:38 --mode default 'all'
    assert (regdb.data.dataset, regdb.data.trial) == ("regdb", 1)  # train.py:42 --trial default 1
    assert llcm.data.dataset == "llcm"
    for other in (regdb, llcm):
        assert other.model == sysu.model and other.loss == sysu.loss and other.optim == sysu.optim
        assert other.train == sysu.train
    # evaluation differs only where their code does: LLCM selects on VIS -> IR (train.py:64
    # test_mode = [2, 1]); RegDB's paper columns are our own directions (test.py:306-307, 323-338:
    # each image through its own stem, unlike DEEN's test.py)
    assert replace(llcm.eval, select_direction=None) == sysu.eval
    assert llcm.eval.select_direction == "visible_to_infrared"
    assert replace(regdb.eval, paper_columns={}) == sysu.eval
    assert build.paper_columns(regdb) == {d: d for d in ("visible_to_infrared", "infrared_to_visible")}


def authors_lr(epoch: int, lr: float = 0.1) -> float:
    """``adjust_learning_rate`` of AGW/train.py:218-233 (LR of the bottleneck/classifier groups)."""
    if epoch < 10:
        return lr * (epoch + 1) / 10
    if epoch < 20:
        return lr
    if epoch < 50:
        return lr * 0.1
    return lr * 0.01


def test_schedule_and_groups_are_the_authors_for_every_epoch():
    cfg = load_config(
        CONFIGS / "agw_sysu.yaml",
        ["model.args.base_channels=4", "model.args.layers=[1,1,1,1]", "model.pretrained=none"],
    )
    model = build.build_model(cfg.model, num_classes=5)
    opt = build.build_optimizer(cfg.optim, model)
    head = {id(p) for m in (model.bottleneck, model.classifier) for p in m.parameters() if p.requires_grad}
    groups = {g["name"]: g for g in opt.param_groups}
    assert groups["head"]["lr"] == pytest.approx(0.1) and groups["backbone"]["lr"] == pytest.approx(0.01)
    assert {id(p) for p in groups["head"]["params"]} == head
    assert {id(p) for p in groups["backbone"]["params"]} == {
        id(p) for p in model.parameters() if p.requires_grad
    } - head
    assert all(g["momentum"] == 0.9 and g["nesterov"] and g["weight_decay"] == 5e-4 for g in opt.param_groups)
    schedule = build.build_schedule(cfg)
    assert not schedule.per_step  # train.py:238: set once at the start of each epoch
    for epoch in range(cfg.train.epochs):
        assert cfg.optim.lr * schedule(epoch) == pytest.approx(authors_lr(epoch), rel=1e-12), epoch


def test_evaluation_epochs_are_the_authors():
    cfg = load_config(CONFIGS / "agw_sysu.yaml")
    hook = EvalHook(lambda: {}, every=cfg.eval.every, start=cfg.eval.start)
    due = []
    for epoch in range(cfg.train.epochs):  # our 0-based epoch counter, like theirs
        hook.trainer = SimpleNamespace(epoch=epoch, epochs=cfg.train.epochs)
        if hook._due():
            due.append(epoch)
    assert due == [e for e in range(81) if e > 0 and e % 2 == 0]  # train.py:365, :387


def test_transform_and_criterion_are_the_authors():
    cfg = load_config(CONFIGS / "agw_sysu.yaml")
    kw = build.train_transform_kwargs(cfg.data)
    assert kw["grayscale_p"] == 0.0 and kw["erasing_value"] == (0.0, 0.0, 0.0) and kw["flip_p"] == 0.5
    model = build.build_model(load_config(CONFIGS / "test_tiny_agw.yaml").model, num_classes=3)
    crit = build.build_objective(cfg.loss, model)
    tri = next(t for t in crit.terms if t.name == "tri")
    assert isinstance(tri.loss, WeightedRegularizedTriplet) and not tri.loss.normalize_feature
    # on AGW's single embedding the objective is exactly CE + WRT (train.py:264-270)
    torch.manual_seed(0)
    feat, logits = torch.randn(8, 6), torch.randn(8, 3)
    lab = torch.tensor([0, 0, 1, 1])
    out = TrainOutput(feat, logits, {})
    terms = crit(out, lab, lab)
    labels = torch.cat((lab, lab))
    assert set(terms) == {"id", "tri"}
    torch.testing.assert_close(terms["id"], torch.nn.functional.cross_entropy(logits, labels))
    torch.testing.assert_close(terms["tri"], WeightedRegularizedTriplet()(feat, labels))


def test_llcm_selection_equals_the_authors_in_training_test(tmp_path):
    """AGW/train.py on LLCM (test_mode = [2, 1], line 64): ``process_query_llcm(mode=1)`` -- every
    visible test image -- against ``process_gallery_llcm(mode=2, trial=0)`` (lines 147-148), the
    gallery through the infrared stem (``net(input, input, test_mode[0])``, line 314), the queries
    through the visible one (line 331), ``distmat_att = query_feat_att @ gall_feat_att.T`` (line 340),
    not transposed, ``eval_llcm(-distmat_att, query_label, gall_label, query_cam, gall_cam)`` (line
    351) and the best checkpoint by its Rank-1 (line 393)."""
    from tests.data.layouts import make_llcm
    from tests.evaluation.reference import evaluate_reference
    from vireid.core.device import resolve_amp
    from vireid.core.distributed import DistInfo
    from vireid.data.datasets import build_dataset
    from vireid.data.loaders import build_test_loader
    from vireid.engine.context import RunContext, evaluate_model
    from vireid.models import AGW

    root = make_llcm(tmp_path / "llcm")
    cfg = load_config(
        CONFIGS / "agw_llcm.yaml",
        [f"data.root={root}", "data.height=32", "data.width=16", "data.workers=0", "model.pretrained=none"],
    )
    torch.manual_seed(0)
    model = AGW(3, base_channels=4, layers=(1, 1, 1, 1)).eval()
    with torch.no_grad():
        model.stem_infrared.conv1.weight.mul_(-1)  # different stems: a swapped stem would show
    dataset = build_dataset("llcm", root)
    ctx = RunContext(torch.device("cpu"), resolve_amp("none", torch.device("cpu")), DistInfo(), lambda m: None)
    results, summary = evaluate_model(model, dataset, cfg, ctx, final=False)
    assert [(r.split.trial, r.split.direction) for r in results] == [(0, "visible_to_infrared")]
    query, gallery = dataset.query("visible"), dataset.gallery("infrared", 0)
    assert [r.path for r in results[0].split.query] == [r.path for r in query]
    assert [r.path for r in results[0].split.gallery] == [r.path for r in gallery]

    def feat_att(records, modal):  # train.py:310-317 / 327-334: one forward, no flip, the BN feature
        loader = build_test_loader(records, height=32, width=16, batch_size=4)
        with torch.no_grad():
            return torch.cat([model(x, x, modal).feat_bn for x, _, _ in loader]).double()

    distmat_att = feat_att(query, 1) @ feat_att(gallery, 2).T
    ref = evaluate_reference(
        -distmat_att.numpy(),
        [r.pid for r in query],
        [r.pid for r in gallery],
        [r.camid for r in query],
        [r.camid for r in gallery],
        protocol="llcm",
    )
    assert summary["mean"]["rank1"] == pytest.approx(ref.cmc[0]) and summary["mean"]["mAP"] == pytest.approx(ref.mAP)
