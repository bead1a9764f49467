"""Per-run random number generators.

torch draws initial weights from its process-wide generator, which every thread shares: two runs
started together in the app's threads would interleave their draws (and any other code drawing
from it, e.g. a DataLoader's base seed, would shift them). :func:`own_generator` routes every
random draw made *by the calling thread* to a run's own ``torch.Generator`` instead: a
``TorchFunctionMode`` (thread-local in torch) adds ``generator=`` to each random call that has
none. The global generator is neither read nor advanced, so no lock is needed and other threads
are unaffected.
"""
from __future__ import annotations

import functools
import inspect

import torch
from torch.overrides import TorchFunctionMode

__all__ = ["own_generator", "epoch_generator"]

# In-place samplers are builtins whose signature cannot be inspected; they all take ``generator=``.
_SAMPLERS = frozenset({
    torch.Tensor.uniform_, torch.Tensor.normal_, torch.Tensor.random_, torch.Tensor.bernoulli_,
    torch.Tensor.exponential_, torch.Tensor.geometric_, torch.Tensor.log_normal_, torch.Tensor.cauchy_,
    torch.rand, torch.randn, torch.randint, torch.randperm, torch.normal, torch.bernoulli, torch.multinomial,
    torch.poisson,
})


@functools.lru_cache(maxsize=None)
def _takes_generator(func) -> bool:
    """Whether a Python-level torch function (e.g. ``nn.init.kaiming_normal_``) has a ``generator`` argument."""
    try:
        return "generator" in inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False


class own_generator(TorchFunctionMode):  # noqa: N801 - used as a context manager, like torch's modes
    """``with own_generator(torch.Generator().manual_seed(seed)): model = build(...)``.

    Inside the block, random torch calls of this thread without an explicit generator draw from
    ``generator``. ``nn.init`` functions are themselves overridable, so they receive it whole.
    """

    def __init__(self, generator: torch.Generator):
        super().__init__()
        self.generator = generator

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if kwargs.get("generator") is None and (func in _SAMPLERS or _takes_generator(func)):
            kwargs = {**kwargs, "generator": self.generator}
        return func(*args, **kwargs)


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The generator of epoch ``epoch``'s data order and augmentation: a function of (seed, epoch)
    only, so a resumed run replays the epochs an uninterrupted run would have trained."""
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)
