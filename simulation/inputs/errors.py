"""Problems with input files, and pydantic's validation errors translated into them.

Every file kind reports a mistake the same way: ``FILE: key.path: what is allowed (got VALUE)``, with a
suggestion where a name is close to an allowed one. The key path is the one written in the file, not
pydantic's location (which names schedule steps, union branches and validators that the file does not).
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import annotated_types
from pydantic import BaseModel, ValidationError

from .units import in_range_slips, out_of_range_slip, share_note

__all__ = ["FieldProblem", "InputError", "Problem", "close_hint", "format_path", "problems_from_validation",
           "short", "unknown"]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input file: where it is, what was written, and what is allowed."""

    file: str
    path: str
    message: str
    value: Any = None
    has_value: bool = False

    def __str__(self) -> str:
        where = f"{self.file}: {self.path}" if self.path else self.file
        got = f" (got {short(self.value)})" if self.has_value else ""
        return f"{where}: {self.message}{got}"


class InputError(ValueError):
    """An input file that cannot be used; ``problems`` lists every problem found.

    ``checks_pending`` is true when the problems are of form (keys, types, ranges) and the checks that need a
    well-formed file (names, shares, schedules) have not run yet. ``what`` names the kind of file.
    """

    what = "input"

    def __init__(self, problems: list[Problem], checks_pending: bool = False):
        self.problems = problems
        self.checks_pending = checks_pending
        super().__init__("\n".join(str(p) for p in problems))


class FieldProblem(ValueError):
    """Raised by a validator when a problem belongs to one key (``key``, a path below the section checked)."""

    def __init__(self, key: tuple[Any, ...], message: str):
        super().__init__(message)
        self.key = key
        self.message = message


def short(value: Any) -> str:
    """Return ``value`` as it reads in YAML terms (true/false, nothing, 2019-01-01), cut to one line."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (dict, list)) and len(value) > 20:
        return f"a {'mapping' if isinstance(value, dict) else 'list'} of {len(value):,} items"
    try:
        text = repr(value)
    except ValueError:  # an integer too long to write out
        return "a number too long to write out"
    text = text.replace("\n", " ")
    return text if len(text) <= 80 else text[:77] + "..."


def close_hint(name: Any, options: list[str]) -> str:
    """Return "; did you mean 'X'?" for the option closest to ``name``, or "" if none is close."""
    close = difflib.get_close_matches(str(name)[:200], options, n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def unknown(what: str, name: Any, options: list[str], extra: str = "") -> str:
    """Return "unknown WHAT; did you mean 'X'? Allowed: ..." for a name that is not among ``options``."""
    if not options:
        return f"unknown {what}; none is defined"
    hint = close_hint(name, options) or "."
    shown = ", ".join(options[:30]) + (", ..." if len(options) > 30 else "")
    return f"unknown {what}{hint} Allowed: {shown}{extra}"


def format_path(path: tuple[Any, ...]) -> str:
    """Return a key path as written in these messages: ``levers.visa_odds.US[1].from``."""
    text = ""
    for key in path:
        text += f"[{key}]" if isinstance(key, int) and not isinstance(key, bool) else (f".{key}" if text else str(key))
    return text


# --------------------------------------------------------------------------------------------------------------
# What the schema declares at a location


def _unwrap_for(tp: Any, node: Any) -> tuple[Any, list[Any]]:
    """Return ``tp`` without wrappers (a union of sections resolved by the ``kind:`` written), and its constraints."""
    from .fields import unwrap

    base, meta = unwrap(tp)
    if typing.get_origin(base) in (typing.Union, __import__("types").UnionType):
        kind = node.get("kind") if isinstance(node, dict) else None
        for option in typing.get_args(base):
            option_base, option_meta = unwrap(option)
            if (isinstance(option_base, type) and issubclass(option_base, BaseModel)
                    and "kind" in option_base.model_fields
                    and kind in typing.get_args(unwrap(option_base.model_fields["kind"].annotation)[0])):
                return option_base, [*meta, *option_meta]
    return base, meta


def declared(root: type[BaseModel], loc: tuple[Any, ...], data: Any) -> tuple[Any, list[Any], str | None] | None:
    """Return (type, constraints, description) that ``root`` declares at a location, or None."""
    tp: Any = root
    meta: list[Any] = []
    description: str | None = None
    node = data
    for key in loc:
        base, _ = _unwrap_for(tp, node)
        if isinstance(base, type) and issubclass(base, BaseModel):
            field = next((f for name, f in base.model_fields.items() if key in (name, f.alias)), None)
            if field is None:
                return None
            tp, meta, description = field.annotation, list(field.metadata), field.description
        elif typing.get_origin(base) is dict:
            tp, meta = typing.get_args(base)[1], []
        elif typing.get_origin(base) in (list, tuple) and isinstance(key, int):
            args = typing.get_args(base)
            tp, meta = (args[min(key, len(args) - 1)] if typing.get_origin(base) is tuple and args[-1] is not ...
                        else args[0]), []
        else:
            return None
        node = node.get(key) if isinstance(node, dict) else (
            node[key] if isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node) else None)
    base, inner = _unwrap_for(tp, node)
    return base, [*meta, *inner], description


@functools.cache
def declared_keys(model: type[BaseModel]) -> frozenset[str]:
    """Return every key ``model`` and the sections below it declare, as written in files."""
    keys: set[str] = set()
    seen: set[type] = set()

    def visit(tp: Any) -> None:
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            if tp in seen:
                return
            seen.add(tp)
            for name, field in tp.model_fields.items():
                keys.add(field.alias or name)
                visit(field.annotation)
            return
        for arg in typing.get_args(tp):
            visit(arg)

    visit(model)
    return frozenset(keys)


def keys_of(model: type[BaseModel]) -> list[str]:
    """Return the keys a section accepts, as written in files."""
    return [f.alias or name for name, f in model.model_fields.items()]


def range_text(meta: list[Any]) -> str | None:
    """Return the allowed range declared by ``meta`` in words ("between 0 and 1", "0 or more"), or None."""
    low = high = None
    low_open = high_open = False
    for m in meta:
        if isinstance(m, annotated_types.Ge):
            low = m.ge
        elif isinstance(m, annotated_types.Gt):
            low, low_open = m.gt, True
        elif isinstance(m, annotated_types.Le):
            high = m.le
        elif isinstance(m, annotated_types.Lt):
            high, high_open = m.lt, True

    def num(x: Any) -> str:
        return f"{int(x):,}" if float(x).is_integer() else f"{x:g}"

    if low is not None and high is not None:
        if not low_open and not high_open:
            return f"between {num(low)} and {num(high)}"
        return (f"{'greater than' if low_open else 'at least'} {num(low)} and "
                f"{'less than' if high_open else 'at most'} {num(high)}")
    if low is not None:
        if low_open:
            return f"greater than {num(low)}"
        return f"{num(low)} or more" if low == 0 else f"at least {num(low)}"
    if high is not None:
        return f"less than {num(high)}" if high_open else f"at most {num(high)}"
    return None


# --------------------------------------------------------------------------------------------------------------
# Translation


Locate = Callable[[tuple[Any, ...]], tuple[str, tuple[Any, ...]]]
"""Maps a key path of the validated data to (file that wrote it, key path in that file)."""


def problems_from_validation(
    exc: ValidationError, data: Any, root: type[BaseModel], file: str, locate: Locate | None = None,
    hint: Callable[[str, tuple[Any, ...], Any], str | None] | None = None,
) -> list[Problem]:
    """Return pydantic's errors as problems, each at the key path written in the file that wrote the value.

    ``hint(kind, path, value)`` may return a message that says more than the generic one (e.g. a unit slip).
    """
    locate = locate or (lambda path: (file, path))
    problems: list[Problem] = []
    seen: set[tuple[str, str, str]] = set()
    for error in exc.errors():
        loc = tuple(error["loc"])
        kind = error["type"]
        ctx = error.get("ctx") or {}
        cause = ctx.get("error")
        message = None
        if isinstance(cause, FieldProblem):
            loc, message = (*loc, *cause.key), cause.message
        bad_name = bool(loc) and loc[-1] == "[key]"
        path, schema_loc, value, found = _user_path(loc[:-1] if bad_name else loc, data)
        if bad_name:  # a name (mapping key) that is not text: report it on the mapping that holds it
            value, found, path = error["input"], True, path[:-1]
            message = ("names here must be text; put this one in quotes (YAML reads yes/no/on/off as true/false "
                       "and bare numbers as numbers)")
        elif kind == "extra_forbidden":
            parent = declared(root, schema_loc[:-1], data)
            allowed = keys_of(parent[0]) if parent and isinstance(parent[0], type) and issubclass(
                parent[0], BaseModel) else []
            message = unknown("key", path[-1], allowed) if allowed else "unknown key"
            value, found = path[-1], True
        elif kind == "missing":
            about = (declared(root, schema_loc, data) or (None, None, None))[2] or ""
            message = "required key is missing" + (f" ({_first_sentence(about)})" if about else "")
            where_file, where = locate(path[:-1])
            _add(problems, seen, Problem(where_file, format_path((*where, path[-1])), message))
            continue
        elif message is None:
            message = (hint(kind, path, value) if hint else None) or _allowed_message(
                kind, ctx, declared(root, schema_loc, data), error["msg"], value, path)
        if isinstance(value, (dict, list)) and kind not in ("extra_forbidden",) and not bad_name:
            found = found and len(value) <= 3  # a whole section's value says nothing the message does not
        where_file, where = locate(path)
        _add(problems, seen, Problem(where_file, format_path(where), message, value, found))
    return problems


def _add(problems: list[Problem], seen: set[tuple[str, str, str]], problem: Problem) -> None:
    key = (problem.file, problem.path, problem.message)
    if key not in seen:
        seen.add(key)
        problems.append(problem)


def _first_sentence(text: str) -> str:
    text = text.strip()
    end = text.find(". ")
    text = (text if end < 0 else text[:end]).rstrip(".")
    return text[:1].lower() + text[1:]


def _hashable(key: Any) -> bool:
    try:
        hash(key)
    except TypeError:
        return False
    return True


def _is_branch_name(key: Any) -> bool:
    return isinstance(key, str) and (key.endswith("]") and "[" in key or key.startswith("function-"))


def _user_path(loc: tuple[Any, ...], data: Any) -> tuple[tuple[Any, ...], tuple[Any, ...], Any, bool]:
    """Map a pydantic location to the key path as written, with the schema location and the value found there.

    Pydantic reports a plain lever value as step 0 of a schedule (``..., 0, 'value'``), and names validator
    and union branches (``function-after[...]``, the ``kind:`` chosen) in a location; none of these is in
    the file, so they are dropped from the key path. Returns (key path, schema location, value, whether the
    value exists).
    """
    path: list[Any] = []
    schema_loc: list[Any] = []
    node: Any = data
    found = True
    plain_value = False
    for key in loc:
        present = found and (
            (isinstance(node, dict) and _hashable(key) and key in node)
            or (isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node))
        )
        if not present and _is_branch_name(key):
            continue
        if not present and found and isinstance(node, dict) and node.get("kind") == key:
            continue  # the branch of a union chosen by 'kind'
        schema_loc.append(key)
        if plain_value and key == "value":
            plain_value = False
            continue
        plain_value = False
        if found and not present and key == 0 and not isinstance(key, bool) and not isinstance(node, list):
            plain_value = True
            continue
        path.append(key)
        if present:
            node = node[key]
        else:
            found = False
    return tuple(path), tuple(schema_loc), node if found else None, found


_BOUND_TYPES = {
    "greater_than_equal": annotated_types.Ge,
    "greater_than": annotated_types.Gt,
    "less_than_equal": annotated_types.Le,
    "less_than": annotated_types.Lt,
}


def _limits(meta: list[Any]) -> tuple[float | None, float | None]:
    """Return the lower and upper bounds ``meta`` declares (open or closed), None where there is none."""
    low = high = None
    for m in meta:
        if isinstance(m, annotated_types.Ge):
            low = m.ge
        elif isinstance(m, annotated_types.Gt):
            low = m.gt
        elif isinstance(m, annotated_types.Le):
            high = m.le
        elif isinstance(m, annotated_types.Lt):
            high = m.lt
    return low, high


def _allowed_message(
    kind: str, ctx: Mapping[str, Any], found: tuple[Any, list[Any], str | None] | None, msg: str, value: Any,
    path: tuple[Any, ...] = (),
) -> str:
    """Return what is allowed where pydantic reported an error of type ``kind``, in the reader's terms."""
    tp, meta, _ = found if found else (None, [], None)
    bounds = range_text(meta)
    if kind in _BOUND_TYPES:
        if bounds is None and ctx:
            meta = [_BOUND_TYPES[kind](next(iter(ctx.values())))]
            bounds = range_text(meta)
        low, high = _limits(meta)
        slip = out_of_range_slip(path, value, high)
        if slip:
            return slip
        text = f"must be {bounds}" if bounds else str(msg)
        return text + share_note(path, value, low, high)
    if kind in ("float_parsing", "float_type", "int_parsing", "int_type", "int_from_float", "finite_number",
                "int_parsing_size"):
        what = "a whole number" if kind.startswith("int") or tp is int else "a number"
        if kind == "finite_number":
            what = "a finite number"
        return f"must be {what}" + (f" ({bounds})" if bounds else "")
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            return f"must be a section with the keys {', '.join(keys_of(tp))}"
        return "must be a mapping of names to values (name: value, ...)"
    if kind == "literal_error":
        options = [str(a) for a in typing.get_args(tp)] if typing.get_origin(tp) is Literal else []
        hint = close_hint(value, options) if isinstance(value, str) else ""
        return f"must be one of {ctx.get('expected')}{hint}"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        expected = ctx.get("expected_tags") or ""
        if kind == "union_tag_not_found":
            return f"needs kind: one of {expected}"
        return f"unknown kind{close_hint(value.get('kind') if isinstance(value, dict) else value, [t.strip().strip(chr(39)) for t in str(expected).split(',')])}; choose one of {expected}"  # noqa: E501
    if kind in ("list_type", "tuple_type"):
        return "must be a list, e.g. [1, 2]"
    if kind in ("too_short",):
        return "must not be empty" if ctx.get("min_length", 1) <= 1 else f"needs at least {ctx['min_length']} items"
    if kind in ("too_long",):
        return f"must have at most {ctx.get('max_length')} items"
    if kind == "string_pattern_mismatch":
        return "must be a short name of letters, digits, '_', '-' or '.' (it names files and folders)"
    if kind in ("string_type", "string_sub_type"):
        return "must be text"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters"
    if kind in ("bool_type", "bool_parsing"):
        return "must be true or false"
    if kind in ("date_type", "date_parsing", "date_from_datetime_parsing"):
        return "must be a month written YYYY-MM"
    if kind == "value_error" and ctx.get("error") is not None:
        return str(ctx["error"])
    return str(msg)


def check_validation(model: type[BaseModel], data: Any, file: str, error: type[InputError],
                     locate: Locate | None = None, hint=None) -> Any:
    """Return ``model`` validated from ``data``, or raise ``error`` with every problem in the reader's terms.

    Amounts in USD too small to be meant (a pay of 420, a bonus of 5: see :mod:`.units`) are problems too,
    reported with those of form.
    """
    locate = locate or (lambda path: (file, path))
    slips = []
    try:
        for path, message, value in in_range_slips(data, declared_keys(model)):
            where_file, where = locate(path)
            slips.append(Problem(where_file, format_path(where), message, value, True))
        validated = model.model_validate(data)
    except ValidationError as exc:
        problems = problems_from_validation(exc, data, model, file, locate, hint)
        slipped = {(p.file, p.path) for p in slips}  # the slip explains what else is wrong there (max below bonus)
        problems = [p for p in problems if (p.file, p.path) not in slipped]
        raise error([*problems, *slips], checks_pending=True) from None
    except RecursionError:
        raise error([Problem(file, "", "sections are nested too deeply")]) from None
    if slips:
        raise error(slips, checks_pending=True)
    return validated
