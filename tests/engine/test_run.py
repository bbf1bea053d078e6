"""`vireid train` wiring: the initial weights are had before anything is written; from-scratch
configs never reach for the network."""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request

import pytest
import torch

from tests.engine.tiny import CONFIGS, tiny_dataset
from vireid.cli.main import main
from vireid.config import build, load_config
from vireid.config.shipped import shipped_configs
from vireid.errors import CheckpointError
from vireid.models import pretrained as pt


def offline(monkeypatch):
    calls = []

    def no_network(url, *a, **k):
        calls.append(url.full_url if isinstance(url, urllib.request.Request) else url)
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    return calls


def test_paper_config_offline_with_an_empty_cache_stops_before_any_run_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    calls = offline(monkeypatch)
    out = tmp_path / "runs" / "deen_sysu"
    code = main(
        ["train", "--config", "configs/deen_sysu.yaml", f"data.root={tmp_path / 'SYSU-MM01'}", "--out", str(out)]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    w = pt.get_weights("resnet50_imagenet_v1")
    cache = tmp_path / "torch_home" / "hub" / "checkpoints" / "resnet50-19c8e357.pth"
    assert calls == [w.url] == ["https://download.pytorch.org/models/resnet50-19c8e357.pth"]
    assert w.url in err[0] and str(cache) in err[0] and "model.pretrained=PATH" in err[0]
    assert not out.exists() and not (tmp_path / "runs").exists()  # no run folder, nothing written
    assert not (tmp_path / "torch_home").exists()  # not even the cache folders


def test_a_failed_download_keeps_folders_it_did_not_make(tmp_path, monkeypatch):
    """Only the folders the download created are removed, and only while empty."""
    home = tmp_path / "torch_home"
    (home / "hub").mkdir(parents=True)
    (home / "hub" / "mine.txt").write_text("a user's file")
    monkeypatch.setenv("TORCH_HOME", str(home))
    offline(monkeypatch)
    with pytest.raises(CheckpointError, match="cannot download"):
        pt.download(pt.get_weights("resnet50_imagenet_v1"))
    assert sorted(p.name for p in (home / "hub").iterdir()) == ["mine.txt"]


def test_named_weights_resolve_before_the_run_folder_and_initialise_the_model(tmp_path, monkeypatch):
    """A name found in the cache (hash-checked) is what the model starts from: both stems and the
    trunk equal the file, exactly as a path would give."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    offline(monkeypatch)
    cfg = load_config(CONFIGS / "test_tiny.yaml", ["model.pretrained=tiny_r50"])
    scratch = load_config(CONFIGS / "test_tiny.yaml").model
    torch.manual_seed(1)
    other = build.build_model(scratch, 5)  # a ResNet file: stem + trunk keys of another initialisation
    source = other.backbone
    state = {**other.stem_visible.state_dict(), **source.state_dict()}
    tmp = tmp_path / "w.pth"
    torch.save(state, tmp)
    digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
    w = pt.PretrainedWeights(
        "tiny_r50", "resnet50", f"https://example.invalid/tiny-{digest[:8]}.pth", digest[:8], "test"
    )
    monkeypatch.setitem(pt._WEIGHTS, w.name, w)
    pt.cached_path(w).parent.mkdir(parents=True)
    tmp.rename(pt.cached_path(w))
    assert build.resolve_pretrained(cfg.model) == pt.cached_path(w)
    net = build.build_model(cfg.model, 5, pretrained=build.resolve_pretrained(cfg.model))
    for k, v in source.state_dict().items():
        assert torch.equal(net.backbone.state_dict()[k], v), k
    for stem in (net.stem_visible, net.stem_infrared):
        for k, v in other.stem_visible.state_dict().items():
            assert torch.equal(stem.state_dict()[k], v), k
    assert not torch.equal(
        build.build_model(scratch, 5).backbone.state_dict()["layer1.0.conv1.weight"],
        source.state_dict()["layer1.0.conv1.weight"],
    )  # the file, not the init, was loaded
    assert build.resolve_pretrained(scratch) is None


def test_from_scratch_configs_say_none_and_the_paper_configs_name_imagenet():
    """The demo and test configs start from random weights explicitly; the ViT ablation loads the local
    file of its synthetic pretraining stand-in (benchmarks/vit_pretrain.py, no network); every config
    that names weights names the authors' ImageNet files."""
    scratch = {"synthetic", "test_tiny", "deen_vit_tiny_synthetic", "first_run", "agw_synthetic", "test_tiny_agw"}
    local = {"ablation_vit_tiny": "data/pretrained/vit96d4p8_synth64x32.safetensors"}
    for name in shipped_configs():
        cfg = load_config(name)
        source = build.pretrained_source(cfg.model)
        if name in local:
            assert source == local[name] and source.endswith(".safetensors"), name
        elif name in scratch:
            assert source is None and cfg.model.pretrained == "none", name
        elif cfg.model.name in ("deen", "agw"):
            assert source == "imagenet" and pt.get_weights(source, "resnet50").filename == "resnet50-19c8e357.pth", name
        else:
            assert (
                pt.get_weights(source, build.pretrained_family(cfg.model)).filename
                == "jx_vit_base_p16_224-80ecf9dd.pth"
            ), name
    with open(CONFIGS / "base.yaml") as fh:
        assert "pretrained: imagenet" in fh.read()


def test_tiny_training_never_touches_the_network(tmp_path, monkeypatch):
    """`make test` / `make demo` configs train offline: every urlopen raises, training still runs."""
    calls = offline(monkeypatch)
    root = tiny_dataset(tmp_path / "data")
    code = main(
        [
            "train",
            "--config",
            "test_tiny",
            "--out",
            str(tmp_path / "run"),
            "--quiet",
            f"data.root={root}",
            "train.epochs=1",
            "eval.every=0",
        ]
    )
    assert code == 0 and calls == []
    assert (tmp_path / "run" / "metrics.json").is_file()
    demo = load_config("synthetic")
    assert build.resolve_pretrained(demo.model) is None and calls == []


@pytest.mark.parametrize("value", ["nope", "/no/such/file.pth"])
def test_bad_pretrained_values_are_one_line_config_errors(value, tmp_path, monkeypatch, capsys):
    offline(monkeypatch)
    code = main(["train", "--config", "test_tiny", f"model.pretrained={value}", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "model.pretrained" in err[0] and not (tmp_path / "run").exists()


def test_without_a_best_checkpoint_the_final_evaluation_says_it_used_the_last_weights(tmp_path, capsys, monkeypatch):
    """No evaluation above 0 (the authors' rule then saves no best): the final evaluation runs on the
    last weights and metrics.json names them."""
    import json

    import vireid.engine.run as run

    real = run.evaluate_model

    def scores_zero(*args, final=True, **kwargs):  # every periodic evaluation scores 0
        results, summary = real(*args, final=final, **kwargs)
        return results, summary if final else {**summary, "mean": dict.fromkeys(summary["mean"], 0.0)}

    monkeypatch.setattr(run, "evaluate_model", scores_zero)
    root = tiny_dataset(tmp_path / "data")
    out = tmp_path / "run"
    code = main(["train", "--config", "test_tiny", "--out", str(out), f"data.root={root}", "train.epochs=1"])
    assert code == 0
    assert not (out / "checkpoints" / "best.safetensors").exists()
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["checkpoint"].startswith(str(out / "checkpoints" / "step-"))
    assert "no best checkpoint" in capsys.readouterr().out


def test_a_dataset_refused_leaves_no_run_folder(tmp_path, capsys):
    """The dataset is read and checked before the run folder is made: a refused one (an id in both
    lists; a synthetic dataset holding the user's files under data.synth.force) leaves nothing --
    it left a run folder holding config.yaml and .lock."""
    root = tiny_dataset(tmp_path / "data")
    train_ids = (tmp_path / "data" / "exp" / "train_id.txt").read_text().strip().split(",")
    test_list = tmp_path / "data" / "exp" / "test_id.txt"
    good = test_list.read_text()
    test_list.write_text(good.strip() + "," + train_ids[0] + "\n")
    base = ["train", "--config", str(CONFIGS / "test_tiny.yaml"), f"data.root={root}", "--quiet"]
    assert main([*base, "data.synth=null", "--out", str(tmp_path / "r1")]) == 2
    assert "is also in" in capsys.readouterr().err and not (tmp_path / "r1").exists()
    test_list.write_text(good)
    (tmp_path / "data" / "NOTES.txt").write_text("mine\n")
    assert main([*base, "data.synth.force=true", "data.synth.seed=1", "--out", str(tmp_path / "r2")]) == 2
    assert "NOTES.txt" in capsys.readouterr().err and not (tmp_path / "r2").exists()
    assert (tmp_path / "data" / "NOTES.txt").read_text() == "mine\n"


def test_a_failure_before_training_starts_leaves_nothing_the_run_made(tmp_path, capsys):
    """A ``train.init_from`` that names no checkpoint is found after the run folder's lock and
    config.yaml were written: they (and the folders made for them) go; a folder of the user's stays."""
    root = tiny_dataset(tmp_path / "data")
    base = ["train", "--config", str(CONFIGS / "test_tiny.yaml"), f"data.root={root}", "--quiet"]
    bad = [f"train.init_from={tmp_path / 'no-such-run'}", "train.tensorboard=true"]
    assert main([*base, *bad, "--out", str(tmp_path / "made" / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no checkpoint found" in err[0], err
    assert not (tmp_path / "made").exists()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "NOTES.txt").write_text("mine\n")
    assert main([*base, *bad, "--out", str(mine)]) == 2
    capsys.readouterr()
    assert [p.name for p in mine.iterdir()] == ["NOTES.txt"]
