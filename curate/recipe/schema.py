"""The recipe model. YAML recipes and recipes built in Python validate through the same classes."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from curate.recipe.yaml_loader import KeyPath


class Stage(BaseModel):
    """One step of a recipe: a component (``use``) and its params (``with``)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    use: str = Field(description="Name of the component, e.g. `read.jsonl` or `dedup.exact`.")
    id: str | None = Field(None, description="Unique stage id (default: the `use` name, suffixed "
                           "`-2`, `-3` ... when repeated). Used by `--set stages.<id>...` and outputs.")
    with_: dict[str, Any] = Field(default_factory=dict, alias="with",
                                  description="Params of the component; see `curate describe NAME`.")


class EngineSpec(BaseModel):
    """A named model backend: ``use`` names the engine plugin, other keys are its params."""

    model_config = ConfigDict(extra="allow")

    use: str = Field(description="Engine plugin name, e.g. `openai`, `vllm`, `transformers`.")

    def engine_params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class Recipe(BaseModel):
    """A whole recipe: named engines and an ordered list of stages."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="Recipe name; default run dir is runs/<name>.")
    description: str = Field("", description="Free text.")
    on_bad_rows: Literal["error", "skip"] = Field(
        "error", description="`skip` skips corrupt input rows, counting them and writing them to a rejects file."
    )
    engines: dict[str, EngineSpec] = Field(default_factory=dict, description="Named model backends.")
    stages: list[Stage] = Field(min_length=1, description="The pipeline, in order.")

    _source: Path | None = PrivateAttr(None)
    _lines: dict[KeyPath, int] = PrivateAttr(default_factory=dict)
    _base_dir: Path | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _assign_ids(self) -> "Recipe":
        seen: set[str] = set()
        for st in self.stages:
            if st.id is not None:
                if st.id in seen:
                    raise ValueError(f"duplicate stage id {st.id!r}")
                seen.add(st.id)
        for st in self.stages:
            if st.id is None:
                candidate, k = st.use, 2
                while candidate in seen:
                    candidate, k = f"{st.use}-{k}", k + 1
                st.id = candidate
                seen.add(candidate)
        return self

    @property
    def source(self) -> Path | None:
        """The file the recipe was loaded from, if any."""
        return self._source

    @property
    def base_dir(self) -> Path:
        """Input paths resolve against this folder (the recipe file's folder, else the cwd)."""
        if self._base_dir is not None:
            return self._base_dir
        return self._source.parent if self._source else Path.cwd()

    def with_base_dir(self, path: str | Path) -> "Recipe":
        self._base_dir = Path(path)
        return self

    def where(self, path: KeyPath) -> str:
        """``file:line key.path`` for error messages (line of the nearest known key)."""
        from curate.recipe.yaml_loader import render_path

        loc = str(self._source) if self._source else f"recipe {self.name!r}"
        probe = tuple(path)
        while probe and probe not in self._lines:
            probe = probe[:-1]
        if self._source and probe in self._lines:
            loc += f":{self._lines[probe]}"
        return f"{loc} {render_path(tuple(path))}".rstrip()

    def stage_index(self, key: str | int) -> int:
        for i, st in enumerate(self.stages):
            if st.id == key:
                return i
        if isinstance(key, int) or str(key).isdigit():
            return int(key)
        raise KeyError(key)
