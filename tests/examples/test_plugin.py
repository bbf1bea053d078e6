"""The example plugin (examples/plugin, docs/extending.md) used as a user would: a dataset, a model, a
loss term and an expansion module from outside ``src/vireid``, no vireid file edited.

* Installed: a distribution with the entry point ``vireid.plugins`` on the path (its
  ``.dist-info``, as ``pip install`` leaves it) -- ``vireid train --config toy`` finds the plugin's
  config by name, then ``test``, ``export`` (ONNX), ``index build``, ``search``, ``extract`` and
  ``ablate`` use its classes by name, in one fresh interpreter through the CLI entry point.
* Imported by a config: no entry point, ``imports: [vireid_toy]``; a run folder's config names the
  plugin for ``export``.
* Missing: a checkpoint of its model, the plugin not importable: one line naming it, exit 2.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
PLUGIN = REPO / "examples" / "plugin"

DRIVER = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from vireid.cli.main import main

    tmp = Path(sys.argv[1])
    data, run = tmp / "data", tmp / "runs" / "toy"
    codes = {}
    from vireid_toy.make_data import make_toy_data  # the plugin's own helper

    make_toy_data(data, num_ids=10, num_test_ids=4)
    query = sorted((data / "query").iterdir())[0]
    commands = {
        "configs": ["configs"],
        "train": ["train", "--config", "toy", f"data.root={data}", "--out", str(run), "--quiet"],
        "test": ["test", "--run", str(run)],
        "export": ["export", "--checkpoint", str(run), "--modality", "visible", "--out", str(tmp / "toy.onnx")],
        "index": ["index", "build", "--checkpoint", str(run), "--gallery", str(data / "gallery"),
                  "--modality", "visible", "--out", str(tmp / "gallery.index")],
        "search": ["search", "--index", str(tmp / "gallery.index"), "--query", str(query),
                   "--modality", "infrared", "--topk", "3", "--json"],
        "extract": ["extract", "--checkpoint", str(run), "--input", str(data / "query"),
                    "--modality", "infrared", "--out", str(tmp / "query.safetensors")],
        "ablate": ["ablate", "--config", "toy", "--grid", "loss.toy_center.margin=0,0.5", "--seeds", "0",
                   "--out", str(tmp / "ablation"), "--set", f"data.root={data}", "eval.every=0"],
    }
    for name, argv in commands.items():
        codes[name] = main(argv)
    print("CODES " + json.dumps(codes))
    """
)


def _env(*paths: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIREID_PLUGINS")}
    env["PYTHONPATH"] = os.pathsep.join([*(str(p) for p in paths), str(REPO / "src")])
    return env


def _installed(site: Path) -> Path:
    """What ``pip install examples/plugin`` leaves for importlib.metadata: the dist-info with the
    entry point (the package itself is found on the path, as an editable install does)."""
    info = site / "vireid_toy-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: vireid-toy\nVersion: 0.1.0\n")
    entry = [line for line in (PLUGIN / "pyproject.toml").read_text().splitlines() if line.startswith("toy = ")]
    (info / "entry_points.txt").write_text("[vireid.plugins]\n" + "\n".join(entry).replace('"', "") + "\n")
    return site


@pytest.fixture(scope="module")
def installed_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("plugin")
    site = _installed(tmp / "site")
    (tmp / "driver.py").write_text(DRIVER)
    done = subprocess.run(
        [sys.executable, str(tmp / "driver.py"), str(tmp)],
        env=_env(site, PLUGIN),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    codes = json.loads(done.stdout.split("CODES ", 1)[1].splitlines()[0])
    return tmp, done, codes


def test_every_command_uses_the_installed_plugin_by_name(installed_run):
    tmp, done, codes = installed_run
    assert codes == dict.fromkeys(codes, 0), done.stderr[-3000:]
    assert "toy  " in done.stdout  # vireid configs lists the plugin's config
    run = tmp / "runs" / "toy"
    saved = (run / "config.yaml").read_text()  # the run names the plugins it needs, however they were loaded
    assert "imports: [vireid_toy.dataset, vireid_toy.model, vireid_toy.loss, vireid_toy.expansion]" in saved
    metrics = json.loads((run / "test" / "metrics.json").read_text())
    assert metrics["protocol"] == "toy" and 0 <= metrics["mean"]["rank1"] <= 1
    logged = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert any("loss/center" in r and "loss/expansion_ort" in r for r in logged)  # the term and the expansion trained
    meta = _metadata(_weights(run))  # the modules that registered its classes
    assert (
        json.loads(meta["plugins"]) == ["vireid_toy.expansion", "vireid_toy.model"] and meta["architecture"] == "ToyNet"
    )
    assert (tmp / "toy.onnx").stat().st_size > 0 and (tmp / "gallery.index").is_dir()
    assert (tmp / "query.safetensors").is_file() and len(
        json.loads((tmp / "ablation" / "results.json").read_text())
    ) == 2


def _weights(run: Path) -> Path:
    """The run's weights file: its best checkpoint, else its last (a toy run whose evaluations all
    score Rank-1 0 saves no best, by the authors' rule)."""
    from vireid.core.checkpoints import resolve_checkpoint

    return resolve_checkpoint(run)


def _metadata(path: Path) -> dict:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as fh:
        return dict(fh.metadata())


def test_a_config_imports_the_plugin_and_a_run_folder_names_it(installed_run, tmp_path):
    tmp, _, _ = installed_run
    run = tmp / "runs" / "toy"
    mine = tmp_path / "mine.yaml"
    mine.write_text(f"imports: [vireid_toy]\nbase: toy\ndata: {{root: {tmp / 'data'}, max_ids: 4}}\n")
    env = _env(PLUGIN)  # no entry point: only the config's imports find the plugin
    check = subprocess.run(
        [sys.executable, "-m", "vireid", "configs", str(mine)], env=env, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr
    assert "dataset: toy" in check.stdout and "max_ids: 4" in check.stdout and "toy_center:" in check.stdout
    out = tmp_path / "again.onnx"
    export = [
        sys.executable,
        "-m",
        "vireid",
        "export",
        "--checkpoint",
        str(run),
        "--modality",
        "infrared",
        "--out",
        str(out),
    ]
    done = subprocess.run(export, env=env, capture_output=True, text=True)
    assert done.returncode == 0 and out.is_file(), done.stderr  # the run's config.yaml imports the plugin


def test_a_missing_plugin_is_one_line_naming_it(installed_run, tmp_path):
    tmp, _, _ = installed_run
    alone = tmp_path / "model.safetensors"
    alone.write_bytes(_weights(tmp / "runs" / "toy").read_bytes())
    env = _env()  # the plugin is not installed, not on the path
    for ckpt, expected in (
        (alone, "its model (ToyNet) comes from the plugin 'vireid_toy.expansion', which cannot be imported"),
        (tmp / "runs" / "toy", "imports: plugin module 'vireid_toy.dataset' cannot be imported"),
    ):
        argv = [sys.executable, "-m", "vireid", "export", "--checkpoint", str(ckpt), "--modality", "visible"]
        done = subprocess.run([*argv, "--out", str(tmp_path / "x.onnx")], env=env, capture_output=True, text=True)
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2 and len(lines) == 1 and expected in lines[0], done.stderr
        assert str(ckpt) in lines[0] or "config.yaml:" in lines[0]  # it names the file (and the line)


@pytest.fixture
def plugin_in_process(monkeypatch):
    """The plugin imported into this process, and every registry, the plugin record and the configs'
    folders as they were afterwards (the other tests see vireid's own entries only)."""
    from vireid.config import shipped
    from vireid.core import plugins
    from vireid.core.registry import ALL

    saved = {kind: dict(reg._entries) for kind, reg in ALL.items()}
    dirs, loaded = list(shipped._PLUGIN_DIRS), dict(plugins._loaded)
    monkeypatch.syspath_prepend(str(PLUGIN))
    plugins.import_plugin("vireid_toy", "test")
    yield
    for kind, reg in ALL.items():
        reg._entries.clear()
        reg._entries.update(saved.get(kind, {}))
    shipped._PLUGIN_DIRS[:] = dirs
    plugins._loaded.clear()
    plugins._loaded.update(loaded)
    for name in [m for m in sys.modules if m == "vireid_toy" or m.startswith("vireid_toy.")]:
        del sys.modules[name]


def test_the_expansion_plugs_into_deen_vit_and_the_model_trains_every_parameter(plugin_in_process):
    from vireid.models.registry import create_model
    from vireid.objective import build_objective

    vit = {"embed_dim": 32, "depth": 2, "num_heads": 2, "patch_size": 8}
    for name, args in (
        ("deen_vit", {"vit": vit, "img_size": [32, 16], "stages": [1, 1], "mfa_pool": [1, 1], "expansion": "toy_mix"}),
        ("toy_net", {"width": 4, "expansion": "toy_mix", "expansion_kwargs": {"num_generated": 3}}),
    ):
        torch.manual_seed(0)
        model = create_model(name, {"num_classes": 3, **args}).train()
        x, labels = torch.randn(4, 3, 32, 16), torch.tensor([0, 0, 1, 1])
        out = model(x, x, 0)
        objective = build_objective(model, {"toy_center": {"weight": 0.1}})
        sum(objective(out, labels, labels).values()).backward()
        missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
        assert not missing and "center" in objective(out, labels, labels), (name, missing)
