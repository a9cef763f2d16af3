"""A Ray cluster with 8 (logical) GPUs: one child per GPU, each sees only its own, at once.

This machine has no GPU; Ray still books ``GPU`` resources and sets ``CUDA_VISIBLE_DEVICES``
per worker exactly as on a real 8-GPU node, and the children train on the CPU.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
import ray

from nas.core.errors import NasError
from nas.search.config import SearchConfig
from nas.search.loop import run_search
from nas.search.store import RunStudy


@pytest.fixture(scope="module")
def cluster() -> Any:
    if ray.is_initialized():  # left running by another module: start ours cleanly
        ray.shutdown()
    ray.init(num_cpus=2, num_gpus=8, include_dashboard=False, log_to_driver=False,
             logging_level="ERROR")
    yield
    ray.shutdown()


def test_children_get_distinct_gpus_and_run_concurrently(cluster: None, tmp_path: Path) -> None:
    config = SearchConfig(space="nasbench201", space_options={"channels": 8,
                                                              "cells_per_stage": 1},
                          controller="random", dataset="digits", limit=300, epochs=2.0,
                          trials=10, gpus=8)
    result = run_search(config, name="g", runs_dir=tmp_path)
    assert result.done == 10
    records = RunStudy.open(result.run.storage_url, "g", None).records()
    spans, gpu_of_worker = [], {}
    for r in records:
        a = r.attrs
        assert r.status == "ok", r.message
        # Ray gave the child's worker one GPU and made it the only one the child can see
        assert len(a["gpu_ids"]) == 1 and a["cuda_visible_devices"] == a["gpu_ids"][0]
        assert gpu_of_worker.setdefault(a["pid"], a["gpu_ids"][0]) == a["gpu_ids"][0]
        spans.append((a["started_at"], a["finished_at"], a["gpu_ids"][0]))
    assert len(set(gpu_of_worker.values())) == len(gpu_of_worker) >= 2  # one GPU per worker
    overlapping = [(a, b) for a, b in itertools.combinations(spans, 2)
                   if a[0] < b[1] and b[0] < a[1]]
    assert overlapping, "no two children ran at the same time"
    for a, b in overlapping:  # children running at the same time never share a GPU
        assert a[2] != b[2]


def test_more_gpus_than_the_cluster_has(cluster: None, tmp_path: Path) -> None:
    with pytest.raises(NasError, match="--gpus 9: the Ray cluster has 8 GPU"):
        run_search(SearchConfig(gpus=9, trials=1), name="x", runs_dir=tmp_path)
    assert not (tmp_path / "x").exists()  # refused before anything started
