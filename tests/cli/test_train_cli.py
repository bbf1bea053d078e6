"""End-to-end `vireid train` / `vireid test` on the tiny synthetic dataset (configs/test_tiny.yaml)."""

import json

import pytest
import torch

from tests.engine.tiny import CONFIGS, read_metrics, tiny_dataset
from vireid.cli.main import main
from vireid.config import load_config
from vireid.engine.checkpoint import CheckpointManager
from vireid.engine.hooks import StopAtStep
from vireid.engine.run import train

TINY = str(CONFIGS / "test_tiny.yaml")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("train_cli")
    root = tiny_dataset(tmp / "data")
    run = tmp / "run"
    rc = main(
        ["train", "--config", TINY, "--out", str(run), "--quiet", f"data.root={root}", "train.checkpoint_every=1"]
    )
    assert rc == 0
    return tmp, root, run


def test_train_writes_a_complete_run_folder(trained):
    _, _, run = trained
    assert load_config(run / "config.yaml").train.checkpoint_every == 1
    assert (run / "checkpoints" / "best.safetensors").is_file()
    assert CheckpointManager(run / "checkpoints").last_dir().name == "step-00000004"
    recs = read_metrics(run / "metrics.jsonl")
    assert {"loss/id", "loss/tri", "loss/cpm", "loss/ort", "lr", "images_per_s"} <= set(recs[0])
    assert any("eval/rank1" in r for r in recs)
    m = json.loads((run / "metrics.json").read_text())
    trials = m["directions"]["infrared_to_visible"]["trials"]
    assert [t["trial"] for t in trials] == list(range(10))
    assert all(0.0 <= t[k] <= 1.0 for t in trials for k in ("rank1", "rank5", "rank10", "rank20", "mAP", "mINP"))
    # the run's pictures, drawn when it ended: its CMC (the mean curve is in metrics.json) and curves
    assert (run / "cmc.png").read_bytes()[:4] == b"\x89PNG" and (run / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert len(m["directions"]["infrared_to_visible"]["cmc"]) == 20


def test_report_of_a_real_run_prints_its_metrics_json(trained, tmp_path, capsys):
    """vireid report RUN: every number of the table is the run's metrics.json, exactly."""
    _, _, run = trained
    assert main(["report", str(run), "--out", str(tmp_path / "report"), "--format", "png"]) == 0
    want = json.loads((run / "metrics.json").read_text())["directions"]["infrared_to_visible"]["mean"]
    got = json.loads((tmp_path / "report" / "results.json").read_text())["rows"][0]["settings"]["all-single"]
    assert got["mean"] == {k: want[k] for k in ("rank1", "rank10", "rank20", "mAP", "mINP")}
    table = capsys.readouterr().out
    cells = " | ".join(f"{100 * want[k]:.2f}" for k in ("rank1", "rank10", "rank20", "mAP", "mINP"))
    assert f"| run | 1 | {cells} |" in table
    assert {"cmc.png", "curves.png", "table.tex", "report.md"} <= {p.name for p in (tmp_path / "report").iterdir()}


def test_test_command_reproduces_the_final_evaluation(trained, tmp_path, capsys):
    _, root, run = trained
    rc = main(
        [
            "test",
            "--config",
            TINY,
            "--checkpoint",
            str(run / "checkpoints" / "best.safetensors"),
            "--out",
            str(tmp_path),
            f"data.root={root}",
        ]
    )
    assert rc == 0
    assert "mean ± std" in capsys.readouterr().out
    got = json.loads((tmp_path / "metrics.json").read_text())
    want = json.loads((run / "metrics.json").read_text())
    assert got["mean"] == pytest.approx(want["mean"])
    # vireid test records the settings it evaluated with, and draws the CMC
    assert got["config"]["data"]["root"] == str(root) and (tmp_path / "cmc.png").is_file()


def test_killed_run_resumes_to_the_same_weights(trained):
    tmp, root, run = trained
    cfg = load_config(TINY, [f"data.root={root}", "train.checkpoint_every=1"])
    crashed = tmp / "crashed"
    with pytest.raises(StopAtStep.StopTraining):
        train(cfg, crashed, quiet=True, stop_at_step=3)  # dies mid-epoch 2, after the checkpoint of step 3
    assert (
        main(
            [
                "train",
                "--config",
                TINY,
                "--out",
                str(crashed),
                "--quiet",
                "--resume",
                f"data.root={root}",
                "train.checkpoint_every=1",
            ]
        )
        == 0
    )
    ref = CheckpointManager(run / "checkpoints").load_last()
    got = CheckpointManager(crashed / "checkpoints").load_last()
    assert ref[0].keys() == got[0].keys()
    for k in ref[0]:
        assert torch.equal(ref[0][k], got[0][k]), k
    steps = [r["step"] for r in read_metrics(crashed / "metrics.jsonl") if "loss/total" in r]
    assert steps == [1, 2, 3, 4]


def test_user_errors_exit_with_code_2(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"base: {TINY}\noptim:\n  lrr: 0.1\n")
    assert main(["train", "--config", str(bad), "--out", str(tmp_path / "r")]) == 2
    assert "bad.yaml:3: unknown key 'optim.lrr'" in capsys.readouterr().err
    assert main(["train", "--config", str(tmp_path / "missing.yaml")]) == 2
    assert main(["train", "--config", TINY, "train.epochs=ten"]) == 2


def test_a_corrupt_image_in_a_loader_worker_is_one_line(trained, tmp_path, capsys):
    """A DataLoader worker's DatasetError reaches the user as its own one line, naming the file."""
    import shutil

    _, root, _ = trained
    copy = tmp_path / "data"
    shutil.copytree(root, copy)
    broken = sorted((copy / "cam1").rglob("*.jpg"))
    for p in broken:
        p.write_bytes(b"not a jpeg")
    assert (
        main(
            [
                "train",
                "--config",
                TINY,
                f"data.root={copy}",
                "data.synth=null",
                "data.workers=1",
                "--out",
                str(tmp_path / "run"),
                "--quiet",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot decode image" in err[0] and "/cam1/" in err[0], err
    assert "Traceback" not in err[0] and "worker" not in err[0]


def test_fine_tuning_starts_from_a_vireid_checkpoint(trained, tmp_path, capsys):
    """train.init_from loads a checkpoint trained on another number of identities, leaving its classifier."""
    from vireid.config import build
    from vireid.engine.checkpoint import read_weights

    _, root, _ = trained
    cfg = load_config(TINY, [f"data.root={root}"])
    torch.manual_seed(3)
    other = build.build_model(cfg.model, num_classes=9)  # "trained elsewhere", on 9 identities
    other.save(tmp_path / "other.safetensors")
    # a vanishing learning rate: the run's weights stay where they started
    assert (
        main(
            [
                "train",
                "--config",
                TINY,
                f"data.root={root}",
                f"train.init_from={tmp_path / 'other.safetensors'}",
                "--out",
                str(tmp_path / "run"),
                "train.epochs=1",
                "optim.lr=1e-9",
                "eval.every=0",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "init_from" in out and "left at initialisation (9 identities in the checkpoint, 5 here)" in out
    got = read_weights(tmp_path / "run" / "checkpoints" / "best.safetensors")[0]
    want = other.state_dict()
    assert got["classifier.weight"].shape[0] == 5
    for k in ("stem_visible.conv1.weight", "backbone.layer1.0.conv1.weight", "bottleneck.weight"):
        torch.testing.assert_close(got[k], want[k], rtol=0, atol=1e-6)
    assert load_config(tmp_path / "run" / "config.yaml").train.init_from == str(tmp_path / "other.safetensors")


def test_resume_refuses_result_changes_and_never_rewrites_the_saved_config(trained, tmp_path, capsys):
    """``--resume train.epochs=1`` on a 2-epoch run (shortening it) and ``optim.lr=...`` change what the
    run computes: refused, naming the keys.  An allowed change (logging) resumes; config.yaml stays as
    the run wrote it."""
    import shutil

    _, root, run = trained
    copy = shutil.copytree(run, tmp_path / "run")
    saved = (copy / "config.yaml").read_bytes()
    common = ["train", "--config", TINY, "--out", str(copy), "--resume", "--quiet", f"data.root={root}"]
    for change, named in (("train.epochs=1", "train.epochs: 2 -> 1"), ("optim.lr=0.5", "optim.lr: 0.1 -> 0.5")):
        assert main([*common, "train.checkpoint_every=1", change]) == 2
        err = capsys.readouterr().err
        assert named in err and "change the run's results" in err and len(err.strip().splitlines()) == 1
        assert (copy / "config.yaml").read_bytes() == saved
    assert main([*common, "train.checkpoint_every=1", "train.log_every=5"]) == 0
    assert (copy / "config.yaml").read_bytes() == saved


@pytest.mark.parametrize(
    ("pointer", "said"), [("{garbage\n", "not valid JSON"), ("[1, 2]\n", "not a vireid checkpoint pointer")]
)
def test_resume_names_a_corrupt_checkpoint_pointer(trained, tmp_path, capsys, pointer, said):
    """With --resume, last.json is an input: a corrupt one is named as such -- it was reported as a
    file "not written by vireid" that --overwrite would replace."""
    import shutil

    _, root, run = trained
    copy = shutil.copytree(run, tmp_path / "run")
    (copy / ".lock").unlink(missing_ok=True)
    (copy / "checkpoints" / "last.json").write_text(pointer)
    before = sorted(p.relative_to(copy).as_posix() for p in copy.rglob("*"))
    argv = ["train", "--config", TINY, "--out", str(copy), "--resume", "--quiet", f"data.root={root}"]
    assert main([*argv, "train.checkpoint_every=1", "train.epochs=3"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "checkpoints/last.json: " + said in err[0] and "--overwrite" not in err[0], err
    assert sorted(p.relative_to(copy).as_posix() for p in copy.rglob("*")) == before
    assert (copy / "checkpoints" / "last.json").read_text() == pointer


def _laughs(levels: int = 9) -> list:
    """A list that holds one list ten times, 9 levels deep: 10^9 items to walk, a few hundred bytes pickled."""
    x: list = [0]
    for _ in range(levels):
        x = [x] * 10
    return x


def _shared_tuples(levels: int = 18) -> tuple:
    """(x, x) 18 levels deep: deepcopy (torch's optimizer loader) walks all 2^18 leaves (27 s)."""
    x: tuple = ()
    for _ in range(levels):
        x = (x, x)
    return x


def _deep(depth: int = 100) -> list:
    x: list = []
    for _ in range(depth):
        x = [x]
    return x


STATE_EDITS = {
    "rng is a bomb": (lambda s: s.update(rng=_laughs()), "more than 100,000 items"),
    "optimizer state is a bomb": (lambda s: s["optimizer"].update(state={0: {"b": _laughs()}}), "100,000 items"),
    "hooks nest deep": (lambda s: s.update(hooks=_deep()), "nested more than 32 deep"),
    "a param group holds shared tuples": (
        lambda s: s["optimizer"]["param_groups"][0].update(foo=_shared_tuples()),
        "more than 100,000 items",
    ),
    "rng is a list of lists": (lambda s: s.update(rng=[[1, 2]]), "not a training state this run can resume from"),
    "python rng of 5 words": (
        lambda s: s["rng"][0]["python"].update(state=[5]),
        "not a training state this run can resume from",
    ),
    "no hook states": (lambda s: s.update(hooks=[]), "hook 1 (EvalHook) has no state of its own there"),
    "a best score that is text": (
        lambda s: s["hooks"][1].update(best="high"),
        "the best score so far is 'high'; expected a number or None",
    ),
    "hooks is not a list": (lambda s: s.update(hooks={"a": 1}), "its 'hooks' is a dict, not a list"),
    "no scheduler": (lambda s: s.pop("scheduler"), "not a training state this run can resume from (KeyError"),
    "optimizer groups of another size": (
        lambda s: s["optimizer"]["param_groups"].append(dict(s["optimizer"]["param_groups"][0])),
        "not a training state this run can resume from",
    ),
}


@pytest.mark.parametrize("edit", list(STATE_EDITS), ids=list(STATE_EDITS))
def test_resume_refuses_a_training_state_vireid_did_not_write_in_one_line(trained, tmp_path, capsys, edit):
    """A state.pt whose tensors and containers torch loads safely, but whose shape is not what
    vireid writes: a shared-reference bomb hung in torch's optimizer loader, a deep one or a
    wrong-typed RNG state gave tracebacks.  Now one line naming the file, and the run untouched."""
    import shutil

    _, root, run = trained
    copy = shutil.copytree(run, tmp_path / "run")
    (copy / ".lock").unlink(missing_ok=True)
    state_file = CheckpointManager(copy / "checkpoints").last_dir() / "state.pt"
    state = torch.load(state_file, weights_only=True)
    change, said = STATE_EDITS[edit]
    change(state)
    torch.save(state, state_file)
    before = {p.relative_to(copy).as_posix(): p.read_bytes() for p in copy.rglob("*") if p.is_file()}
    argv = ["train", "--config", TINY, "--out", str(copy), "--resume", "--quiet", f"data.root={root}"]
    assert main([*argv, "train.checkpoint_every=1", "train.epochs=3"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{state_file}: " in err[0] and said in err[0], err
    assert {p.relative_to(copy).as_posix(): p.read_bytes() for p in copy.rglob("*") if p.is_file()} == before


def test_resume_with_the_run_s_own_config_file(trained, tmp_path, capsys):
    """``--config RUN/config.yaml --resume`` was refused as "writing it would destroy an input",
    though a resume never writes config.yaml; it resumes, and the file is left as it was."""
    import shutil

    _, root, run = trained
    copy = shutil.copytree(run, tmp_path / "run")
    (copy / ".lock").unlink(missing_ok=True)
    saved = (copy / "config.yaml").read_bytes()
    argv = ["train", "--config", str(copy / "config.yaml"), "--out", str(copy), "--resume", "--quiet"]
    assert main([*argv, f"data.root={root}", "train.epochs=3"]) == 0, capsys.readouterr().err
    assert (copy / "config.yaml").read_bytes() == saved
    fresh = tmp_path / "fresh"  # a new run is still never written over its --config
    fresh.mkdir()
    (fresh / "config.yaml").write_bytes(saved)
    assert main(["train", "--config", str(fresh / "config.yaml"), "--out", str(fresh), "--quiet"]) == 2
    assert "writing it would destroy an input" in capsys.readouterr().err
