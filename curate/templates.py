"""Prompt templates: Jinja2, rendered in a sandbox, replaceable from a recipe, checked at validation.

A stage that prompts a model keeps its default templates as package data and lets a recipe
replace them with a param typed :data:`TemplateParam`: inline Jinja text, or ``file:<path>``
(relative to the recipe's folder)::

    - use: judge.pairwise
      with:
        template: file:prompts/my-judge.j2

In :meth:`curate.Component.cache_key` (which runs at validation) the stage loads its templates
with :func:`load_template` and checks them with :meth:`Template.check`, naming the variables it
can supply: a template that uses any other fails ``curate validate`` naming the stage, the
template and the variable. The template's hash goes into the stage fingerprint and into each
generated row's provenance.

Templates render in Jinja2's :class:`~jinja2.sandbox.SandboxedEnvironment` with
``StrictUndefined``: a template from a recipe cannot reach Python internals, and a missing value
is an error, never an empty string.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from curate.errors import RecipeError

#: A param holding a template: inline Jinja text or ``file:<path>``; ``None`` keeps the default.
TemplateParam = str | None

FILE_PREFIX = "file:"


@lru_cache(maxsize=1)
def _environment() -> Any:
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=False, autoescape=False,
                                trim_blocks=True, lstrip_blocks=True)


@dataclass(frozen=True)
class Template:
    """A named Jinja template. ``name`` says where it came from (for errors and provenance)."""

    name: str
    text: str
    _compiled: Any = field(default=None, compare=False, repr=False)

    @property
    def sha(self) -> str:
        """A short content hash: part of fingerprints and provenance."""
        return hashlib.sha256(self.text.encode()).hexdigest()[:16]

    @property
    def variables(self) -> set[str]:
        """The variables the template reads (its undeclared names)."""
        from jinja2 import TemplateSyntaxError, meta

        try:
            return set(meta.find_undeclared_variables(_environment().parse(self.text)))
        except TemplateSyntaxError as exc:
            raise RecipeError(f"template {self.name!r} is not valid Jinja: {exc.message} (line {exc.lineno})",
                              hint="fix the template's syntax") from None

    def check(self, available: set[str] | list[str], *, where: str | None = None) -> "Template":
        """Raise :class:`RecipeError` when the template uses a variable not in ``available``."""
        unknown = sorted(self.variables - set(available))
        if unknown:
            raise RecipeError(
                f"template {self.name!r} uses variable(s) {', '.join(unknown)}, which this stage cannot supply",
                where=where, hint=f"use only: {', '.join(sorted(available)) or 'no variables'}")
        return self

    def render(self, **values: Any) -> str:
        compiled = self._compiled
        if compiled is None:
            compiled = _environment().from_string(self.text)
            object.__setattr__(self, "_compiled", compiled)
        return compiled.render(**values).strip()

    def provenance(self) -> dict[str, str]:
        return {"name": self.name, "sha": self.sha}


def package_template(package: str, name: str) -> Template:
    """A default template shipped as package data: ``<package>/templates/<name>``."""
    text = resources.files(package).joinpath("templates", name).read_text(encoding="utf-8")
    return Template(f"{package}:{name}", text)


def load_template(value: str | None, default: Template, *, base_dir: Path, param: str = "template",
                  where: str | None = None) -> Template:
    """The template a param selects: ``None`` keeps ``default``; ``file:<path>`` reads a file
    (relative to ``base_dir``, the recipe's folder); anything else is inline Jinja text."""
    if value is None:
        return default
    if value.startswith(FILE_PREFIX):
        path = Path(value[len(FILE_PREFIX):].strip()).expanduser()
        path = path if path.is_absolute() else base_dir / path
        try:
            return Template(str(path), path.read_text(encoding="utf-8"))
        except (FileNotFoundError, IsADirectoryError, UnicodeDecodeError) as exc:
            raise RecipeError(f"template file for `{param}` cannot be read: {path} ({type(exc).__name__})",
                              where=where, hint="paths are relative to the recipe file's folder") from None
    return Template(f"{param} (inline)", value)


__all__ = ["Template", "TemplateParam", "load_template", "package_template"]
