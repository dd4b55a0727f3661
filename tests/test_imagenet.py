"""Env2 ImageNet end to end on a tiny fixture: torchvision's layout, a tiny network in place of
ResNet-101, and the chain the stages run (load -> benign sets -> craft -> costs -> detectors, BL4).

The fixture is what torchvision's ``ImageNet`` leaves under the root after its first use:
``meta.bin`` (parsed from the devkit: wnid -> class names, val labels) and
``val/<wnid>/ILSVRC2012_val_<8 digits>.PNG``. Every image is one flat colour whose class channel
stands out (after the ImageNet normalisation) by a known margin; the tiny network classifies by
the normalised channel means, so its decisions and the attacks' effects are predictable.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from a2d.attacks.crafting import CraftPlan, CraftProtocol, craft_sets
from a2d.attacks.fgm import FGM
from a2d.baselines.dissector import RESNET_SNAPSHOTS, Dissector
from a2d.config import craft_attacks, load_params, target_config
from a2d.costs.settings import target_cost_attack_specs
from a2d.costs.suite import CostSuite
from a2d.costs.tables import measure_sets, read_cost_tables
from a2d.data import first_correct, load_split
from a2d.data.imagenet import ImageNetImages
from a2d.data.sets import list_sets, load_sets
from a2d.detectors.roc import aurocs_against_benign
from a2d.detectors.zscore import ZScoreDetector
from a2d.errors import DataError
from a2d.models import ClassifierWrapper, build_network, load_pretrained
from a2d.training.trainer import accuracy
from a2d.utils.io import sha256_file

pytestmark = pytest.mark.usefixtures("one_torch_thread")

WNIDS = ("n01440764", "n01443537", "n01484850")
N_IMAGES = 18
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def _label(number: int) -> int:
    return number % len(WNIDS)


def _margin(number: int) -> float:
    """How far (in normalised units) the class channel stands above the others: 0.04 .. 0.55."""
    return 0.04 + 0.03 * number


def _write_imagenet(root: Path) -> None:
    """torchvision's ImageNet layout after its first use: meta.bin + val/<wnid>/*.PNG."""
    names = {wnid: (f"class {i}",) for i, wnid in enumerate(WNIDS)}
    labels = [WNIDS[_label(k)] for k in range(1, N_IMAGES + 1)]
    torch.save((names, labels), root / "meta.bin")
    for k in range(1, N_IMAGES + 1):
        z = np.zeros(3)
        z[_label(k)] = _margin(k)
        pixel = np.clip(np.array(MEAN) + np.array(STD) * z, 0, 1)
        image = np.broadcast_to(np.round(pixel * 255).astype(np.uint8), (20, 24, 3))
        folder = root / "val" / WNIDS[_label(k)]
        folder.mkdir(parents=True, exist_ok=True)
        # written in reverse class order of the challenge's file numbers: a folder walk and the
        # challenge order differ
        Image.fromarray(np.ascontiguousarray(image)).save(folder / f"ILSVRC2012_val_{k:08d}.PNG")


class TinyImageNetNet(nn.Module):
    """ResNet-like names (layer1, layer2, fc) so Dissector snapshots by name; classifies by the
    normalised channel means (3 classes)."""

    def __init__(self) -> None:
        super().__init__()
        self.layer1 = nn.AvgPool2d(8)  # 224 -> 28
        self.layer2 = nn.AvgPool2d(4)  # 28 -> 7
        self.fc = nn.Linear(3, 3)
        with torch.no_grad():
            self.fc.weight.copy_(20 * torch.eye(3))
            self.fc.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.layer2(self.layer1(x)).mean((2, 3)))


@pytest.fixture(scope="module")
def imagenet_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("imagenet")
    _write_imagenet(root)
    return root


@pytest.fixture(scope="module")
def model() -> ClassifierWrapper:
    """The tiny network wrapped as the ImageNet target is (normalisation inside)."""
    params = load_params()
    cfg, data = target_config(params, "imagenet_resnet101"), params.datasets["imagenet"]
    assert cfg.normalize and tuple(data.mean) == MEAN and tuple(data.std) == STD
    return ClassifierWrapper(TinyImageNetNet(), mean=data.mean, std=data.std).eval()


# --- data -------------------------------------------------------------------------------------


def test_val_loads_lazily_in_the_challenge_order(imagenet_root: Path) -> None:
    split = load_split("ImageNet", imagenet_root, train=False)
    assert isinstance(split.x, ImageNetImages) and len(split) == N_IMAGES
    assert split.x.shape == (N_IMAGES, 3, 224, 224)
    # ILSVRC2012_val_00000001 first, whatever folder it sits in
    assert split.y.tolist() == [_label(k) for k in range(1, N_IMAGES + 1)]
    assert split.indices.tolist() == list(range(N_IMAGES))
    batch = split.x[2:5]
    assert batch.shape == (3, 3, 224, 224) and batch.dtype == torch.float32
    assert 0 <= float(batch.min()) and float(batch.max()) <= 1
    torch.testing.assert_close(split.x[torch.tensor([3])][0], split.x[3])
    assert split.x[torch.zeros(N_IMAGES, dtype=torch.bool)].shape == (0, 3, 224, 224)
    limited = load_split("ImageNet", imagenet_root, train=False, limit=4)
    assert limited.y.tolist() == split.y[:4].tolist()


def test_missing_imagenet_names_the_layout(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"ILSVRC2012_devkit_t12.tar.gz .*meta.bin"):
        load_split("ImageNet", tmp_path, train=False)


# --- model ------------------------------------------------------------------------------------


def test_resnet101_is_torchvisions_with_dissectors_snapshots() -> None:
    with torch.device("meta"):  # no memory, no initialisation, and never a download
        net = build_network("imagenet_resnet101")
    modules = dict(net.named_modules())
    assert all(name in modules for name in RESNET_SNAPSHOTS)
    assert sum(p.numel() for p in net.parameters()) == 44_549_160  # torchvision's ResNet-101
    assert modules["fc"].out_features == 1000


def test_weights_come_from_the_users_file_checked_by_hash_prefix(tmp_path: Path) -> None:
    source = TinyImageNetNet()
    buffer = io.BytesIO()
    torch.save(source.state_dict(), buffer)
    path = tmp_path / "tiny.pth"
    path.write_bytes(buffer.getvalue())
    prefix = sha256_file(path)[:8]  # torchvision's file names carry this much
    tiny = TinyImageNetNet()
    target = ClassifierWrapper(tiny)
    with torch.no_grad():
        tiny.fc.weight.zero_()
    load_pretrained(target, path, sha256=prefix)
    torch.testing.assert_close(tiny.fc.weight, source.fc.weight)
    with pytest.raises(DataError, match="do not match pretrained_sha256"):
        load_pretrained(target, path, sha256="00000000")
    with pytest.raises(DataError, match="too short"):
        load_pretrained(target, path, sha256="63fe")


def test_imagenet_crafting_and_cost_settings_are_configured() -> None:
    params = load_params()
    attacks = craft_attacks(params, "imagenet_resnet101")
    assert attacks["fgm"] == {"epsilon": 0.016, "units": "rms"}
    assert set(attacks) == {"fgm", "deepfool", "cw"}
    specs = target_cost_attack_specs(params, "imagenet_resnet101", ["bim", "bim2", "jsma", "dba"])
    assert specs["bim"] == {"epsilon": 0.03, "max_iterations": 500}
    assert "imagenet_resnet101" not in params.targets  # needs ImageNet and the weights file


def test_fgm_rms_step_size() -> None:
    """foolbox 1.x/2.x GradientAttack: the step's root mean square is epsilon x range."""
    torch.manual_seed(0)
    net = ClassifierWrapper(nn.Sequential(nn.Flatten(), nn.Linear(12, 3)))
    x = torch.full((4, 3, 2, 2), 0.5)
    result = FGM(epsilon=0.016)(net, x, torch.tensor([0, 1, 2, 0]))
    rms = (result.adversarial - x).flatten(1).pow(2).mean(1).sqrt()
    torch.testing.assert_close(rms, torch.full((4,), 0.016), rtol=1e-4, atol=1e-6)
    l2 = FGM(epsilon=0.5, units="l2")(net, x, torch.tensor([0, 1, 2, 0]))
    norms = torch.linalg.vector_norm((l2.adversarial - x).flatten(1), dim=1)
    torch.testing.assert_close(norms, torch.full((4,), 0.5), rtol=1e-4, atol=1e-6)


# --- the chain --------------------------------------------------------------------------------


def test_the_imagenet_chain_runs_end_to_end(
    imagenet_root: Path, model: ClassifierWrapper, tmp_path: Path
) -> None:
    params = load_params()
    device = torch.device("cpu")
    test = load_split("ImageNet", imagenet_root, train=False)  # craft stage
    assert accuracy(model, test, batch_size=8, device=device) == 1.0  # model stage's pass
    assert first_correct(model, test, 3).indices.tolist() == [0, 1, 2]

    # craft: benign sets (6 + 6) and BL4's FGSM from config, Env2's protocol
    weights = tmp_path / "tiny.pt"
    torch.save(model.net.state_dict(), weights)
    plan = CraftPlan(
        n_eval=6,
        n_train=6,
        attacks={"fgm": craft_attacks(params, "imagenet_resnet101")["fgm"]},
        seed=params.seed,
        batch_size=4,
        protocol=CraftProtocol(successful_only=True),
    )
    sets_dir = tmp_path / "craft"
    summaries = craft_sets(
        model, test, plan, out=sets_dir, model_hash=sha256_file(weights), device=device
    )
    assert set(summaries) == {"fgm_eval", "fgm_train"}
    eval_sets = load_sets(sets_dir, "eval")
    fgm = eval_sets["fgm"]
    # the RMS step of 0.016 moves each normalised channel by about 0.07: the images with the
    # smallest margins flip, the others do not
    assert fgm.success is not None and 0 < int(fgm.success.sum()) < len(fgm)

    # costs: BIM_d with ImageNet's configured settings, through the costs stage's path; the
    # cap is cut from 500 to 25 steps (the step grows to eps / 25) to keep the test short
    hp = target_cost_attack_specs(params, "imagenet_resnet101", ["bim"])["bim"]
    assert hp == {"epsilon": 0.03, "max_iterations": 500}
    out = tmp_path / "costs" / "bim"
    measured = measure_sets(
        CostSuite(model, {"bim": {**hp, "max_iterations": 25}}, batch_size=8),
        list_sets(sets_dir),
        out,
        model_hash=sha256_file(weights),
    )
    assert set(measured) == {"benign_eval", "fgm_eval", "benign_train", "fgm_train"}
    costs = read_cost_tables(out, split="eval")
    benign, adversarial = costs["benign"]["cost"], costs["fgm"]["cost"]
    assert benign.between(0, 25).all() and (benign > 0).any()
    # an input with a smaller margin is cheaper to attack again
    assert adversarial.mean() < benign.mean()

    # detectors: the AUROC of -cost (the costs stage's metric), and the Z-score detector
    # fitted on the benign training pool's costs
    aurocs = aurocs_against_benign({name: frame["cost"] for name, (frame, _) in measured.items()})
    assert aurocs["fgm_eval"] > 0.5
    train_costs = read_cost_tables(out, split="train")
    benign_train = train_costs["benign"]["cost"].to_numpy()
    detector = ZScoreDetector(transform="none").fit(benign_train)  # 6 costs: no normality test
    assert detector.predict(adversarial.to_numpy()).shape == (len(adversarial),)

    # BL4: Dissector's heads on the snapshots, scored on benign vs adversarial
    train_sets = load_sets(sets_dir, "train")
    dissector = Dissector(model, layers=["layer1", "layer2"], epochs=30, lr=0.05, seed=0)
    dissector.fit(train_sets["benign"].x, train_sets["benign"].labels)
    probs = dissector.sub_model_probabilities(eval_sets["benign"].x)
    assert probs.shape == (3, 6, 3)
    assert 0.0 <= dissector.auroc(eval_sets["benign"].x, fgm.x) <= 1.0
