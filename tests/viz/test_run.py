"""The pictures a run gets when it ends: both written, and a picture that cannot be drawn never fails the run."""

from tests.report.fake import log_records, metrics
from vireid.viz.run import write_run_pictures


def test_both_pictures_from_the_metrics_and_the_log(tmp_path):
    import json

    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in log_records()))
    written = write_run_pictures(tmp_path, metrics=metrics("regdb", 0.5), log_file=tmp_path / "metrics.jsonl")
    assert sorted(written) == ["cmc", "curves"]
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in written.values())


def test_a_picture_that_cannot_be_drawn_is_reported_not_raised(tmp_path):
    messages = []
    (tmp_path / "metrics.jsonl").write_text("not json\n")
    written = write_run_pictures(
        tmp_path, metrics={"protocol": "sysu"}, log_file=tmp_path / "metrics.jsonl", log=messages.append
    )
    assert written == {}
    assert messages[0].startswith("cmc.png not written: metrics: no 'directions'")
    assert messages[1].startswith("curves.png not written:") and "no training records" in messages[1]
    assert write_run_pictures(tmp_path, log_file=tmp_path / "absent.jsonl") == {}  # no log: no curves
