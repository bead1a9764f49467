"""Shared fixtures: the repo on sys.path, the reference material, small run configs."""
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # shared test inputs (bad_inputs.py)

REFERENCE = ROOT.parent / "shared" / "reference"


@pytest.fixture(scope="session")
def reference() -> Path:
    """../shared/reference (CI has it); tests that need it fail loudly when it is missing."""
    assert REFERENCE.exists(), f"reference material not found at {REFERENCE}"
    return REFERENCE


@pytest.fixture
def tiny_config():
    """A RunConfig that trains in a couple of seconds on CPU."""
    from core import DataConfig, ModelConfig, OptimConfig, RunConfig

    return RunConfig(
        data=DataConfig(train_per_class=12, test_per_class=6, image_size=16, snapshot_size=40),
        model=ModelConfig(width=8),
        optim=OptimConfig(epochs=2, batch_size=16),
        device="cpu",
    )
