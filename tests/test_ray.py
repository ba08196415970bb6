"""`zoo bench --ray`: a sweep on a two-node Ray cluster on loopback, a worker killed mid-run, the error
without Ray.

Ray's servers listen on every interface of the machine and cannot be told to use loopback alone, so the
cluster test runs in a private network namespace (`unshare -rn`) whose only interface is loopback: nothing
outside the machine can reach it, and `ray stop --force` ends it whatever happens."""

import shutil
import subprocess
import sys

import pandas as pd
import pytest
from datafiles import tiny_sweep

from zoo.errors import ZooError


# Kills the first Ray worker it sees running a run (its process title is `ray::_task`), once.
KILLER = """
import os, signal, subprocess, sys, time
deadline = time.time() + 120
while time.time() < deadline:
    for line in subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout.splitlines():
        pid, _, args = line.strip().partition(" ")
        if args.startswith("ray::_task"):
            time.sleep(1.0)
            os.kill(int(pid), signal.SIGKILL)
            print(pid, flush=True)
            sys.exit(0)
    time.sleep(0.1)
sys.exit(1)
"""

CLUSTER = """
set -u
ip link set lo up
export RAY_USAGE_STATS_ENABLED=0 ZOO_OFFLINE=1 ZOO_CACHE_DIR="$PWD/cache" HOME="$PWD/home"
trap 'ray stop --force > /dev/null 2>&1' EXIT
ray start --head --port=6390 --node-ip-address=127.0.0.1 --num-cpus=1 --include-dashboard=false \\
    --disable-usage-stats > head.log 2>&1 || exit 3
ray start --address=127.0.0.1:6390 --node-ip-address=127.0.0.1 --num-cpus=1 > node.log 2>&1 || exit 4
ip -o addr show | awk '{print $2}' | sort -u > interfaces.txt
"$PYTHON" killer.py > killed.txt 2>&1 &
"$PYTHON" -m zoo bench sweep.toml --ray 127.0.0.1:6390 --out table --no-plots --retries 1 > bench.log 2>&1
echo $? > bench.rc
"""


def _namespaces_work() -> bool:
    if not (shutil.which("unshare") and shutil.which("ip") and shutil.which("ray")):
        return False
    probe = subprocess.run(["unshare", "-rn", "ip", "link", "set", "lo", "up"], capture_output=True)
    return probe.returncode == 0


@pytest.mark.slow
@pytest.mark.skipif(not _namespaces_work(), reason="needs Ray, unshare and ip (a private loopback-only network)")
def test_a_sweep_spreads_over_two_nodes_and_survives_a_killed_worker(tmp_path):
    pytest.importorskip("ray")
    (tmp_path / "sweep.toml").write_text(tiny_sweep(seeds=(0, 1, 2, 3)))
    (tmp_path / "killer.py").write_text(KILLER)
    (tmp_path / "cluster.sh").write_text(CLUSTER)
    done = subprocess.run(["unshare", "-rn", "bash", "cluster.sh"], cwd=tmp_path, env={
        "PATH": f"{shutil.which('ray').rsplit('/', 1)[0]}:/usr/sbin:/usr/bin:/bin", "PYTHON": sys.executable},
        capture_output=True, text=True, timeout=300)
    log = (tmp_path / "bench.log").read_text() if (tmp_path / "bench.log").exists() else ""
    assert done.returncode == 0 and (tmp_path / "bench.rc").read_text().strip() == "0", \
        done.stderr[-2000:] + log[-3000:]
    assert (tmp_path / "interfaces.txt").read_text().split() == ["lo"]  # nothing but loopback to listen on
    table = pd.read_parquet(tmp_path / "table" / "results.parquet")
    assert len(table) == 4 and table["run_id"].is_unique and (table["status"] == "ok").all(), log[-3000:]
    from zoo.experiments.schema import COLUMNS, undeclared

    assert undeclared(table.columns, COLUMNS) == []  # Ray's rows: the results schema, node and attempts included
    assert table["node"].nunique() == 2 and table["node"].str.endswith("@127.0.0.1").all()  # both nodes ran runs
    for _, rows in table.sort_values("started").groupby("node"):  # one CPU a node: its runs one after another
        assert (rows["started"].iloc[1:].to_numpy() >= rows["finished"].iloc[:-1].to_numpy()).all(), rows
    assert (tmp_path / "killed.txt").read_text().strip().isdigit()  # a worker was killed mid-run...
    assert sorted(table["attempts"]) == [1, 1, 1, 2]  # ...and its run retried: none lost, none duplicated
    assert not list((tmp_path / "table" / "claims").glob("*.json"))
    assert "on " in log and "| resnet_tiny" in log
    leftover = subprocess.run(["pgrep", "-f", "gcs_server_port=6390"], capture_output=True, text=True).stdout.split()
    assert not leftover  # the cluster is stopped


def test_without_ray_the_error_says_how_to_install_it(monkeypatch):
    from zoo.experiments.ray_sweep import import_ray

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ZooError, match=r"--ray needs Ray, which is not installed: pip install -e \"\.\[ray\]\""):
        import_ray()


def test_ray_flags_are_checked_before_anything_runs(capsys):
    from zoo.cli import main

    assert main(["bench", "quick", "--ray", "--in-process"]) == 2
    assert "does not combine with --in-process" in capsys.readouterr().err
    for flag, value in (("--cpus-per-run", "0"), ("--gpus-per-run", "-1"), ("--retries", "x")):
        with pytest.raises(SystemExit) as stop:
            main(["bench", "quick", "--ray", flag, value])
        assert stop.value.code == 2
    assert flag in capsys.readouterr().err
