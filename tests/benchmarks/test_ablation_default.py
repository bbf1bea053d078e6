"""The default ablation grid: every value applies to the base config, builds a model that loads the
pretraining stand-in's weights, and the grid holds the axes the DEEN-ViT design questions need."""

import dataclasses
import shlex
from pathlib import Path

import pytest

from benchmarks.ablation_default import (
    BASE,
    BASE_VALUES,
    GPU_GRID,
    GRID,
    QUESTIONS,
    SIZE,
    SUMMARY,
    TABLE_MARKERS,
    gpu_command,
    pretrained_settings,
    readme_table,
    render,
    titled,
    verdicts_text,
)
from benchmarks.vit_pretrain import PretrainSettings
from vireid.config import apply_overrides, load_config
from vireid.config.build import build_model
from vireid.engine.ablation import combinations, overrides, split_grid, split_label
from vireid.models.vit import VisionTransformer
from vireid.utils.io import save_safetensors


@pytest.fixture(scope="module")
def fake_pretrained(tmp_path_factory):
    """A randomly initialised ViT with the pretraining stand-in's architecture, in timm names."""
    vit = VisionTransformer(num_classes=0, global_pool="", **PretrainSettings().vit_kwargs())
    path = tmp_path_factory.mktemp("pt") / "vit.safetensors"
    save_safetensors(vit.state_dict(), path)
    return path


def test_every_grid_value_builds_a_model_from_the_pretrained_weights(fake_pretrained):
    base = load_config(BASE)
    combos = combinations(GRID, "each")
    assert len(combos) == 6 + 3 + 3 + 3 + 4
    expansions, sizes = set(), set()
    for combo in combos:
        cfg = apply_overrides(base, overrides(combo))
        model_cfg = dataclasses.replace(cfg.model, pretrained=str(fake_pretrained))
        model = build_model(model_cfg, num_classes=5)  # constructor checks + strict pretrained load
        expansions.add(cfg.model.args["expansion"])
        sizes.add((cfg.data.height, cfg.data.width))
        assert tuple(cfg.model.args["img_size"]) == (cfg.data.height, cfg.data.width)
        assert cfg.data.height == 2 * cfg.data.width  # the aspect-ratio policy: 2:1 person crops
        if cfg.model.args["expansion"] == "ssdec":
            assert cfg.loss.infonce_weight > 0
        if cfg.model.args["svdo_ow_blocks"]:  # O.W. targets the stage-4 block
            assert all(i >= len(model.blocks) for i in cfg.model.args["svdo_ow_blocks"])
        # the pretrained blocks were loaded: equal to the file's, not a fresh initialisation
        want = VisionTransformer(num_classes=0, global_pool="", **PretrainSettings().vit_kwargs())
        from vireid.utils.io import load_safetensors

        want.load_state_dict(load_safetensors(fake_pretrained)[0])
        assert model.blocks[0].attn.qkv.weight.equal(want.blocks[0].attn.qkv.weight)
        assert model.patch_embed_infrared.proj.weight.equal(want.patch_embed.proj.weight)
    assert expansions == {"none", "dee", "dee1d", "tmhee", "cmatm", "ssdec"}
    assert len(sizes) == 3


def test_base_values_resolve_to_the_base_config():
    base = load_config(BASE)
    grid, _ = split_grid(GRID)
    assert set(BASE_VALUES) == set(GRID) == set(QUESTIONS)
    for axis, value in BASE_VALUES.items():
        assert value in grid[axis]
        assert apply_overrides(base, overrides({axis: value})) == base, axis
    for axis, values in GRID.items():  # every other value changes the config (its label changes nothing)
        for v in values:
            if split_label(v)[0] != BASE_VALUES[axis]:
                assert apply_overrides(base, overrides({axis: v})) != base, (axis, v)
    assert SIZE in GRID


def test_every_value_is_labelled_with_the_design_notes_names():
    grid, labels = split_grid(titled(GRID))
    names = {v for values in labels.values.values() for v in values.values()}
    assert all(len(labels.values[axis]) == len(values) for axis, values in grid.items())
    assert {"DEE", "DEE-1D", "T-MHEE", "CM-ATM", "O.F.", "O.W.", "MFA off", "MFA from the previous stage"} <= names
    assert labels.titles == QUESTIONS
    notes = (Path(__file__).resolve().parents[2] / "docs" / "deen_vit.md").read_text()
    for name in ("T-MHEE", "CM-ATM", "SS-DEC", "DEE-1D", "O.F.", "O.W."):
        assert name in notes  # the names are the design notes' own


def test_readme_table_and_figure_come_from_the_results_file(tmp_path):
    """README's ablation table is readme_table() of the committed results file, and --render draws the
    figure from that file alone with the design notes' names."""
    from vireid.engine.ablation import load_summary

    rows, about = load_summary(SUMMARY)
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    start, end = TABLE_MARKERS
    block = readme.split(start, 1)[1].split(end, 1)[0].strip()
    assert block == readme_table(rows)
    assert "| How much does the input size matter? (vs 64x32 input) | 48x24 input | -10.5 [-21.6, +0.6] |" in block
    assert "| 96x48 input | +12.8 [+1.2, +24.4] | +11.8 [+1.0, +22.5] | **better** |" in block
    assert about["format"] == "vireid ablation summary" and about["seeds"] == [0, 1, 2]
    # render: the figure and a README copy, from the file
    copy = tmp_path / "README.md"
    copy.write_text(readme.replace(block, "stale"))
    figure, _ = render(SUMMARY, figure=tmp_path / "a.png", readme=copy)
    assert copy.read_text() == readme and figure.read_bytes()[:4] == b"\x89PNG"


def test_forest_of_the_results_file_names_the_alternatives(monkeypatch, tmp_path):
    import vireid.viz.style as style
    from vireid.engine.ablation import load_summary, plot

    figs = []
    monkeypatch.setattr(style, "save_picture", lambda fig, out, **kw: figs.append(fig) or out)
    rows, _ = load_summary(SUMMARY)
    plot(rows, tmp_path / "a.png")
    fig = figs[0]
    names = [t.get_text() for t in fig.axes[0].get_yticklabels() if t.get_text()]
    assert names == [
        "no expansion", "DEE-1D", "T-MHEE", "CM-ATM", "SS-DEC (+ InfoNCE)", "MFA off", "MFA from the previous stage",
        "2 stage-4 blocks", "3 stage-4 blocks", "48x24 input", "96x48 input *", "O.F.", "O.W.", "O.F. + O.W.",
    ]  # fmt: skip
    headers = [t.get_text().replace("\n", " ") for t in fig.texts if t is not fig._suptitle]  # wrapped
    assert headers == [
        f"{q} (vs {ref})"
        for q, ref in zip(
            QUESTIONS.values(), ["DEE", "MFA from stage 0", "1 stage-4 block", "64x32 input", "SVDO off"], strict=True
        )
    ]
    from vireid.viz.forest import HEADER_CHARS  # a long question is wrapped, never run into the next panel

    assert max(len(ln) for t in fig.texts if t is not fig._suptitle for ln in t.get_text().split("\n")) <= HEADER_CHARS


def test_base_config_loads_the_pretraining_stand_in():
    base = load_config(BASE)
    settings = pretrained_settings(base)
    assert base.model.pretrained == str(settings.default_path())
    vit = base.model.args["vit"]
    assert (vit["embed_dim"], vit["depth"], vit["num_heads"], vit["patch_size"]) == (
        settings.embed_dim,
        settings.depth,
        settings.num_heads,
        settings.patch_size,
    )
    # the pretraining set is another synthetic population than the benchmark's
    assert settings.synth_seed != base.data.synth["seed"] and settings.root != base.data.root


def test_base_config_is_the_recipe_of_the_log():
    """docs/vit_recipe_log.md run f06: AdamW 3e-3, pretrained parts at 0.3x, the new modules at the head LR,
    label smoothing 0.1, triplet 3 / CPM 2.4, difficulty 0.1, 3 epochs."""
    base = load_config(BASE)
    o = base.optim
    assert (o.name, o.lr, o.backbone_lr_mult) == ("adamw", 3.0e-3, 0.3)
    assert set(o.head_modules) == {"bottleneck", "classifier", "mfa", "expansion", "stage4"}
    assert (base.loss.label_smoothing, base.loss.triplet_weight, base.loss.cpm_weight) == (0.1, 3.0, 2.4)
    assert base.data.synth["difficulty"] == 0.1 and base.train.epochs == 3
    # every new module of DEEN-ViT is in the head group; the pretrained ViT parts are not
    from vireid.optim.optimizers import split_parameters

    model = build_model(dataclasses.replace(base.model, pretrained="none"), num_classes=5)
    backbone, head = split_parameters(model, o.head_modules)
    names = {id(p): n for n, p in model.named_parameters()}
    head_roots = {names[id(p)].split(".")[0] for p in head}
    backbone_roots = {names[id(p)].split(".")[0] for p in backbone}
    assert head_roots == {"bottleneck", "classifier", "mfa", "expansion", "stage4"}
    assert backbone_roots <= {"patch_embed_visible", "patch_embed_infrared", "cls_token", "pos_embed", "blocks", "norm"}


def test_reference_cell_is_the_base_value_of_every_axis():
    from vireid.engine.ablation import reference_combos

    base = load_config(BASE)
    assert reference_combos(base, combinations(split_grid(GRID)[0], "each")) == [{k: v} for k, v in BASE_VALUES.items()]


def test_gpu_command_parses_and_each_axis_holds_the_base_config(tmp_path):
    """The documented GPU-scale command: vireid's own parser accepts it, every cell resolves, and the
    reference cell is the base value of each axis (so the report compares with it)."""
    from pathlib import Path

    from vireid.cli.main import build_parser
    from vireid.engine.ablation import parse_grid, reference_combos
    from vireid.models.deen_vit import resolve_vit

    lines = gpu_command().replace("\\\n", " ").splitlines()
    assert lines[0] == "vireid weights download vit_base_patch16_224_in21k"
    argv = shlex.split(lines[1])
    assert argv[0] == "vireid"
    args, extra = build_parser().parse_known_args(argv[1:])
    assert not extra and args.mode == "each" and args.seeds == [0, 1, 2]
    base = load_config(args.config, args.overrides)
    assert base.model.pretrained == "vit_base_patch16_224_in21k" and base.data.dataset == "sysu"
    assert base.train.epochs == 151 and base.model.args["vit"] == "base"
    grid, labels = split_grid(parse_grid(args.grid))
    assert grid == split_grid(GPU_GRID)[0] and set(grid) == set(GRID)
    assert labels.titles == QUESTIONS and labels.values[SIZE]["[288,144,[288,144]]"] == "288x144 input"
    combos = combinations(grid, "each")
    refs = reference_combos(base, combos)
    assert len(refs) == len(grid) and all(len(c) == 1 for c in refs)
    depth = resolve_vit("base")["depth"]
    for combo in combos:
        cfg = apply_overrides(base, overrides(combo))
        h, w = cfg.data.height, cfg.data.width
        assert tuple(cfg.model.args["img_size"]) == (h, w) and h == 2 * w and h % 16 == 0 and w % 16 == 0
        assert all(b >= depth for b in cfg.model.args["svdo_ow_blocks"])  # O.W.: the stage-4 block
    # the docs show exactly this command
    docs = (Path(__file__).resolve().parents[2] / "docs" / "deen_vit.md").read_text()
    assert gpu_command() in docs


def test_verdicts_text_from_hand_made_rows():
    from vireid.engine.ablation import RunResult, summarize

    def runs(combo, values, ref=False):
        return [RunResult(combo, s, {"rank1": v, "mAP": v, "mINP": v}, 1.0, 10, ref) for s, v in enumerate(values)]

    depth = "model.args.stage4_depth"
    rows = summarize(
        runs({depth: "1"}, [0.5, 0.6, 0.7], True)
        + runs({depth: "2"}, [0.53, 0.62, 0.74])
        + runs({depth: "3"}, [0.6, 0.52, 0.71])
    )
    text = verdicts_text(rows)
    assert text.splitlines() == [
        f"- {QUESTIONS[depth]} (vs 1 stage-4 block)",
        "  - 2 stage-4 blocks: +3.0 [+0.5, +5.5] pp Rank-1 -> better",
        "  - 3 stage-4 blocks: +1.0 [-21.4, +23.4] pp Rank-1 -> no difference at this scale",
    ]


def test_reference_row_is_deen_r50_on_the_grids_data_and_budget():
    """The CNN reference row: the demo's DEEN-R50 recipe from random weights, with the base config's
    data, batch, epochs, precision, threads and scoring (and any budget override given with --set)."""
    from benchmarks.ablation_default import R50, R50_SHARED, reference_config

    base = load_config(BASE, ["train.steps_per_epoch=7"])
    ref = reference_config(base)
    demo = load_config(R50)
    assert ref.model.name == "deen" and ref.model.pretrained == "none" and ref.model.args == demo.model.args
    assert (ref.optim, ref.loss) == (demo.optim, demo.loss)  # the demo's recipe, unchanged
    for key in R50_SHARED:
        section, name = key.split(".")
        assert getattr(getattr(ref, section), name) == getattr(getattr(base, section), name), key
    assert ref.train.steps_per_epoch == 7 and ref.data.root == base.data.root != demo.data.root
    assert ref.train.epochs == base.train.epochs != demo.train.epochs


def test_reference_text_states_the_row():
    from benchmarks.ablation_default import reference_text
    from vireid.engine.ablation import RunResult, summarize

    rows = summarize(
        [
            RunResult({}, s, {"rank1": v, "mAP": v + 0.1, "mINP": v - 0.1}, 100.0, 10, True)
            for s, v in enumerate([0.4, 0.5])
        ]
    )
    text = reference_text(rows)
    assert "DEEN-R50" in text and "seeds 0, 1" in text and "Rank-1 45.0 ± 7.1" in text and "mAP 55.0" in text
    one = reference_text(summarize([RunResult({}, 0, {"rank1": 0.4, "mAP": 0.5, "mINP": 0.3}, 1.0, 10, True)]))
    assert "Rank-1 40.0," in one and "±" not in one
