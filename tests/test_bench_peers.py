"""The peer benchmarks compare like with like: the claims that make their timings meaningful.

benchmarks/costs_peers.py: torchattacks and foolbox 3, driven as a user would to find the first
iteration at which BIM succeeds, give our BIM_d costs example by example.
benchmarks/clever_peers.py: ART's classifier differentiates the very function ours scores, and
ART's CLEVER score lands within our own seed-to-seed spread.
Tiny models and inputs; skipped without the optional ``bench`` extra (``pip install -e .[bench]``).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from a2d.costs import LinfBIMCost, make_cost_attack
from a2d.models.wrapper import ClassifierWrapper
from a2d.robustness.scored import scored_model
from benchmarks import clever_peers, costs_peers


@pytest.fixture(scope="module")
def tiny() -> tuple[ClassifierWrapper, torch.Tensor]:
    """A random 4-class CNN on 1 x 8 x 8 inputs, and ten inputs in [0, 1]."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 4))
    model = ClassifierWrapper(net, bounds=(0.0, 1.0)).eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model, torch.rand(10, 1, 8, 8)


@pytest.mark.parametrize(
    "hp",
    [
        # the paper's law, step = epsilon / cap: the ball never binds; costs 0 to 9, two failures
        {"epsilon": 0.1, "max_iterations": 12},
        # a larger step: the ball binds after 4 updates and failures stall at its corner
        {"epsilon": 0.08, "step": 0.02, "max_iterations": 12},
    ],
)
def test_peer_bim_loops_give_our_costs_example_by_example(
    tiny: tuple[ClassifierWrapper, torch.Tensor], one_torch_thread: None, hp: dict
) -> None:
    pytest.importorskip("torchattacks")
    model, x = tiny
    attack = make_cost_attack("bim", **hp)
    assert isinstance(attack, LinfBIMCost)
    spec = costs_peers.BIMSpec.of(attack)
    ours = costs_peers.ours(model, x, hp, batch_size=4)
    assert 0 in ours and hp["max_iterations"] in ours and len(set(ours)) >= 4  # a real mix
    peers = {
        "torchattacks_loop": costs_peers.torchattacks_loop(model, x, spec),
        "foolbox_loop": costs_peers.foolbox_loop(model, x, spec),
        "torchattacks_batched": costs_peers.torchattacks_batched(model, x, spec, batch_size=3),
        "torchattacks_rerun": costs_peers.torchattacks_rerun(model, x, spec),
    }
    for name, costs in peers.items():
        assert costs == ours, name
        assert costs_peers.agreement(ours, costs) == {
            "n": len(x),
            "equal": len(x),
            "fraction_equal": 1.0,
            "max_abs_diff": 0,
        }


def test_peer_bim_refuses_a_step_beyond_its_ball() -> None:
    spec = costs_peers.BIMSpec(epsilon=0.01, step=0.02, max_iterations=3, bounds=(0.0, 1.0))
    with pytest.raises(ValueError, match="step"):
        spec.check()


@pytest.mark.parametrize(("output", "tolerance"), [("logits", 1e-5), ("probabilities", 1e-4)])
def test_art_differentiates_the_function_ours_scores(
    tiny: tuple[ClassifierWrapper, torch.Tensor],
    one_torch_thread: None,
    output: str,
    tolerance: float,
) -> None:
    pytest.importorskip("art")
    model, x = tiny
    scored = scored_model(model, output)
    classifier = clever_peers.art_classifier(scored, input_shape=(1, 8, 8), nb_classes=4)
    check = clever_peers.same_function(scored, classifier, x[:1], radius=1.0)
    assert check["outputs_max_abs_diff"] <= 1e-6
    assert check["gradient_norms_max_rel_diff"] <= tolerance


def test_art_clever_scores_are_within_our_seed_noise(
    tiny: tuple[ClassifierWrapper, torch.Tensor], one_torch_thread: None
) -> None:
    pytest.importorskip("art")
    model, x = tiny
    classifier = clever_peers.art_classifier(model, input_shape=(1, 8, 8), nb_classes=4)
    sampling = {"nb_batches": 10, "batch_size": 8, "radius": 1.0}
    x = x[2:3]  # one of ART's four runs on it diverges (score ~1e-7): medians still agree
    ours = [
        clever_peers.ours_score(
            model, x, seed=s, sampling="uniform", cap_at_radius=True, chunk_size=80, **sampling
        )[0]
        for s in range(4)
    ]
    art = [
        clever_peers.watched_art_score(classifier, x, seed=s, pool_factor=10, **sampling)[0]
        for s in range(4)
    ]
    result = clever_peers.compare(ours, art)
    assert result["within_noise"], (ours, art, result)
