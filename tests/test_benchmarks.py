"""The bench runner: statuses, RESULT/SPEED lines, the results page and the README block."""

import json

import pytest

from agentkit import benchmarks
from agentkit.benchmarks import (
    Bench,
    BenchError,
    parse_output,
    result_line,
    run_bench,
    run_benches,
    run_seed,
    split_seeds,
    update_readme,
    write_page,
)

SCRIPT = """
import sys
print("| a | b |\\n|---|---|\\n| 1 | 2 |")
print({line!r})
print("RESULT {{not json")
print("(EngineCore pid=12) INFO 11-24 06:28:08 [core.py:133] Initializing")
print("[2026-11-24 06:27:31,895] [WARNING] [real_accelerator.py:213] accelerator")
print("{{'loss': '1.546', 'epoch': '1'}}")
print("eval bc ━━━━━━━━━━ 27/27 0:00:10")
sys.exit({code})
"""


@pytest.fixture
def bench_dir(tmp_path, monkeypatch):
    folder = tmp_path / "bench"
    folder.mkdir()
    line = result_line("RESULT", method="BC", task="textworld test", metric="success", baseline_name="base",
                       baseline=0.1, result=0.7, seeds=[0])  # fmt: skip
    (folder / "good.py").write_text(SCRIPT.format(line=line, code=0))
    (folder / "missed.py").write_text(SCRIPT.format(line=result_line("SPEED", measure="sft", ratio=1.2, goal=1.5),
                                                    code=1))  # fmt: skip
    (folder / "slow.py").write_text("import time\nprint('started', flush=True)\ntime.sleep(30)\n")
    monkeypatch.setattr(benchmarks, "BENCHES", {
        "good": Bench("good.py", "learning", about="good"),
        "missed": Bench("missed.py", "speed", about="missed"),
        "slow": Bench("slow.py", "speed", timeout=2, about="slow"),
    })  # fmt: skip
    return folder


def test_statuses_and_lines_are_read_from_real_scripts(bench_dir):
    good = run_bench("good", bench_dir)
    assert good.status == "ok" and good.results[0]["result"] == 0.7 and not good.speeds
    missed = run_bench("missed", bench_dir)
    assert missed.status == "missed" and missed.speeds == [{"goal": 1.5, "measure": "sft", "ratio": 1.2}]
    slow = run_bench("slow", bench_dir)
    assert slow.status == "timeout" and "started" in slow.output
    with pytest.raises(BenchError, match="unknown bench 'nope'"):
        run_bench("nope", bench_dir)


def test_page_and_readme_carry_the_tables(bench_dir, tmp_path):
    runs = [run_bench("good", bench_dir), run_bench("missed", bench_dir)]
    page = write_page(runs, tmp_path / "results", "2026-01-02")
    text = page.read_text()
    assert "| BC | textworld test | success | base: 0.1 | 0.7 | +0.6 | 0 | met |" in text
    assert "| sft | 1.20x | >= 1.5x |" in text and "| missed | missed |" in text and "| all | |" in text
    assert "| 1 | 2 |" in text and "pid=12" not in text and "real_accelerator" not in text
    assert "'loss'" not in text and "27/27" not in text
    saved = json.loads((tmp_path / "results" / "2026-01-02.json").read_text())
    assert [run["status"] for run in saved] == ["ok", "missed"] and "pid=12" in saved[0]["output"]
    assert (tmp_path / "results" / "2026-01-02-learning.png").is_file()
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n## Results\n{benchmarks.README_START}\nold\n{benchmarks.README_END}\ntail\n")
    update_readme(readme, runs, page)
    updated = readme.read_text()
    assert "old" not in updated and "| BC | textworld test |" in updated and updated.endswith("tail\n")
    readme.write_text("no markers")
    with pytest.raises(BenchError, match="results:start"):
        update_readme(readme, runs, page)


def test_run_seed_reads_the_saved_config(tmp_path):
    (tmp_path / "config.yaml").write_text("model: demo\nseed: 7\n")
    assert run_seed(tmp_path) == 7


def test_parse_output_skips_malformed_lines():
    results, speeds = parse_output('RESULT {"a": 1}\nRESULT {broken\nSPEED [1]\nnoise')
    assert results == [{"a": 1}] and speeds == [[1]]


def test_a_named_bench_replaces_its_own_rows_of_the_days_page(bench_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(benchmarks, "bench_folder", lambda: bench_dir)
    out, readme = tmp_path / "results", tmp_path / "README.md"
    readme.write_text(f"{benchmarks.README_START}\nold\n{benchmarks.README_END}\n")
    run_benches(["good", "missed"], out, readme=readme, echo=lambda line: None)
    assert "old" in readme.read_text(), "a page without every bench must not replace the README's block"
    run_benches(["slow"], out, readme=readme, echo=lambda line: None)
    assert "| sft | 1.20x |" in readme.read_text()
    bench_dir.joinpath("missed.py").write_text(SCRIPT.format(line=result_line("SPEED", measure="sft", ratio=1.7,
                                                                              goal=1.5), code=0))  # fmt: skip
    runs = run_benches(["missed"], out, readme=readme, echo=lambda line: None)
    assert [run.name for run in runs] == ["missed"]
    text = next(out.glob("*.md")).read_text()
    assert "| good | ok |" in text and "| missed | ok |" in text and "| slow | timeout |" in text
    assert "| sft | 1.70x |" in text and "1.20x" not in text
    assert "| sft | 1.70x |" in readme.read_text() and "| BC | textworld test |" in readme.read_text()


def test_split_seeds_reads_a_leading_seed_list_and_names_a_bad_one():
    assert split_seeds(["--seeds", "0,1,2", "steps=3"]) == ([0, 1, 2], ["steps=3"])
    assert split_seeds(["steps=3"]) == ([0], ["steps=3"])
    with pytest.raises(BenchError, match="'0,x'"):
        split_seeds(["--seeds", "0,x"])
    with pytest.raises(BenchError, match="--seeds needs"):
        split_seeds(["--seeds"])
    with pytest.raises(BenchError, match="'seed=3'.*--seeds 3"):
        split_seeds(["--seeds", "0,1", "seed=3"])
