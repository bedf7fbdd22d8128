"""The examples run and learn: each digits model reaches test accuracy >= 0.97 (median
over three seeds) through a save/load round trip, the polynomial fit's loss drops, and
the vmap recipes (per-sample gradients, ensembles) learn."""

import os
import re
import statistics
import subprocess
import sys

import pytest
from conftest import TESTING_TORCH

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "examples")
pytestmark = pytest.mark.skipif(TESTING_TORCH, reason="examples run on chainrule")


@pytest.fixture(scope="module")
def examples():
    pytest.importorskip("sklearn")
    sys.path.insert(0, EXAMPLES)
    try:
        import digits_cnn
        import digits_mlp
        import polynomial_fit
        yield digits_mlp, digits_cnn, polynomial_fit
    finally:
        sys.path.remove(EXAMPLES)


@pytest.mark.parametrize("name,epochs", [("digits_mlp", 10), ("digits_cnn", 15)])
def test_digits_accuracy_median_of_three_seeds(examples, name, epochs, tmp_path):
    module = {"digits_mlp": examples[0], "digits_cnn": examples[1]}[name]
    accs = [module.main(["--epochs", str(epochs), "--seed", str(seed), "--quiet",
                         "--checkpoint", str(tmp_path / f"{seed}.pt")])
            for seed in range(3)]
    assert statistics.median(accs) >= 0.97, accs
    assert os.path.exists(tmp_path / "0.pt")


def test_digits_script_prints_progress_and_accuracy():
    pytest.importorskip("sklearn")
    out = subprocess.run([sys.executable, os.path.join(EXAMPLES, "digits_mlp.py"),
                          "--epochs", "2"], capture_output=True, text=True, check=True,
                         timeout=120).stdout
    assert "epoch   2/2 [########################] 45/45  loss" in out
    assert "acc " in out and "test accuracy" in out


def test_polynomial_fit_loss_drops(examples):
    (raw_first, raw_last), (nn_first, nn_last) = examples[2].main(
        ["--steps", "1000", "--quiet"])
    assert raw_last < raw_first / 10 and raw_last < 100
    assert nn_last < nn_first / 10 and nn_last < 100


def test_dask_logistic_regression_matches_numpy_on_a_local_cluster():
    """The Dask example end to end, as a user runs it, on a small LocalCluster: the fit
    runs (one data scan per closure evaluation) and its --check fit agrees with the
    NumPy backend."""
    pytest.importorskip("distributed")
    out = subprocess.run([sys.executable, os.path.join(EXAMPLES, "dask_logistic_regression.py"),
                          "--rows", "40000", "--chunk", "10000", "--iters", "5", "--check"],
                         capture_output=True, text=True, check=True, timeout=300).stdout
    assert "closure evaluations (one data scan each)" in out
    diff = float(re.search(r"weights differ by at most (\S+)", out).group(1))
    assert diff < 1e-9, out


def test_per_sample_gradients_example_learns():
    """vmap's two recipes end to end: private SGD on per-sample clipped gradients (which
    equal a loop of grad) and an ensemble trained with one vmap over a meta base model."""
    sys.path.insert(0, EXAMPLES)
    try:
        import per_sample_gradients
    finally:
        sys.path.remove(EXAMPLES)
    acc, worst, accs = per_sample_gradients.main(["--steps", "150", "--quiet"])
    assert acc > 0.85 and worst < 1e-5
    assert len(accs) == 5 and min(accs) > 0.85


@pytest.mark.parametrize("name", ["digits_mlp", "digits_cnn"])
def test_digits_compiled_equals_eager(examples, name):
    """--compile (model.compile()) trains to the same accuracy, bit for bit."""
    module = {"digits_mlp": examples[0], "digits_cnn": examples[1]}[name]
    args = ["--epochs", "2", "--seed", "1", "--quiet"]
    assert module.main(args + ["--compile"]) == module.main(args)


def test_polynomial_fit_compiled_equals_eager(examples):
    args = ["--steps", "300", "--quiet"]
    assert examples[2].main(args + ["--compile"]) == examples[2].main(args)
