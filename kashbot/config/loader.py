"""Reading a config file: YAML -> plain data plus the line each key path was written on.

Why a custom reader: pydantic knows the key path of an error but not where it is in the file, and
"extra inputs are not permitted" without a line number is how typos survive. The YAML is composed
into nodes first, so every key path gets the line it was written on.

Secrets (``api_key``, webhook ``secret``/``previous_secret``) can only come from the environment
(``${KASH_API_KEY}``) or a file (``api_key_file``, ``secret_file``); a literal value in YAML is an
error, so a config file can be shared or committed safely. ``${VAR}`` and ``${VAR:-default}`` work
in any string value. Float-looking numbers become exact ``Decimal``s (money never passes through a
float).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from decimal import Decimal
from difflib import get_close_matches
from typing import Any, get_args

import yaml
from pydantic import BaseModel, ValidationError

KeyPath = tuple[str | int, ...]
Problem = tuple[int | None, str, str]

_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_ENV_ONLY_RE = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*\}$")
SECRET_KEYS = frozenset({"api_key", "secret", "previous_secret", "webhook_secret"})
SECRET_PATHS = frozenset({("shared_state", "url")})  # a Redis URL may hold its password


class ConfigError(ValueError):
    """Every problem found in one config file, each as ``file:line: key.path: message``."""

    def __init__(self, file: str, problems: list[Problem]) -> None:
        self.file = file
        self.problems = problems
        lines = [
            f"{file}:{line if line is not None else '?'}: {path or '<root>'}: {msg}"
            for line, path, msg in problems
        ]
        super().__init__("\n".join(lines))


class _Walker:
    """Turns a composed YAML node tree into plain data plus a key-path -> line map."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.lines: dict[KeyPath, int] = {}
        self.problems: list[Problem] = []

    def walk(self, node: yaml.Node, path: KeyPath) -> Any:
        line = node.start_mark.line + 1
        self.lines.setdefault(path, line)
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                key = key_node.value
                if not isinstance(key_node, yaml.ScalarNode):
                    self.problems.append((line, dotted(path), "mapping keys must be plain strings"))
                    continue
                sub = (*path, key)
                if key in out:
                    self.problems.append(
                        (key_node.start_mark.line + 1, dotted(sub), "duplicate key")
                    )
                self.lines[sub] = key_node.start_mark.line + 1
                out[key] = self.walk(value_node, sub)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.walk(item, (*path, i)) for i, item in enumerate(node.value)]
        assert isinstance(node, yaml.ScalarNode)
        value = node.value  # the raw text as written
        resolved: Any
        if node.tag == _FLOAT_TAG and _DECIMAL_RE.match(value):
            resolved = Decimal(value)  # money must never pass through a float
        else:
            resolved = _SCALAR_LOADER.construct_object(node, deep=True)
        secret = bool(path) and (path[-1] in SECRET_KEYS or path in SECRET_PATHS)
        secret = secret and resolved is not None
        if secret and not _ENV_ONLY_RE.match(str(value).strip()):
            self.problems.append(
                (
                    line,
                    dotted(path),
                    "a literal secret is not allowed in a config file; "
                    "use ${ENV_VAR} (e.g. ${KASH_API_KEY}) or a secrets file "
                    "(api_key_file / secret_file)",
                )
            )
            return None
        if isinstance(resolved, str) and "${" in resolved:
            return self._interpolate(resolved, path, line)
        return resolved

    def _interpolate(self, text: str, path: KeyPath, line: int) -> str:
        def repl(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in self.env:
                return self.env[name]
            if default is not None:
                return default
            self.problems.append((line, dotted(path), f"environment variable {name} is not set"))
            return ""

        return _ENV_RE.sub(repl, text)


_SCALAR_LOADER = yaml.SafeLoader("")
_FLOAT_TAG = "tag:yaml.org,2002:float"
_DECIMAL_RE = re.compile(r"^[-+]?(\d[\d_]*)?\.?\d*([eE][-+]?\d+)?$")


def dotted(path: KeyPath) -> str:
    """``("strategies", 0, "params")`` -> ``strategies[0].params``, as errors name keys."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def line_for(lines: Mapping[KeyPath, int], loc: KeyPath) -> int | None:
    """The line ``loc`` was written on, else its nearest written parent's."""
    for n in range(len(loc), -1, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return None


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside a field's annotation (``X``, ``X | None``, ``list[X]``...)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _known_keys(root: type[BaseModel], parents: tuple[Any, ...]) -> list[str]:
    """The keys the model at ``parents`` accepts, for a "did you mean" on an unknown key."""
    model: type[BaseModel] | None = root
    for part in parents:
        if model is None:
            return []
        if isinstance(part, int):
            continue  # a list element: same model
        field = model.model_fields.get(str(part))
        model = _model_in(field.annotation) if field is not None else None
    return list(model.model_fields) if model is not None else []


def read_yaml(
    text: str, file: str = "<string>", env: Mapping[str, str] | None = None
) -> tuple[dict[str, Any], dict[KeyPath, int]]:
    """YAML text -> (plain mapping, key path -> line), as ``parse_config`` reads it.

    Float-looking numbers become exact ``Decimal``s, ``${VAR}`` is interpolated and literal
    secrets are refused; problems raise :class:`ConfigError` with file and line. For callers
    that validate more than the daemon's sections (the backtest's ``backtest:`` block).
    """
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(file, [(line, "", f"not valid YAML: {exc}")]) from None
    walker = _Walker(os.environ if env is None else env)
    data = walker.walk(root, ()) if root is not None else {}
    if not isinstance(data, dict):
        raise ConfigError(file, [(1, "", "the top level must be a mapping")])
    if walker.problems:
        raise ConfigError(file, walker.problems)
    return data, walker.lines


def validation_problems(
    exc: ValidationError,
    lines: Mapping[KeyPath, int],
    prefix: KeyPath = (),
    root: type[BaseModel] | None = None,
) -> list[Problem]:
    """A pydantic error as ``(line, key.path, message)`` problems for :class:`ConfigError`
    ("unknown key; did you mean ..." when ``root`` is the model validated at ``prefix``)."""
    out: list[Problem] = []
    for err in exc.errors(include_input=False, include_url=False):
        # drop pydantic's union-branch tags like 'list[str]' / "literal['all']" from the path
        rel = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))
        loc = (*prefix, *rel)
        msg = err["msg"]
        if err["type"] == "value_error":
            msg = msg.removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key (misspelt?)"
            if root is not None and rel:
                close = get_close_matches(str(rel[-1]), _known_keys(root, rel[:-1]), n=1)
                if close:
                    msg = f"unknown key; did you mean '{close[0]}'?"
        out.append((line_for(lines, loc), dotted(loc), msg))
    return out
