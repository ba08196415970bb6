"""The README's numbers come from the committed result files: the generated block matches them."""

from pathlib import Path

import pandas as pd
import pytest

from zoo.errors import ZooError
from zoo.experiments.digest import BEGIN, END, digest, main, with_digest

ROOT = Path(__file__).resolve().parents[1]


def test_the_readme_block_is_the_digest_of_the_committed_results():
    readme = (ROOT / "README.md").read_text()
    block = readme.split(BEGIN, 1)[1].split(END, 1)[0]
    assert block == "\n" + digest(ROOT / "benchmarks" / "results"), \
        "run: python -m zoo.experiments.digest benchmarks/results --readme README.md"


def test_digest_reads_tables_and_junit_files(tmp_path):
    machine = tmp_path / "box"
    (machine / "s").mkdir(parents=True)
    rows = [{"run_id": str(i), "variant": v, "recipe": "r", "overrides": o, "dataset_source": "digits", "seed": 0,
             "top1": t, "status": "ok", "wall_seconds": 30.0, "train_seconds": 20.0, "compile_seconds": 3.0,
             "loop": "keras", "device": "cpu: X", "backend": "jax",
             "backend_version": "0.1", "started": f"2026-01-01T00:0{i}:00", "finished": f"2026-01-01T00:0{i}:30"}
            for i, (v, o, t) in enumerate([("a", '{"budget_seconds": 60}', 0.5), ("a", '{"budget_seconds": 120}', 0.7),
                                           ("b", "{}", 0.6)])]
    pd.DataFrame(rows).to_parquet(machine / "s" / "results.parquet")
    (machine / "suite.xml").write_text('<testsuites><testsuite tests="10" skipped="2" failures="1" errors="0" '
                                       'time="125.5" timestamp="2026-01-02T10:00:00"/></testsuites>')
    text = digest(tmp_path)
    assert "| box (cpu: X) | s     | jax 0.1 | 3/3     | 1 min 30 s      | 67% (77%)                            | 2 min 30 s" in text
    assert "a · r budget_seconds=120 (digits) 70.00%, b · r (digits) 60.00%, a · r budget_seconds=60 (digits) 50.00%" \
        in text
    assert "| box     | suite.xml" in text and "7 passed, 2 skipped, 1 failed | 2 min 06 s |" in text
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{BEGIN}\nold\n{END}\nrest\n")
    assert main([str(tmp_path), "--readme", str(readme)]) == 0
    assert readme.read_text() == with_digest(f"intro\n{BEGIN}\nold\n{END}\nrest\n", text)
    assert readme.read_text().endswith(f"{END}\nrest\n") and "old" not in readme.read_text()


def test_digest_errors_name_the_input(tmp_path, capsys):
    with pytest.raises(ZooError, match="no such results folder"):
        digest(tmp_path / "none")
    with pytest.raises(ZooError, match="has no <!-- results:begin -->"):
        with_digest("no markers", "x")
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "bad.xml").write_text("<not closed")
    assert main([str(tmp_path)]) == 2
    assert "bad.xml is not JUnit XML" in capsys.readouterr().err


COMMITTED = sorted(p.parent.name for p in (ROOT / "benchmarks" / "results").glob("*/*/results.parquet"))


@pytest.mark.parametrize("folder", COMMITTED)
def test_committed_tables_split_their_wall_time_and_say_so(folder):
    """Every committed table's phases add up to its runs' wall time, and its results.md is what the code
    renders from the table today (regenerate: zoo.experiments.summary.summary_markdown)."""
    from zoo.experiments.results import read_table
    from zoo.experiments.summary import summary_markdown, time_split

    path = next((ROOT / "benchmarks" / "results").glob(f"*/{folder}"))
    table = read_table(path)
    ok = table[table["status"] == "ok"]
    assert sum(time_split(table).values()) == pytest.approx(ok["wall_seconds"].astype(float).sum(), rel=0.01)
    assert (path / "results.md").read_text() == summary_markdown(table, title=f"sweep {table['sweep'].iloc[0]}")
