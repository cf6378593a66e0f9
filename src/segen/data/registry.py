"""One registry of named data components (segmentation formats, GAN layouts): a decorator and a lookup by name.

An unknown name fails with the list of valid ones. The modules that register the built-in components
are imported by `load` on the first lookup, so that importing the registry alone is enough.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

from segen.errors import SegenError


class Named(Protocol):
    """Anything registered: it has a `name`."""

    @property
    def name(self) -> str: ...


T = TypeVar("T", bound=Named)


class Registry(Generic[T]):
    """Instances of one family by name.

    Args:
        what: what the family is called in messages ("format", "GAN data layout").
        load: imports the modules that register the built-in members.
        order: the sort key of a member in `names` (and so in detection order); by name when None.
        error: the error type of an unknown name.
    """

    def __init__(self, what: str, load: Callable[[], None], order: Callable[[T], Any] | None = None,
                 error: type[SegenError] = SegenError) -> None:
        self.what = what
        self.members: dict[str, T] = {}
        self._load = load
        self._order = order
        self._error = error

    def register(self, factory: Callable[[], T]) -> Callable[[], T]:
        """Class decorator: register an instance of the class under its `name`."""
        instance = factory()
        if instance.name in self.members:
            raise ValueError(f"{self.what} {instance.name!r} is already registered")
        self.members[instance.name] = instance
        return factory

    def names(self) -> list[str]:
        """The registered names, in `order`."""
        self._load()
        order = self._order
        return sorted(self.members, key=lambda n: (order(self.members[n]), n) if order is not None else (0, n))

    def get(self, name: str) -> T:
        """The member `name`; an unknown name raises the registry's error listing the valid ones (and 'auto')."""
        self._load()
        if name not in self.members:
            raise self._error(f"unknown {self.what} {name!r}; valid: auto, {', '.join(self.names())}")
        return self.members[name]

    def all(self) -> list[T]:
        """The registered members, in `order`."""
        return [self.members[name] for name in self.names()]
