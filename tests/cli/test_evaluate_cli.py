"""``vireid evaluate``: table, metrics.json, trials, re-ranking, exit codes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vireid.cli.main import main
from vireid.evaluation import evaluate, load_features, pairwise_distance, save_features


def _write_sets(tmp_path, trials=1, seed=0):
    rng = np.random.default_rng(seed)
    protos = rng.standard_normal((6, 8))
    q_pids = np.repeat(np.arange(6), 3)
    save_features(
        tmp_path / "q.safetensors",
        protos[q_pids] + 0.5 * rng.standard_normal((18, 8)),
        q_pids,
        rng.choice([3, 6], 18),
        modality="infrared",
    )
    galleries = []
    for t in range(trials):
        g_pids = np.repeat(np.arange(6), 4)
        path = tmp_path / f"g{t}.safetensors"
        save_features(
            path,
            protos[g_pids] + 0.5 * rng.standard_normal((24, 8)),
            g_pids,
            np.tile([1, 2, 4, 5], 6),
            modality="visible",
        )
        galleries.append(str(path))
    return str(tmp_path / "q.safetensors"), galleries


def test_single_trial_metrics_json(tmp_path, capsys):
    q, (g,) = _write_sets(tmp_path)
    out = tmp_path / "res" / "metrics.json"
    assert main(["evaluate", "--query", q, "--gallery", g, "--protocol", "sysu", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Rank-1" in printed and "g0.safetensors" in printed
    metrics = json.loads(out.read_text())
    qs, gs = load_features(q), load_features(g)
    expected = evaluate(
        pairwise_distance(qs.feats, gs.feats), qs.pids, gs.pids, qs.camids, gs.camids, protocol="sysu"
    ).as_dict()
    for key, value in expected.items():
        assert metrics[key] == pytest.approx(value)
        assert 0.0 <= metrics[key] <= 1.0
    assert metrics["num_trials"] == 1 and metrics["protocol"] == "sysu" and not metrics["rerank"]


def test_several_trials_are_aggregated_and_rerank_runs(tmp_path, capsys):
    q, gs = _write_sets(tmp_path, trials=3)
    out = tmp_path / "m.json"
    code = main(
        [
            "evaluate",
            "--query",
            q,
            "--gallery",
            *gs,
            "--protocol",
            "llcm",
            "--metric",
            "cosine",
            "--rerank",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    assert "mean ± std" in capsys.readouterr().out
    metrics = json.loads(out.read_text())
    assert metrics["num_trials"] == 3 and len(metrics["trials"]) == 3 and metrics["rerank"]
    assert metrics["mAP"] == pytest.approx(np.mean([t["mAP"] for t in metrics["trials"]]))
    assert set(metrics["std"]) == {"rank1", "rank5", "rank10", "rank20", "mAP", "mINP"}


def test_bad_inputs_exit_2(tmp_path, capsys):
    q, (g,) = _write_sets(tmp_path)
    missing = str(tmp_path / "nope.safetensors")
    assert main(["evaluate", "--query", missing, "--gallery", g, "--protocol", "sysu"]) == 2
    assert "nope.safetensors: file not found" in capsys.readouterr().err
    save_features(tmp_path / "d.safetensors", np.zeros((3, 5), np.float32), [0, 1, 2], [1, 1, 1])
    assert main(["evaluate", "--query", q, "--gallery", str(tmp_path / "d.safetensors"), "--protocol", "regdb"]) == 2
    assert "descriptor sizes differ" in capsys.readouterr().err
    save_features(tmp_path / "x.safetensors", np.zeros((3, 8), np.float32), [90, 91, 92], [1, 1, 1])
    out = tmp_path / "never.json"
    assert (
        main(
            [
                "evaluate",
                "--query",
                q,
                "--gallery",
                str(tmp_path / "x.safetensors"),
                "--protocol",
                "regdb",
                "--out",
                str(out),
            ]
        )
        == 2
    )
    assert "no query has a true match" in capsys.readouterr().err and not out.exists()
    assert main(["evaluate", "--query", q, "--gallery", g, "--protocol", "market"]) == 2


def test_same_files_or_same_modality_are_warned_about(tmp_path, capsys):
    q, (g,) = _write_sets(tmp_path)
    assert main(["evaluate", "--query", q, "--gallery", q, "--protocol", "plain"]) == 0
    err = capsys.readouterr().err
    assert "warning:" in err and "query file itself" in err and "both infrared" in err
    qs = load_features(q)
    save_features(tmp_path / "vis_q.safetensors", qs.feats, qs.pids, qs.camids, modality="visible")
    assert (
        main(["evaluate", "--query", str(tmp_path / "vis_q.safetensors"), "--gallery", g, "--protocol", "plain"]) == 0
    )
    assert "both visible; this is not a cross-modal evaluation" in capsys.readouterr().err
    assert main(["evaluate", "--query", q, "--gallery", g, "--protocol", "sysu"]) == 0
    assert "warning" not in capsys.readouterr().err


def test_out_equal_to_an_input_is_refused(tmp_path, capsys):
    q, (g,) = _write_sets(tmp_path)
    before = open(g, "rb").read()
    assert main(["evaluate", "--query", q, "--gallery", g, "--protocol", "sysu", "--out", g]) == 2
    assert "also the gallery features file" in capsys.readouterr().err
    assert open(g, "rb").read() == before
