"""benchmarks/_common.py: RESULTS.md sections are replaced in place, never duplicated."""

from benchmarks._common import median_time, section, table, write_section


def test_write_section_replaces_and_appends(tmp_path):
    path = tmp_path / "RESULTS.md"
    write_section("a", "first A", path)
    write_section("b", "first B", path)
    write_section("a", "second A", path)
    text = path.read_text()
    assert text.startswith("# Benchmark results")
    assert "second A" in text and "first A" not in text and "first B" in text
    assert text.count("<!-- bench:a -->") == 1 and text.index("second A") < text.index("first B")


def test_section_is_stamped_and_table_formats():
    body = table([{"name": "x", "value": 1.23456, "unit": "s", "note": "n"}])
    assert "| x | 1.235 | s | n |" in body
    text = section("T", body, "python -m benchmarks.x")
    for field in ("command: `python -m benchmarks.x`", "machine:", "date:", "commit:"):
        assert field in text


def test_median_time_runs_warmup_and_repeats():
    calls = []
    t = median_time(lambda: calls.append(1), repeats=3, warmup=2)
    assert len(calls) == 5 and t >= 0


def test_cli_forwards_options_to_run(capsys):
    from benchmarks._common import cli

    seen = {}

    def run(quick=False, device="cpu"):
        seen.update(quick=quick, device=device)
        return [{"name": "x", "value": 1.0, "unit": "s"}]

    assert (
        cli(
            "bench_x", "X", run, ["--quick", "--no-write", "--device", "meta"], options={"--device": {"default": "cpu"}}
        )
        == 0
    )
    assert seen == {"quick": True, "device": "meta"}
    assert "| x | 1 | s |" in capsys.readouterr().out


def test_interleaved_samples_alternate_and_paired_ratio():
    from benchmarks._common import interleaved_samples, paired_ratio

    order = []
    fns = {k: (lambda k=k: order.append(k)) for k in "abc"}
    samples = interleaved_samples(fns, repeats=3, warmup=1)
    # warm-up in order, then rounds rotated so that no function always goes first
    assert "".join(order) == "abc" + "abc" + "bca" + "cab"
    assert all(len(v) == 3 for v in samples.values())
    mid, lo, hi = paired_ratio([2.0, 4.0, 9.0], [1.0, 2.0, 3.0])  # ratios 2, 2, 3
    assert (mid, lo, hi) == (2.0, 2.0, 3.0)


def test_publish_names_the_command_and_writes_only_when_asked(tmp_path, monkeypatch, capsys):
    import benchmarks._common as common

    path = tmp_path / "RESULTS.md"
    monkeypatch.setattr(common, "RESULTS", path)
    monkeypatch.setattr(common, "write_section", lambda key, text, path=path: write_section(key, text, path))
    text = common.publish(
        "precision_sensitivity_demo", "T", "body", ["--point", "demo"], write=False, module="precision_sensitivity"
    )
    assert "- command: `python -m benchmarks.precision_sensitivity --point demo`" in text
    assert text in capsys.readouterr().out and not path.exists()
    common.publish("method_table", "M", "rows", [], write=True)
    assert (
        "<!-- bench:method_table -->" in path.read_text() and "`python -m benchmarks.method_table`" in path.read_text()
    )
