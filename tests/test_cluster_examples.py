"""The engine files of "Grading past one machine": they parse, and they call `grade` as the README says.

`grade` itself is replaced by a script that prints its arguments: what is tested here is
the shell around it (SLURM's array index, Kubernetes' completion index, the matrix).
The GitHub workflow also goes through actionlint in tests/test_ci_outputs.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT

EXAMPLES = ROOT / "examples"
SLURM = EXAMPLES / "cluster" / "slurm"
K8S = EXAMPLES / "cluster" / "k8s"
WORKFLOW = EXAMPLES / "ci" / "grade-shards.yml"


def _fake_grade(folder: Path) -> Path:
    script = folder / "grade"
    script.write_text('#!/bin/sh\necho "$@"\n')
    script.chmod(0o755)
    return script


def _yaml(path: Path) -> Any:
    yaml = pytest.importorskip("yaml", reason="PyYAML is not installed here")
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.mark.skipif(not shutil.which("bash"), reason="the sbatch scripts are bash")
def test_the_slurm_array_grades_shard_k_of_n_and_merge_takes_them_all(tmp_path: Path) -> None:
    fake = _fake_grade(tmp_path)
    env = dict(os.environ, GRADE=str(fake), SLURM_SUBMIT_DIR=str(tmp_path), SLURM_ARRAY_TASK_ID="3",
               SLURM_ARRAY_TASK_MAX="8", SLURM_CPUS_PER_TASK="2")  # fmt: skip
    env.pop("SHARDS", None)
    done = subprocess.run(["bash", str(SLURM / "grade.sbatch")], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    expected = "submissions --out grading-shards/shard-3 --shard 3/8 --weights auto --jobs 2"
    assert done.stdout.strip() == expected
    rerun = subprocess.run(["bash", str(SLURM / "grade.sbatch")], env=dict(env, SLURM_ARRAY_TASK_MAX="3", SHARDS="8"),
                           capture_output=True, text=True)  # fmt: skip
    assert rerun.stdout.strip() == expected, "SHARDS wins over the array's highest index"
    for index in (1, 2):
        (tmp_path / "grading-shards" / f"shard-{index}").mkdir(parents=True, exist_ok=True)
    merged = subprocess.run(["bash", str(SLURM / "merge.sbatch")], env=env, capture_output=True, text=True)
    assert merged.stdout.strip() == "merge grading grading-shards/shard-1 grading-shards/shard-2"


@pytest.mark.parametrize("index", [0, 7])
def test_the_indexed_job_grades_index_plus_one_of_completions(index: int, tmp_path: Path) -> None:
    job = _yaml(K8S / "grade-job.yaml")
    spec = job["spec"]
    assert job["kind"] == "Job" and spec["completionMode"] == "Indexed"
    container = spec["template"]["spec"]["containers"][0]
    env = {item["name"]: item["value"] for item in container["env"]}
    assert int(env["SHARDS"]) == spec["completions"]
    _fake_grade(tmp_path)
    shell_env = dict(os.environ, PATH=f"{tmp_path}:{os.environ['PATH']}", JOB_COMPLETION_INDEX=str(index), **env)
    done = subprocess.run([*container["command"], *container["args"]], env=shell_env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    shard = index + 1
    assert done.stdout.strip() == (
        f"submissions --out grading-shards/shard-{shard} --shard {shard}/{env['SHARDS']} --weights standin --jobs 2"
    )
    merge = _yaml(K8S / "merge-job.yaml")["spec"]["template"]["spec"]["containers"][0]
    assert merge["args"] == ["exec grade merge grading grading-shards/shard-*"]
    assert merge["volumeMounts"] == container["volumeMounts"] and merge["workingDir"] == container["workingDir"]


def test_the_workflow_matrix_covers_every_shard_and_merges_after() -> None:
    workflow = _yaml(WORKFLOW)
    count = int(workflow["env"]["SHARDS"])
    assert workflow["jobs"]["grade"]["strategy"]["matrix"]["shard"] == list(range(1, count + 1))
    assert workflow["jobs"]["grade"]["strategy"]["fail-fast"] is False
    merge = workflow["jobs"]["merge"]
    assert merge["needs"] == "grade"
    assert any("grade merge grading shards/shard-*" in step.get("run", "") for step in merge["steps"])
