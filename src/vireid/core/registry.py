"""One registration style for everything vireid builds by name: a small decorator registry.

Each kind of thing (models, expansion modules, datasets, evaluation protocols, objective terms)
has one :class:`Registry`, and each class registers itself where it is defined, as timm's
``@register_model`` does::

    @MODELS.register("deen", architecture="DEEN")
    class DEEN(ReIDModel): ...

A package imports its own modules when it is imported (``vireid.models`` imports every model), so
the built-in entries exist as soon as their registry does; there is no lazy registration.
Plugins (:mod:`vireid.core.plugins`) register the same way from the user's own package.  A name
that is not found loads the installed plugins once (entry point group ``vireid.plugins``) and is
then a one-line :class:`~vireid.errors.ConfigError` listing the known names.  Each entry records
the plugin that registered it (``None`` for vireid's own), which checkpoints store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Generic, Iterator, TypeVar

from vireid.core import plugins
from vireid.errors import ConfigError, PluginError

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    """A registered object: its ``name``, the ``plugin`` module that registered it (``None``:
    vireid itself) and the ``info`` given at registration (e.g. a model's ``architecture``)."""

    name: str
    obj: T
    plugin: str | None = None
    info: dict[str, Any] = field(default_factory=dict)


class Registry(Generic[T]):
    """``name -> object`` for one kind of thing (``kind`` names it in messages).

    ``check(entry)`` runs at registration (e.g. that a class follows its contract), so a plugin
    author learns about a mistake when the plugin is imported, not when a config names it.
    """

    def __init__(self, kind: str, *, check: Callable[[Entry[T]], None] | None = None, lower: bool = False) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}
        self._check = check
        self._lower = lower

    def _key(self, name: str) -> str:
        return name.lower() if self._lower and isinstance(name, str) else name

    def register(self, name: str | None = None, **info: Any) -> Callable[[T], T]:
        """Decorator: register the decorated object under ``name`` (default: its ``name`` attribute)."""

        def deco(obj: T) -> T:
            self.add(name if name is not None else obj.name, obj, **info)
            return obj

        return deco

    def add(self, name: str, obj: T, **info: Any) -> Entry[T]:
        """Register ``obj`` (an instance, e.g. an :class:`~vireid.evaluation.protocols.EvalProtocol`)."""
        if not isinstance(name, str) or not name.isidentifier():
            raise PluginError(f"{self.kind} name {name!r} must be an identifier (letters, digits, _)")
        key = self._key(name)
        old = self._entries.get(key)
        if old is not None and old.obj is not obj:
            raise PluginError(f"{self.kind} {name!r} is already registered (by {old.plugin or 'vireid'})")
        entry = Entry(key, obj, plugins.registering(getattr(obj, "__module__", None)), dict(info))
        if self._check is not None:
            self._check(entry)
        self._entries[key] = entry
        return entry

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __contains__(self, name: object) -> bool:
        return self.find(name) is not None

    def find(self, name: object) -> Entry[T] | None:
        """The entry called ``name``, loading the installed plugins once if it is not known; else None."""
        if not isinstance(name, str):
            return None
        key = self._key(name)
        if key not in self._entries:
            plugins.load_entry_points()
        return self._entries.get(key)

    def entry(self, name: object) -> Entry[T]:
        found = self.find(name)
        if found is None:
            raise ConfigError(f"unknown {self.kind} {name!r}; expected one of {', '.join(self.names())}")
        return found

    def get(self, name: object) -> T:
        """The object called ``name``; a :class:`ConfigError` listing the known names otherwise."""
        return self.entry(name).obj

    def names(self) -> list[str]:
        """Every registered name (installed plugins included)."""
        plugins.load_entry_points()
        return list(self._entries)

    def entries(self) -> Iterator[Entry[T]]:
        plugins.load_entry_points()
        return iter(list(self._entries.values()))

    def entry_of(self, obj: object) -> Entry[T] | None:
        """The entry whose object is ``obj`` (no plugin loading: ``obj`` exists already)."""
        for e in self._entries.values():
            if e.obj is obj:
                return e
        return None

    def where(self, **info: Any) -> Entry[T] | None:
        """The entry whose registration ``info`` has these values (e.g. ``architecture="DEEN"``), among
        those registered so far (no plugin is loaded: a registration's check asks it)."""
        for e in list(self._entries.values()):
            if all(e.info.get(k) == v for k, v in info.items()):
                return e
        return None

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {list(self._entries)})"


#: every registry, by kind (what a checkpoint's plugin record is looked up in)
ALL: dict[str, Registry] = {}


def registry(kind: str, **kwargs: Any) -> Registry:
    """The one registry of ``kind`` (created on first use)."""
    if kind not in ALL:
        ALL[kind] = Registry(kind, **kwargs)
    return ALL[kind]


def plugin_of(obj: object) -> str | None:
    """The plugin that registered ``obj`` in any registry (``None``: vireid's own or unregistered)."""
    for reg in ALL.values():
        e = reg.entry_of(obj)
        if e is not None:
            return e.plugin
    return None
