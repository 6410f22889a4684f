"""Result objects (dataclasses) in the lake as JSON + Parquet + .npy, never pickle.

``save_object(obj, where)`` walks a dataclass: plain values go to ``object.json``, every polars
DataFrame to its own Parquet object and every numpy array to its own ``.npy`` (``allow_pickle=False``);
nested dataclasses, tuples, dicts with non-string keys, NaN and infinities are tagged in the JSON.
``load_object(where)`` builds it back. A new field of a result dataclass needs no reader of its
own. Loading runs no code from the file: a tagged class must be a dataclass defined in
``lq_engine`` (anything else is refused), built from its fields by its own constructor.

Each save writes a new generation (``<where>/<gen>/...``) and then ``<where>/object.json`` naming
it, so a reader sees the old object or the new one, never a mix; older generations are then
deleted. ``meta`` (small JSON, e.g. the stage contract: dataset hash, strategy version) is stored
in the pointer and read with ``load_meta`` without loading the object.
"""

from __future__ import annotations

import dataclasses
import importlib
import io
import json
import math
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from lq_engine.data.store import Location, as_location
from lq_engine.errors import LQError

POINTER = "object.json"
FORMAT = 1
ALLOWED_PREFIX = "lq_engine."


class ObjectFormatError(LQError, ValueError):
    """A stored object that cannot be read back (names the object and the problem)."""


class _Writer:
    def __init__(self, loc: Location):
        self.loc, self.n = loc, 0

    def blob(self, suffix: str, data: bytes) -> str:
        self.n += 1
        name = f"{self.n:04d}{suffix}"
        self.loc.store.write_bytes((self.loc / name).key, data)
        return name

    def encode(self, x: Any) -> Any:
        if x is None or isinstance(x, (bool, str, int)):
            return x
        if isinstance(x, float):
            return x if math.isfinite(x) else {"__float__": repr(x)}
        if isinstance(x, np.generic):
            return self.encode(x.item())
        if isinstance(x, pl.DataFrame):
            buf = io.BytesIO()
            x.write_parquet(buf, compression="zstd")
            return {"__frame__": self.blob(".parquet", buf.getvalue())}
        if isinstance(x, np.ndarray):
            if x.dtype == object:
                raise ObjectFormatError(f"cannot store an object array ({x.shape}) without pickle")
            buf = io.BytesIO()
            np.save(buf, np.ascontiguousarray(x), allow_pickle=False)
            return {"__array__": self.blob(".npy", buf.getvalue())}
        if dataclasses.is_dataclass(x) and not isinstance(x, type):
            cls = type(x)
            return {"__dataclass__": f"{cls.__module__}:{cls.__qualname__}",
                    "fields": {f.name: self.encode(getattr(x, f.name)) for f in dataclasses.fields(x)}}
        if isinstance(x, tuple):
            return {"__tuple__": [self.encode(v) for v in x]}
        if isinstance(x, list):
            return [self.encode(v) for v in x]
        if isinstance(x, dict):
            if all(isinstance(k, str) for k in x) and not any(k.startswith("__") for k in x):
                return {k: self.encode(v) for k, v in x.items()}
            return {"__items__": [[self.encode(k), self.encode(v)] for k, v in x.items()]}
        raise ObjectFormatError(f"cannot store a {type(x).__module__}.{type(x).__qualname__} (not a dataclass, "
                                "frame, array or plain value)")


class _Reader:
    def __init__(self, loc: Location):
        self.loc = loc

    def blob(self, name: str) -> bytes:
        if "/" in name or name.startswith("."):
            raise ObjectFormatError(f"{self.loc}: bad blob name {name!r}")
        return self.loc.store.read_bytes((self.loc / name).key)

    def decode(self, x: Any) -> Any:
        if isinstance(x, list):
            return [self.decode(v) for v in x]
        if not isinstance(x, dict):
            return x
        if "__float__" in x:
            return float(x["__float__"])
        if "__frame__" in x:
            return pl.read_parquet(io.BytesIO(self.blob(x["__frame__"])))
        if "__array__" in x:
            return np.load(io.BytesIO(self.blob(x["__array__"])), allow_pickle=False)
        if "__tuple__" in x:
            return tuple(self.decode(v) for v in x["__tuple__"])
        if "__items__" in x:
            return {_hashable(self.decode(k)): self.decode(v) for k, v in x["__items__"]}
        if "__dataclass__" in x:
            cls = _dataclass(x["__dataclass__"], self.loc)
            values = {k: self.decode(v) for k, v in x["fields"].items()}
            init = {f.name for f in dataclasses.fields(cls) if f.init}
            obj = cls(**{k: v for k, v in values.items() if k in init})
            for k, v in values.items():
                if k not in init:
                    object.__setattr__(obj, k, v)
            return obj
        return {k: self.decode(v) for k, v in x.items()}


def _hashable(k: Any) -> Any:
    return tuple(_hashable(v) for v in k) if isinstance(k, list) else k


def _dataclass(name: str, loc: Location) -> type:
    module, _, qual = name.partition(":")
    if not module.startswith(ALLOWED_PREFIX):
        raise ObjectFormatError(f"{loc}: refusing to build {name} (only lq_engine dataclasses are stored)")
    try:
        obj: Any = importlib.import_module(module)
        for part in qual.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        raise ObjectFormatError(f"{loc}: {name} no longer exists (written by another version: rerun the step)"
                                ) from None
    if not (isinstance(obj, type) and dataclasses.is_dataclass(obj)):
        raise ObjectFormatError(f"{loc}: {name} is not a dataclass")
    return obj


def save_object(obj: Any, where: Location | Path, meta: dict | None = None) -> None:
    """Store ``obj`` (a dataclass) at ``where`` as a new generation, then point to it."""
    loc = as_location(where)
    old = _pointer(loc)
    gen = uuid.uuid4().hex[:16]
    body = {"format": FORMAT, "object": _Writer(loc / gen).encode(obj)}
    loc.store.write_bytes((loc / gen / "object.json").key, json.dumps(body, allow_nan=False).encode())
    pointer = {"format": FORMAT, "generation": gen, "meta": meta or {}}
    loc.store.write_bytes((loc / POINTER).key, json.dumps(pointer, allow_nan=False, default=_plain).encode())
    if old and old.get("generation") not in (None, gen):
        loc.store.delete_prefix((loc / old["generation"]).key)


def _plain(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    raise TypeError(f"not JSON serializable: {type(x).__name__}")


def _pointer(loc: Location) -> dict | None:
    try:
        return json.loads(loc.store.read_bytes((loc / POINTER).key))
    except FileNotFoundError:
        return None
    except ValueError as e:
        raise ObjectFormatError(f"{loc / POINTER}: unreadable ({e})") from None


def load_meta(where: Location | Path) -> dict:
    """The ``meta`` saved with the object (FileNotFoundError if there is none)."""
    loc = as_location(where)
    p = _pointer(loc)
    if p is None:
        raise FileNotFoundError(f"{loc}: nothing stored here")
    return p.get("meta", {})


def load_object(where: Location | Path) -> Any:
    loc = as_location(where)
    p = _pointer(loc)
    if p is None:
        raise FileNotFoundError(f"{loc}: nothing stored here")
    if p.get("format") != FORMAT:
        raise ObjectFormatError(f"{loc}: stored in format {p.get('format')}, not {FORMAT}: rerun the step")
    g = loc / p["generation"]
    try:
        body = json.loads(g.store.read_bytes((g / "object.json").key))
    except ValueError as e:
        raise ObjectFormatError(f"{g / 'object.json'}: unreadable ({e})") from None
    return _Reader(g).decode(body["object"])
