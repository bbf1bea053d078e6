"""The paper configs are the authors' run: every value of DEEN's recipe, held against the authors' code.

Authors' code: github.com/ZYK100/LLCM at commit 886e27c (``DEEN/train.py``, ``test.py``,
``data_loader.py``, ``data_manager.py``, ``utils.py``, ``model.py``, ``resnet.py``,
``pre_process_sysu.py``, ``train_regdb.bash``); each value below cites its file and line and
quotes the line.  The tests further down check that the wiring uses those values (what is
evaluated to select the best checkpoint, the decode, the weights' file, the test size, LLCM's
published orientation, the global batch), one per row of the recipe table:

    initial weights | input size | precision | epochs | best checkpoint | training image decode |
    authors' .t through load_model | LLCM VIS->IR as published | multi-GPU
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image

from tests.data.layouts import make_llcm, make_sysu
from tests.evaluation.reference import evaluate_reference
from vireid.config import Config, build, load_config
from vireid.core.device import resolve_amp
from vireid.core.distributed import DistInfo
from vireid.data.image import load_resized
from vireid.data.sampler import CrossModalIdentitySampler
from vireid.data.transforms import ERASING_PRESETS
from vireid.engine.context import RunContext, evaluate_model
from vireid.evaluation.protocols import PAPER_DIRECTION
from vireid.inference.loading import DEFAULT_SIZE
from vireid.models import DEEN
from vireid.models import pretrained as pt

PAPER = ("deen_sysu", "deen_regdb", "deen_llcm")

# (config key, config, authors' value, where, the authors' line)
RECIPE = [
    # initial weights
    (
        "model.pretrained",
        None,
        "imagenet",
        "DEEN/model.py:44,61,78",
        "resnet50(pretrained=True, ...) for visible_module, thermal_module and base_resnet",
    ),
    # input size
    ("data.height", None, 384, "DEEN/train.py:35", "parser.add_argument('--img_h', default=384, ...)"),
    ("data.width", None, 144, "DEEN/train.py:34", "parser.add_argument('--img_w', default=144, ...)"),
    # precision
    (
        "train.amp",
        None,
        "none",
        "DEEN/train.py:284-297",
        "feat1, out1, loss_ort = net(input1, input2) ... loss.backward(); optimizer.step()  (no autocast)",
    ),
    # epochs
    ("train.epochs", None, 151, "DEEN/train.py:410", "for epoch in range(start_epoch, 151 - start_epoch):"),
    # best checkpoint
    ("eval.every", None, 1, "DEEN/train.py:432", "if epoch > 0 and epoch % 1 == 0:"),
    ("eval.start", None, 2, "DEEN/train.py:432", "if epoch > 0 ...  (0-based: the 2nd epoch first)"),
    ("eval.metric", None, "rank1", "DEEN/train.py:438", "if cmc7[0] > best_acc:"),
    (
        "eval.select",
        None,
        "authors",
        "DEEN/train.py:150,170,344,369,387",
        "gallery trial=0; net(input, input, test_mode[k]) (no flip); distmat7 = distmat1 + ... + distmat6",
    ),
    # training image decode
    (
        "data.draft",
        None,
        False,
        "DEEN/pre_process_sysu.py:55-56",
        "img = Image.open(img_path); img = img.resize((fix_image_width, fix_image_height), Image.ANTIALIAS)",
    ),
    # multi-GPU: one GPU, P x K x 2 images per step
    ("data.num_ids", None, 6, "DEEN/train.py:36", "parser.add_argument('--batch-size', default=6, ...)"),
    ("data.num_pos", None, 4, "DEEN/train.py:40", "parser.add_argument('--num_pos', default=4, ...)"),
    (
        "data.per_rank_batch",
        None,
        False,
        "DEEN/train.py:43,49",
        "--gpu default='3'; os.environ['CUDA_VISIBLE_DEVICES'] = args.gpu  (one GPU, one batch)",
    ),
    ("train.sync_bn", None, True, "DEEN/train.py:197,284", "net.to(device) ... net(input1, input2)  (one BN batch)"),
    # augmentation
    ("data.pad", None, 10, "DEEN/train.py:106", "transforms.Pad(10),"),
    ("data.grayscale_p", None, 0.5, "DEEN/train.py:107", "transforms.RandomGrayscale(p=0.5),"),
    ("data.flip", None, True, "DEEN/train.py:109", "transforms.RandomHorizontalFlip(),"),
    ("data.erasing_p", None, 0.5, "DEEN/train.py:39", "parser.add_argument('--erasing_p', default=0.5, ...)"),
    ("data.erasing_ratio", None, 0.3, "DEEN/train.py:112,122,132", "RandomErasing(..., r1 = 0.3, ...)"),
    (
        "data.erasing_area",
        "deen_sysu",
        (0.2, 0.8),
        "DEEN/train.py:112",
        "transform_sysu: RandomErasing(probability = args.erasing_p, sl = 0.2, sh = 0.8, r1 = 0.3, ...)",
    ),
    (
        "data.erasing_area",
        "deen_regdb",
        (0.02, 0.4),
        "DEEN/train.py:122",
        "transform_regdb: RandomErasing(probability = args.erasing_p, sl = 0.02, sh = 0.4, r1 = 0.3, ...)",
    ),
    (
        "data.erasing_area",
        "deen_llcm",
        (0.02, 0.4),
        "DEEN/train.py:132",
        "transform_llcm: RandomErasing(probability = args.erasing_p, sl = 0.02, sh = 0.4, r1 = 0.3, ...)",
    ),
    # optimiser and schedule
    ("optim.name", None, "sgd", "DEEN/train.py:25", "parser.add_argument('--optim', default='sgd', ...)"),
    ("optim.lr", None, 0.1, "DEEN/train.py:24", "parser.add_argument('--lr', default=0.1, ...)"),
    ("optim.backbone_lr_mult", None, 0.1, "DEEN/train.py:230", "{'params': base_params, 'lr': 0.1 * args.lr},"),
    (
        "optim.head_modules",
        None,
        ("bottleneck", "classifier"),
        "DEEN/train.py:224-225",
        "ignored_params = list(map(id, net.bottleneck.parameters())) + list(map(id, net.classifier.parameters()))",
    ),
    ("optim.weight_decay", None, 5e-4, "DEEN/train.py:233", "weight_decay=5e-4, momentum=0.9, nesterov=True)"),
    ("optim.momentum", None, 0.9, "DEEN/train.py:233", "weight_decay=5e-4, momentum=0.9, nesterov=True)"),
    ("optim.nesterov", None, True, "DEEN/train.py:233", "weight_decay=5e-4, momentum=0.9, nesterov=True)"),
    ("optim.schedule", None, "step", "DEEN/train.py:236-253", "def adjust_learning_rate(optimizer, epoch):"),
    ("optim.warmup_epochs", None, 10, "DEEN/train.py:238-239", "if epoch < 10: lr = args.lr * (epoch + 1) / 10"),
    (
        "optim.milestones",
        None,
        (20, 80),
        "DEEN/train.py:242-245",
        "elif epoch >= 20 and epoch < 80: lr = args.lr * 0.1 / elif epoch >= 80: lr = args.lr * 0.01",
    ),
    (
        "optim.gammas",
        None,
        (0.1, 0.01),
        "DEEN/train.py:242-245",
        "elif epoch >= 20 and epoch < 80: lr = args.lr * 0.1 / elif epoch >= 80: lr = args.lr * 0.01",
    ),
    # objective
    ("loss.id_weight", None, 1.0, "DEEN/train.py:294", "loss = loss_id + loss_tri + loss_cpm + loss_ort"),
    ("loss.triplet", None, "batch_hard", "DEEN/train.py:216", "criterion_tri= OriTripletLoss(...)"),
    ("loss.triplet_weight", None, 1.0, "DEEN/train.py:294", "loss = loss_id + loss_tri + loss_cpm + loss_ort"),
    ("loss.triplet_margin", None, 0.3, "DEEN/train.py:38", "parser.add_argument('--margin', default=0.3, ...)"),
    ("loss.cpm_weight", None, 0.8, "DEEN/train.py:45", "parser.add_argument('--lambda_1', default=0.8, ...)"),
    ("loss.cpm_margin", None, 0.2, "DEEN/train.py:217", "criterion_cpm= CPMLoss(margin=0.2)"),
    ("loss.ort_weight", None, 0.01, "DEEN/train.py:46", "parser.add_argument('--lambda_2', default=0.01, ...)"),
    ("loss.label_smoothing", None, 0.0, "DEEN/train.py:213", "criterion_id = nn.CrossEntropyLoss()"),
    ("loss.metric_normalize", None, False, "DEEN/train.py:288", "loss_tri = criterion_tri(feat1, labels)"),
    # data and run
    ("train.seed", None, 0, "DEEN/train.py:42", "parser.add_argument('--seed', default=0, ...)"),
    (
        "train.steps_per_epoch",
        None,
        None,
        "DEEN/utils.py:73-74",
        "N = np.maximum(len(train_color_label), len(train_thermal_label)); "
        "for j in range(int(N/(batchSize*num_pos))+1):",
    ),
    ("data.mode", "deen_sysu", "all", "DEEN/train.py:44", "parser.add_argument('--mode', default='all', ...)"),
    ("data.dataset", "deen_sysu", "sysu", "DEEN/train.py:23", "parser.add_argument('--dataset', default='sysu', ...)"),
    (
        "data.dataset",
        "deen_regdb",
        "regdb",
        "DEEN/train_regdb.bash:1",
        "python train.py --dataset regdb --gpu 0 --trial 1",
    ),
    (
        "data.trial",
        "deen_regdb",
        1,
        "DEEN/train_regdb.bash:1-10",
        "--trial 1 ... --trial 10 (one run per trial; train.py:41's default 2 is not what the script runs)",
    ),
    (
        "model.args",
        "deen_regdb",
        {"variant": "regdb"},
        "DEEN/model.py:248-250",
        "if self.dataset == 'regdb':  # For regdb dataset, we remove the MFA3 block and layer4.",
    ),
    ("data.dataset", "deen_llcm", "llcm", "DEEN/train.py:64", "elif dataset == 'llcm':"),
    # final test (vireid test): the authors' test.py
    (
        "eval.flip",
        None,
        True,
        "DEEN/test.py:120-124",
        "input2 = Variable(fliplr(input).cuda()); feat = feat_pool1 + feat_pool2",
    ),
    (
        "eval.combine",
        None,
        "all",
        "DEEN/test.py:310",
        "distmat7 = distmat1 + distmat3 + distmat5 + distmat2 + distmat4 + distmat6",
    ),
]


def _get(cfg: Config, key: str):
    section, name = key.split(".")
    value = getattr(getattr(cfg, section), name)
    return tuple(value) if isinstance(value, list) else value


@pytest.mark.parametrize("key,config,value,where,line", RECIPE, ids=[f"{r[0]}@{r[3]}" for r in RECIPE])
def test_recipe_value_is_the_authors(key, config, value, where, line):
    """Each paper config (or the named one) resolves to the authors' value -- and so does the schema
    default, which base.yaml writes out -- with no override."""
    for name in (config,) if config else PAPER:
        assert _get(load_config(name), key) == value, (name, key, where, line)
    if config is None and key != "model.args":
        assert _get(Config(), key) == value, ("schema default", key, where)


def test_initial_weights_are_torchvision_resnet50_v1_in_both_stems_and_the_trunk():
    """DEEN/resnet.py:11 ``'resnet50': 'https://download.pytorch.org/models/resnet50-19c8e357.pth'``,
    loaded by ``resnet50(pretrained=True)`` (resnet.py:189) into the visible stem, the thermal stem
    and the trunk (model.py:44,61,78)."""
    for name in PAPER:
        model = load_config(name).model
        assert build.pretrained_family(model) == "resnet50"
        w = pt.get_weights(build.pretrained_source(model), "resnet50")
        assert w.url == "https://download.pytorch.org/models/resnet50-19c8e357.pth" and w.hash_prefix == "19c8e357"
    net = DEEN(5, base_channels=4, layers=(1, 1, 1, 1))
    assert net.stem_visible is not net.stem_infrared and net.pretrained_family == "resnet50"


def test_input_size_reaches_the_loaders_and_transforms():
    for name in PAPER:
        cfg = load_config(name)
        assert build.train_loader_kwargs(cfg)["height"] == 384 and build.train_loader_kwargs(cfg)["width"] == 144
        assert (build.test_loader_kwargs(cfg)["height"], build.test_loader_kwargs(cfg)["width"]) == (384, 144)
        kw = build.train_transform_kwargs(cfg.data)
        assert (kw["height"], kw["width"], kw["padding"]) == (384, 144, 10)
        assert kw["erasing_area"] == ERASING_PRESETS[cfg.data.dataset][:2]


def test_precision_is_fp32_in_training_and_testing():
    for name in PAPER:
        cfg = load_config(name)
        for device in ("cpu", "cuda"):
            assert resolve_amp(cfg.train.amp, torch.device(device)).dtype is None  # no autocast anywhere


def test_epochs_and_the_schedule_are_the_authors():
    """151 epochs (train.py:410) with adjust_learning_rate (train.py:236-253) at every one of them."""
    cfg = load_config("deen_sysu")
    schedule = build.build_schedule(cfg)
    assert cfg.train.epochs == len(range(0, 151))

    def authors(epoch):  # DEEN/train.py:238-245
        if epoch < 10:
            return (epoch + 1) / 10
        if epoch < 20:
            return 1.0
        if epoch < 80:
            return 0.1
        return 0.01

    assert [schedule(e) for e in range(151)] == pytest.approx([authors(e) for e in range(151)])


# (paper config, selection trials, direction, descriptor, the authors' lines): what their train.py's
# in-training test evaluates to choose the best checkpoint -- one gallery trial (or the run's RegDB
# split), one direction, no flip
SELECTION = [
    ("deen_sysu", [0], "infrared_to_visible", "all", "DEEN/train.py:57 test_mode = [1, 2]; :150 trial=0; :387"),
    ("deen_regdb", None, "visible_to_infrared", "all", "DEEN/train.py:62 test_mode = [2, 1]; :159-160 args.trial"),
    ("deen_llcm", [0], "infrared_to_visible", "all", "DEEN/train.py:67 test_mode = [1, 2]; :169-170 trial=0"),
    ("agw_sysu", [0], "infrared_to_visible", "bn", "AGW/train.py:56 test_mode = [1, 2]; :128 trial=0; :393"),
    ("agw_regdb", None, "visible_to_infrared", "bn", "AGW/train.py:60 test_mode = [2, 1]; :137-138 args.trial"),
    ("agw_llcm", [0], "visible_to_infrared", "bn", "AGW/train.py:64 test_mode = [2, 1]; :147-148 trial=0; :339"),
]


def test_every_paper_config_has_its_selection_row():
    """Every shipped DEEN / AGW config of a paper dataset is in :data:`SELECTION` (walked, not listed)."""
    import re

    from vireid.config.shipped import shipped_configs

    paper = {n for n in shipped_configs() if re.fullmatch(r"(deen|agw)_(sysu|regdb|llcm)", n)}
    assert paper == {row[0] for row in SELECTION}


@pytest.mark.parametrize("name,trials,direction,combine,where", SELECTION, ids=[r[0] for r in SELECTION])
def test_best_checkpoint_rule_is_the_authors_in_training_test(name, trials, direction, combine, where):
    """Selection: trial 0 (RegDB: the run's split), the authors' direction, their descriptor, no flip
    (DEEN/train.py:344,369,387; AGW/train.py:314,331,339-340); the final evaluation stays the full
    protocol (10 trials, every direction, flip: test.py)."""
    cfg = load_config(name)
    plan = build.selection_eval(cfg)
    assert plan == dict(trials=trials, directions=(direction,), flip=False, combine=combine), where
    final = build.final_eval(cfg)
    assert final["flip"] is cfg.eval.flip and final["combine"] == combine
    assert final["trials"] == (None if name.endswith("regdb") else list(range(10)))
    assert direction in final["directions"]
    protocol = load_config(name, ["eval.select=protocol"])
    assert (
        build.selection_eval(protocol)["flip"] is cfg.eval.flip
        and build.selection_eval(protocol)["directions"]
        == final["directions"][: len(build.selection_eval(protocol)["directions"])]
    )


def test_select_direction_is_checked_when_the_config_loads(tmp_path):
    from vireid.errors import ConfigError

    assert build.selection_eval(load_config("deen_llcm", ["eval.select_direction=visible_to_infrared"]))[
        "directions"
    ] == ("visible_to_infrared",)
    with pytest.raises(ConfigError, match=r"eval.select_direction: 'visible_to_infrared' is not a direction .*sysu"):
        load_config("deen_sysu", ["eval.select_direction=visible_to_infrared"])
    (tmp_path / "mine.yaml").write_text("base: agw_llcm.yaml\ndata: {dataset: sysu}\n")
    with pytest.raises(ConfigError, match=r"^\S*agw_llcm\.yaml:\d+: eval.select_direction: 'visible_to_infrared'"):
        load_config(tmp_path / "mine.yaml")  # named where it is set
    with pytest.raises(ConfigError, match=r"^<command line>: eval.select_direction"):
        load_config("deen_sysu", ["eval.select_direction=nope"])
    with pytest.raises(ConfigError, match=r"eval.paper_columns: 'sideways' is not a published column"):
        load_config("deen_regdb", ["eval.paper_columns={sideways: visible_to_infrared}"])
    with pytest.raises(ConfigError, match=r"eval.paper_columns.visible_to_infrared: 'nope'"):
        load_config("deen_regdb", ["eval.paper_columns={visible_to_infrared: nope}"])


def _tiny_sysu_cfg(root):
    return load_config(
        "deen_sysu", [f"data.root={root}", "data.height=32", "data.width=16", "data.workers=0", "model.pretrained=none"]
    )


def test_selection_metric_equals_the_authors_in_training_test(tmp_path):
    """On a SYSU-MM01-layout set, the selection Rank-1 / mAP are those of train.py's test(): trial 0
    gallery, no flip, distmat7 = sum over the 3 embeddings of pool.pool + bn.bn (l2-normalised)."""
    from vireid.data.datasets import build_dataset
    from vireid.data.loaders import build_test_loader

    cfg = _tiny_sysu_cfg(make_sysu(tmp_path / "sysu"))
    torch.manual_seed(0)
    model = DEEN(4, base_channels=4, layers=(1, 1, 1, 1)).eval()
    dataset = build_dataset("sysu", cfg.data.root)
    ctx = RunContext(torch.device("cpu"), resolve_amp("none", torch.device("cpu")), DistInfo(), lambda m: None)
    results, summary = evaluate_model(model, dataset, cfg, ctx, final=False)
    assert [(r.split.trial, r.split.direction) for r in results] == [(0, "infrared_to_visible")]

    def authors_feats(records, modal):  # train.py:341-351 / 366-376
        loader = build_test_loader(records, height=32, width=16, batch_size=4)
        with torch.no_grad():
            outs = [model(x, x, modal) for x, _, _ in loader]
        pool = torch.cat([o.feat.reshape(3, -1, o.feat.shape[1]) for o in outs], dim=1)
        bn = torch.cat([o.feat_bn.reshape(3, -1, o.feat_bn.shape[1]) for o in outs], dim=1)
        return pool.double(), bn.double()

    split = results[0].split
    qp, qb = authors_feats(split.query, 2)
    gp, gb = authors_feats(split.gallery, 1)
    distmat7 = sum(qp[e] @ gp[e].T + qb[e] @ gb[e].T for e in range(3))  # train.py:381-387
    ref = evaluate_reference(
        -distmat7.numpy(),
        [r.pid for r in split.query],
        [r.pid for r in split.gallery],
        [r.camid for r in split.query],
        [r.camid for r in split.gallery],
        protocol="sysu",
    )
    assert summary["mean"]["rank1"] == pytest.approx(ref.cmc[0]) and summary["mean"]["mAP"] == pytest.approx(ref.mAP)


def test_training_images_are_fully_decoded_and_lanczos_resized(tmp_path):
    """pre_process_sysu.py:55-56 / data_loader.py:49-50: full decode, then ``resize((144, 384), ANTIALIAS)``."""
    for name in PAPER:
        kw = build.train_loader_kwargs(load_config(name))
        assert kw["draft"] is False
    rng = np.random.default_rng(0)
    big = Image.fromarray(rng.integers(0, 256, (900, 340, 3), dtype=np.uint8))
    big.save(tmp_path / "a.jpg", quality=90)
    with Image.open(tmp_path / "a.jpg") as img:
        authors = np.asarray(img.convert("RGB").resize((144, 384), Image.Resampling.LANCZOS))
    assert np.array_equal(load_resized(tmp_path / "a.jpg", 384, 144, draft=False, keep_gray=False), authors)
    drafted = load_resized(tmp_path / "a.jpg", 384, 144, draft=True, keep_gray=False)
    assert not np.array_equal(drafted, authors)  # the option the paper configs leave off


def test_authors_checkpoints_are_embedded_at_384x144():
    """test.py:30-31 ``--img_w 144 --img_h 384``: a ``.t`` file (no run config) and its ``vireid convert``
    output are embedded at 384 x 144 (tests/inference/test_model.py loads one)."""
    assert DEFAULT_SIZE == (384, 144)


def test_llcm_reports_the_published_visible_to_infrared_orientation(tmp_path):
    """test.py:222-234 (``test_mode = [2, 1]``): ``distmat = gall_feat . query_feat^T`` and
    ``eval_llcm(-distmat, gall_label, query_label, gall_cam, query_cam)`` -- the trial's sampled infrared
    images are the queries.  Our ``visible_to_infrared_paper`` equals it; the paper's column says so."""
    from vireid.data.datasets import build_dataset
    from vireid.engine.evaluator import summarize, tables

    root = make_llcm(tmp_path / "llcm")
    cfg = load_config(
        "deen_llcm", [f"data.root={root}", "data.height=32", "data.width=16", "data.workers=0", "model.pretrained=none"]
    )
    assert build.final_eval(cfg)["directions"] == ("infrared_to_visible", "visible_to_infrared", PAPER_DIRECTION)
    torch.manual_seed(0)
    model = DEEN(3, base_channels=4, layers=(1, 1, 1, 1)).eval()
    ctx = RunContext(torch.device("cpu"), resolve_amp("none", torch.device("cpu")), DistInfo(), lambda m: None)
    results, summary = evaluate_model(model, build_dataset("llcm", root), cfg, ctx, final=True)
    ours = {(r.split.direction, r.split.trial): r for r in results}
    for t in range(10):
        vis_to_ir, paper = ours[("visible_to_infrared", t)], ours[(PAPER_DIRECTION, t)]
        q, g = vis_to_ir.split.query, vis_to_ir.split.gallery  # all VIS images, the trial's NIR draw
        distmat = (vis_to_ir.gallery_feats.double() @ vis_to_ir.query_feats.double().T).numpy()
        ref = evaluate_reference(
            -distmat,
            [r.pid for r in g],
            [r.pid for r in q],
            [r.camid for r in g],
            [r.camid for r in q],
            protocol="llcm",
        )
        assert paper.result.cmc[0] == pytest.approx(ref.cmc[0]) and paper.result.mAP == pytest.approx(ref.mAP)
        assert paper.result.mINP == pytest.approx(ref.mINP)
    assert summary["paper_columns"] == {
        "infrared_to_visible": "infrared_to_visible",
        "visible_to_infrared": PAPER_DIRECTION,
    }
    averaged = [summary["directions"][d]["mean"]["rank1"] for d in ("infrared_to_visible", "visible_to_infrared")]
    assert summary["mean"]["rank1"] == pytest.approx(sum(averaged) / 2)  # the published orientation is apart
    text = tables(results)
    assert "the paper's VIS->IR column" in text and "not the paper's VIS->IR column" in text
    assert summarize([r for r in results if r.split.direction != PAPER_DIRECTION]).get("paper_columns") == {
        "infrared_to_visible": "infrared_to_visible"
    }


def test_regdb_reports_both_directions_with_the_authors_stems_beside_ours(tmp_path):
    """DEEN's test.py:356-357,370-371 embeds RegDB's thermal images with the visible stem
    (test_mode[1] = 1) and the visible images with the thermal stem (test_mode[0] = 2), in both
    branches of ``--tvsearch``.  Ours embeds every image with its own modality's stem; the
    as-published directions are reported beside, as the paper's columns, outside the mean
    (their metrics against test.py itself: tests/evaluation/test_regdb_published.py)."""
    from tests.data.layouts import make_regdb
    from vireid.data.datasets import build_dataset
    from vireid.engine.evaluator import tables
    from vireid.evaluation.protocols import PAPER_IR_TO_VIS

    root = make_regdb(tmp_path / "regdb")
    cfg = load_config(
        "deen_regdb",
        [f"data.root={root}", "data.height=32", "data.width=16", "data.workers=0", "model.pretrained=none"],
    )
    torch.manual_seed(0)
    model = DEEN(3, "regdb", base_channels=4, layers=(1, 1, 1, 1)).eval()
    with torch.no_grad():
        model.stem_infrared.conv1.weight.mul_(-1)  # different stems: a swap changes the features
    ctx = RunContext(torch.device("cpu"), resolve_amp("none", torch.device("cpu")), DistInfo(), lambda m: None)
    results, summary = evaluate_model(model, build_dataset("regdb", root, trial=1), cfg, ctx, final=True)
    by = {r.split.direction: r for r in results}
    assert list(by) == ["visible_to_infrared", "infrared_to_visible", PAPER_DIRECTION, PAPER_IR_TO_VIS]
    v2t, t2v, paper_v2t, paper_t2v = by.values()
    assert {r.modality for r in t2v.split.query} == {r.modality for r in paper_t2v.split.query} == {"infrared"}
    assert (paper_t2v.split.query_stem, paper_t2v.split.gallery_stem) == ("visible", "infrared")
    assert (paper_v2t.split.query_stem, paper_v2t.split.gallery_stem) == ("infrared", "visible")
    assert torch.allclose(t2v.distmat, v2t.distmat.T) and torch.allclose(paper_t2v.distmat, paper_v2t.distmat.T)
    assert not torch.allclose(paper_t2v.distmat, t2v.distmat)  # the stems matter
    assert summary["paper_columns"] == {"visible_to_infrared": PAPER_DIRECTION, "infrared_to_visible": PAPER_IR_TO_VIS}
    own = [summary["directions"][d]["mean"]["rank1"] for d in ("visible_to_infrared", "infrared_to_visible")]
    assert summary["mean"]["rank1"] == pytest.approx(sum(own) / 2)  # the published ones are apart
    text = tables(results)
    assert "the paper's IR->VIS column" in text and "own modality's stem" in text
    from vireid.engine.testing import save_split_features
    from vireid.evaluation.features import load_features

    q, _ = save_split_features(paper_t2v, tmp_path / "features")
    assert load_features(q).meta["query_stem"] == "visible" and load_features(q).meta["gallery_stem"] == "infrared"
    agw = load_config("agw_regdb", [f"data.root={root}", "data.height=32", "data.width=16", "model.pretrained=none"])
    assert build.final_eval(agw)["directions"] == ("visible_to_infrared", "infrared_to_visible")  # AGW/test.py


@pytest.mark.parametrize("world", [2, 3, 6])
def test_multi_gpu_keeps_the_authors_global_batch(world):
    """One GPU draws 6 identities x 4 x 2 per step (utils.py:75-78); W ranks split those 6 identities
    (their batches together are the one-GPU batch), the objective gathers them (global triplet / CPM)
    and BatchNorm is synchronised: no option to set."""
    cfg = load_config("deen_sysu")
    rng = np.random.default_rng(0)
    vis, ir = rng.integers(0, 40, 300), rng.integers(0, 40, 200)
    kw = dict(num_ids=cfg.data.num_ids, num_instances=cfg.data.num_pos, per_rank=cfg.data.per_rank_batch)
    single = CrossModalIdentitySampler(vis, ir, **kw)
    samplers = [CrossModalIdentitySampler(vis, ir, rank=r, world_size=world, **kw) for r in range(world)]
    assert all(s.batches_per_epoch == single.batches_per_epoch == 300 // 24 + 1 for s in samplers)
    b = samplers[0].batch_size
    assert b * world == single.batch_size == 24
    ranks = [list(s) for s in samplers]
    steps = [sum((rk[i * b : (i + 1) * b] for rk in ranks), []) for i in range(single.batches_per_epoch)]
    assert sum(steps, []) == list(single)
    assert build.build_objective(cfg.loss, DEEN(5, base_channels=4, layers=(1, 1, 1, 1))).global_batch
    assert dataclasses.asdict(cfg.train)["sync_bn"] is True
