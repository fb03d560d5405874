"""Every shipped example config trains to its stated held-out accuracy with its fixed seed.

The runs go through the library entry point ``nnctl.train.trainer.train`` in-process (the CLI's
start-up is tested in test_cli_train.py), and the numbers are read back from summary.json exactly
as a user would read them. XOR has no validation split: its figure is the training accuracy.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nnctl.train.trainer import train

ROOT = Path(__file__).resolve().parents[1]

# config -> (split read from summary.json final.<split>.accuracy, minimum accuracy)
EXPECTED = {
    "xor": ("train", 1.0),
    "iris": ("val", 0.93),
    "spirals": ("val", 0.97),
    "digits-mlp": ("val", 0.95),
    "digits-cnn": ("val", 0.97),
    "penguins": ("val", 0.95),
    "reviews-text": ("val", 0.95),
    "digits-images": ("val", 0.95),
    "digits-resnet": ("val", 0.98),
    "digits-lstm": ("val", 0.95),
    "digits-transformer": ("val", 0.95),
    "multi-input": ("val", 0.95),     # as good as the single-input digits-mlp
}


def _overrides(name: str, tmp_path: Path) -> list[str]:
    """digits-images trains from a folder of PNG files that the test writes from the digits data."""
    if name != "digits-images":
        return []
    import sys
    sys.path.insert(0, str(ROOT / "datasets"))
    from make_digits_images import write_digits_images
    write_digits_images(tmp_path / "png")
    return [f"data.train.images={tmp_path / 'png'}"]


def test_every_shipped_config_has_an_expectation():
    assert sorted(p.stem for p in (ROOT / "configs").glob("*.yaml")) == sorted(EXPECTED)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_reaches_its_accuracy(name, tmp_path):
    split, minimum = EXPECTED[name]
    run_dir = tmp_path / name
    res = train(ROOT / "configs" / f"{name}.yaml", run_dir=run_dir, quiet=True, overrides=_overrides(name, tmp_path))
    assert res.status == "completed"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed"
    assert summary["steps"] == summary["total_steps"]
    if split == "train":
        assert "val" not in summary["final"]
    acc = summary["final"][split]["accuracy"]
    assert acc >= minimum, f"{name}: final.{split}.accuracy {acc:.4f} < {minimum}"
