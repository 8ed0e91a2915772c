"""One bounded YAML reader for every file the project reads.

A file is read only if it is a regular file of at most :data:`MAX_BYTES`; its YAML is composed by libyaml
where available and turned into plain data by a constructor of our own that refuses what no input needs and
what could exhaust the machine: keys written twice, aliases that expand beyond :data:`MAX_NODES` values or
refer to themselves, nesting deeper than :data:`MAX_DEPTH`, and tags other than YAML's plain types. Dates
are kept as written (``2025-02-30`` stays text), so the month rules of :mod:`.fields` judge them. Time and
memory are linear in the size of the file.

``read_with_extends`` follows a scenario's ``extends:`` chain (at most :data:`MAX_EXTENDS` files) and merges
it, remembering which file wrote each value, so problems name the file a value came from.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import InputError, Problem
from .fields import month_or_none

__all__ = ["MAX_BYTES", "MAX_DEPTH", "MAX_EXTENDS", "MAX_NODES", "Provenance", "merge", "read_mapping",
           "read_with_extends"]

MAX_BYTES = 1 << 20  # 1 MiB: some 30 times the largest shipped scenario
MAX_NODES = 200_000  # values after aliases are expanded
MAX_DEPTH = 64  # sections within sections
MAX_EXTENDS = 16  # files in one extends: chain
_COMPOSER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_SCALARS = yaml.constructor.SafeConstructor()
_TAG = "tag:yaml.org,2002:"
_NUMBER = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)[eE][-+]?[0-9]+$")


class _Refused(Exception):
    def __init__(self, message: str, node: yaml.Node | None = None):
        super().__init__(message)
        self.message = message
        self.node = node


def read_bytes(path: Path, error: type[InputError], what: str) -> bytes:
    """Return the content of the regular file ``path``, refusing folders, devices, pipes and oversized files."""
    file = str(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise error([Problem(file, "", f"file not found; check the path ({what})")]) from None
    except IsADirectoryError:
        raise error([Problem(file, "", "is a folder; give the path of a .yaml file")]) from None
    except OSError as exc:
        raise error([Problem(file, "", f"cannot be read: {exc.strerror or exc}")]) from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise error([Problem(file, "", "is a folder; give the path of a .yaml file")])
        if not stat.S_ISREG(info.st_mode):
            raise error([Problem(file, "", "is not a regular file (a device, pipe or socket); give the path of "
                                 "a .yaml file")])
        if info.st_size > MAX_BYTES:
            raise error([Problem(file, "", f"is {info.st_size / 1e6:.1f} MB; input files are at most "
                                 f"{MAX_BYTES // 1024:,} KB (is this the right file?)")])
        chunks, size = [], 0
        while size <= MAX_BYTES:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > MAX_BYTES:
            raise error([Problem(file, "", f"is larger than {MAX_BYTES // 1024:,} KB, the most an input file may be")])
        return b"".join(chunks)
    except OSError as exc:
        if exc.errno == errno.EISDIR:
            raise error([Problem(file, "", "is a folder; give the path of a .yaml file")]) from None
        raise error([Problem(file, "", f"cannot be read: {exc.strerror or exc}")]) from None
    finally:
        os.close(fd)


def parse_yaml(text: str, file: str, error: type[InputError]) -> Any:
    """Return the plain data of a YAML document, or raise ``error`` saying where and what is wrong."""
    try:
        node = yaml.compose(text, Loader=_COMPOSER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = getattr(exc, "problem", None) or "the text cannot be read as YAML"
        raise error([Problem(file, where, f"not valid YAML: {what}")]) from None
    except RecursionError:
        raise error([Problem(file, "", f"sections are nested more than {MAX_DEPTH} deep")]) from None
    if node is None:
        return None
    try:
        _measure(node)
        return _construct(node, 0)
    except _Refused as exc:
        mark = exc.node.start_mark if exc.node is not None else None
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise error([Problem(file, where, exc.message)]) from None


def _measure(root: yaml.Node) -> None:
    """Refuse a document whose aliases refer to themselves, expand too far, or nest too deep (linear time)."""
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        children = _children(node)
        if finished:
            on_path.discard(key)
            size[key] = 1 + sum(size[id(c)] for c in children)
            depth[key] = 1 + max((depth[id(c)] for c in children), default=0)
            if size[key] > MAX_NODES:
                raise _Refused(f"the file expands to more than {MAX_NODES:,} values (aliases repeated many times?); "
                               "write the values out or use fewer aliases", node)
            if depth[key] > MAX_DEPTH:
                raise _Refused(f"sections are nested more than {MAX_DEPTH} deep", node)
            continue
        if key in size:
            continue
        if key in on_path:
            raise _Refused("an alias refers to the section that contains it, which would never end", node)
        on_path.add(key)
        stack.append((node, True))
        for c in children:
            child = id(c)
            if child in size:
                continue
            if child in on_path:
                raise _Refused("an alias refers to the section that contains it, which would never end", c)
            if isinstance(c, yaml.ScalarNode):  # a leaf: measured at once
                size[child] = depth[child] = 1
            else:
                stack.append((c, False))


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _construct(node: yaml.Node, depth: int) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return _scalar(node)
    if isinstance(node, yaml.SequenceNode):
        if node.tag not in (_TAG + "seq",):
            raise _Refused(f"the tag {node.tag} is not allowed; write a plain list", node)
        return [_construct(child, depth + 1) for child in node.value]
    if node.tag not in (_TAG + "map",):
        raise _Refused(f"the tag {node.tag} is not allowed; write a plain mapping", node)
    out: dict[Any, Any] = {}
    lines: dict[Any, int] = {}
    merged: list[dict[Any, Any]] = []
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.tag == _TAG + "merge":
            sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
            for source in sources:
                value = _construct(source, depth + 1)
                if not isinstance(value, dict):
                    raise _Refused("'<<' merges mappings only; give an alias of a mapping", source)
                merged.append(value)
            continue
        if not isinstance(key_node, yaml.ScalarNode):
            raise _Refused("a key must be a plain name, not a list or mapping", key_node)
        key = _scalar(key_node)
        if key in out:
            raise _Refused(f"key '{key}' is written twice in one mapping (first on line {lines[key] + 1}); keep one",
                           key_node)
        lines[key] = key_node.start_mark.line
        out[key] = _construct(value_node, depth + 1)
    for source in merged:  # explicit keys win, then earlier merged mappings
        for key, value in source.items():
            out.setdefault(key, value)
    return out


def _scalar(node: yaml.ScalarNode) -> Any:
    tag = node.tag
    if tag == _TAG + "str" and not node.style and _NUMBER.match(node.value) and len(node.value) <= 60:
        return float(node.value)  # 1e6 is a number (YAML 1.2), though YAML 1.1 reads it as text
    if tag in (_TAG + "str", _TAG + "timestamp"):
        return node.value  # a date stays as written; the month rules judge it
    if tag == _TAG + "null":
        return None
    if tag == _TAG + "bool":
        return _SCALARS.construct_yaml_bool(node)
    if tag == _TAG + "int":
        if len(node.value) > 40:
            raise _Refused("a number with this many digits is beyond any real input", node)
        return _SCALARS.construct_yaml_int(node)
    if tag == _TAG + "float":
        if len(node.value) > 60:
            raise _Refused("a number with this many digits is beyond any real input", node)
        return _SCALARS.construct_yaml_float(node)
    raise _Refused(f"the tag {tag} is not allowed; write a plain value (text, number, true/false)", node)


def read_mapping(path: str | Path, error: type[InputError], what: str, form: str) -> dict[str, Any]:
    """Return the mapping at the top of the YAML file ``path``.

    ``what`` says where such files live (for "file not found"); ``form`` lists the keys a file of this kind
    starts with (for an empty file or one that is not a mapping). The file's content is never echoed.
    """
    path = Path(path)
    file = str(path)
    raw = read_bytes(path, error, what)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise error([Problem(file, "", "not a text file (UTF-8 YAML expected)")]) from None
    data = parse_yaml(text, file, error)
    if data is None:
        raise error([Problem(file, "", f"file is empty; it needs at least {form}")])
    if not isinstance(data, dict):
        kind = "list" if isinstance(data, list) else "single value"
        raise error([Problem(file, "", f"must be a mapping of keys ({form}), not a {kind}")])
    return data


# --------------------------------------------------------------------------------------------------------------
# extends: chains and where each value was written


Provenance = dict[tuple[Any, ...], tuple[str, tuple[Any, ...]]]
"""Where each value of a merged file was written: merged key path -> (file, key path in that file)."""

YAML_SUFFIXES = (".yaml", ".yml")


def read_with_extends(
    path: Path, error: type[InputError], read: Callable[[Path], dict[str, Any]]
) -> tuple[dict[str, Any], Provenance]:
    """Return the data of ``path`` with what it ``extends:`` merged in, and where each value was written."""
    chain: list[tuple[Path, dict[str, Any]]] = []
    current = path
    while True:
        data = read(current)
        chain.append((current, data))
        parent_ref = data.get("extends")
        if parent_ref is None:
            break
        current = _parent_path(current, parent_ref, [p for p, _ in chain], error)
    root_path, root = chain[-1]
    provenance: Provenance = {}
    record(root, (), (), str(root_path), provenance)
    merged = root
    for child_path, child in reversed(chain[:-1]):
        merged = _merge(merged, child, False, (), _Trace(provenance, str(child_path)))
    return merged, provenance


def _parent_path(path: Path, parent_ref: Any, chain: list[Path], error: type[InputError]) -> Path:
    file = str(path)
    if not isinstance(parent_ref, str) or not parent_ref.strip():
        raise error([Problem(file, "extends", "must be the path of a scenario file, relative to this file's folder",
                             parent_ref, True)])
    parent_path = Path(os.path.normpath(path.parent / parent_ref))
    if parent_path.suffix.lower() not in YAML_SUFFIXES:
        raise error([Problem(file, "extends", "must name a scenario file ending in .yaml or .yml", parent_ref, True)])
    if any(parent_path.resolve() == p.resolve() for p in chain):
        names = " -> ".join(str(p) for p in (*chain, parent_path))
        raise error([Problem(file, "extends", f"circular extends ({names}); a scenario cannot build on itself",
                             parent_ref, True)])
    if len(chain) >= MAX_EXTENDS:
        raise error([Problem(file, "extends", f"the extends: chain is more than {MAX_EXTENDS} files long; "
                             "let a scenario build on one that stands closer to the base")])
    if not parent_path.is_file():
        what = "is a folder, not a scenario file" if parent_path.is_dir() else "does not exist"
        raise error([Problem(file, "extends", f"{parent_path} {what}; give the path of a scenario file, relative "
                             "to this file's folder", parent_ref, True)])
    return parent_path


def record(node: Any, path: tuple[Any, ...], written: tuple[Any, ...], file: str, out: Provenance) -> None:
    """Record that ``file`` wrote ``node`` (at ``written`` in it) and everything below it."""
    stack = [(node, path, written)]
    while stack:
        node, path, written = stack.pop()
        out[path] = (file, written)
        if isinstance(node, dict):
            stack.extend((value, (*path, key), (*written, key)) for key, value in node.items())
        elif isinstance(node, list):
            stack.extend((value, (*path, i), (*written, i)) for i, value in enumerate(node))


def locate(provenance: Provenance, fallback: str) -> Callable[[tuple[Any, ...]], tuple[str, tuple[Any, ...]]]:
    """Return a function mapping a key path of the merged data to (the file that wrote it, its path there)."""

    def where(path: tuple[Any, ...]) -> tuple[str, tuple[Any, ...]]:
        for cut in range(len(path), -1, -1):
            if path[:cut] in provenance:
                file, written = provenance[path[:cut]]
                return file, (*written, *path[cut:])
        return fallback, path

    return where


@dataclass
class _Trace:
    """Keeps ``provenance`` true while ``file``'s values are merged over its parent's."""

    provenance: Provenance
    file: str

    def own(self, path: tuple[Any, ...]) -> None:
        self.provenance[path] = (self.file, path)

    def replace(self, path: tuple[Any, ...], value: Any, old: Any) -> None:
        self._take(path, old)
        record(value, path, path, self.file, self.provenance)

    def splice(self, path: tuple[Any, ...], parent: Any, kept: list[int], steps: list[Any]) -> None:
        """Record a schedule made of the parent's steps ``kept`` followed by this file's ``steps``."""
        old = self._take(path, parent)
        self.provenance[path] = (self.file, path)
        for new, i in enumerate(kept):
            if isinstance(parent, list):
                src = (*path, i)
                for key, where in old.items():
                    if key[: len(src)] == src:
                        self.provenance[(*path, new, *key[len(src):])] = where
            else:  # the parent's plain value became the first step
                for key, where in old.items():
                    self.provenance[(*path, new, "value", *key[len(path):])] = where
                if path in old:
                    self.provenance[(*path, new)] = old[path]
        for j, step in enumerate(steps):
            record(step, (*path, len(kept) + j), (*path, j), self.file, self.provenance)

    def _take(self, prefix: tuple[Any, ...], old: Any) -> Provenance:
        """Remove and return what is recorded at and below ``prefix``, walking the value ``old`` held there.

        Walking the old value (rather than every recorded path) keeps a merge linear in the size of the files.
        """
        taken: Provenance = {}
        stack = [(prefix, old)]
        while stack:
            path, node = stack.pop()
            if path in self.provenance:
                taken[path] = self.provenance.pop(path)
            if isinstance(node, dict):
                stack.extend(((*path, k), v) for k, v in node.items())
            elif isinstance(node, list):
                stack.extend(((*path, i), v) for i, v in enumerate(node))
        return taken


def merge(parent: Any, child: Any, in_levers: bool = False) -> Any:
    """Return ``child`` laid over ``parent``.

    Mappings merge key by key. Under ``levers``, a schedule in the child keeps the parent's steps before
    the child's first ``from`` month, so a scenario can change a lever "from 2025 on" and nothing else.
    Everything else in the child replaces the parent's value.
    """
    return _merge(parent, child, in_levers, (), None)


def _merge(parent: Any, child: Any, in_levers: bool, path: tuple[Any, ...], trace: _Trace | None) -> Any:
    if isinstance(parent, dict) and isinstance(child, dict):
        if trace:
            trace.own(path)
        out = dict(parent)
        for key, value in child.items():
            if key in parent:
                out[key] = _merge(parent[key], value, in_levers or key == "levers", (*path, key), trace)
            else:
                out[key] = value
                if trace:
                    trace.replace((*path, key), value, None)
        return out
    if in_levers and isinstance(child, list) and child and isinstance(child[0], dict) and child[0].get("from"):
        first = month_or_none(child[0].get("from"))
        if first is not None:
            steps = parent if isinstance(parent, list) else [{"from": None, "value": parent}]
            kept = [i for i, s in enumerate(steps) if isinstance(s, dict) and _before(s.get("from"), first)]
            if trace:
                trace.splice(path, parent, kept, child)
            return [steps[i] for i in kept] + child
    if trace:
        trace.replace(path, child, parent)
    return child


def _before(value: Any, month) -> bool:
    if value is None:
        return True
    parsed = month_or_none(value)
    return parsed is not None and parsed < month
