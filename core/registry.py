"""Name → builder registries (timm's ``create_model`` / ``list_models`` idea).

A backbone, dataset, head or recipe is one ``@REGISTRY.register("name", "one-line description")``
entry; the CLI's ``choices`` and ``--help``, and the app's menus, are generated from the registry,
so nobody spells the list twice.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["Registry", "Entry"]

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    name: str
    description: str
    value: T


class Registry(Generic[T]):
    """An ordered mapping name → (value, description); iteration follows registration order."""

    def __init__(self, kind: str):
        self.kind = kind  # "backbone", "dataset", … (used in error messages)
        self._entries: dict[str, Entry[T]] = {}

    def register(self, name: str, description: str) -> Callable[[T], T]:
        """Decorator: ``@BACKBONES.register("resnet18", "ResNet-18, ImageNet stem")``."""
        def add(value: T) -> T:
            self.add(name, description, value)
            return value
        return add

    def add(self, name: str, description: str, value: T) -> None:
        if name in self._entries:
            raise ValueError(f"{self.kind} '{name}' is registered twice")
        self._entries[name] = Entry(name, description, value)

    def get(self, name: str) -> T:
        try:
            return self._entries[name].value
        except KeyError:
            raise KeyError(f"unknown {self.kind} '{name}'; choose one of: {', '.join(self._entries)}") from None

    def describe(self, name: str) -> str:
        return self._entries[name].description

    def names(self) -> list[str]:
        return list(self._entries)

    def help(self) -> str:
        """'name: description' lines, for argparse help and the app's help texts."""
        return "\n".join(f"{e.name}: {e.description}" for e in self._entries.values())

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)
