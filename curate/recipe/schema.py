"""The recipe model. YAML recipes and recipes built in Python validate through the same classes."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from curate.recipe.yaml_loader import KeyPath, render_path


def default_stage_ids(stages: Iterable[tuple[str | None, str | None]]) -> list[str | None]:
    """Stage ids from ``(id, use)`` pairs: an explicit id, else the ``use`` name suffixed ``-2``,
    ``-3`` ... when repeated. The one rule, shared by the recipe model and ``--set``."""
    stages = list(stages)
    seen = {sid for sid, _ in stages if sid}
    ids: list[str | None] = []
    for sid, use in stages:
        if sid or use is None:
            ids.append(sid)
            continue
        candidate, k = use, 2
        while candidate in seen:
            candidate, k = f"{use}-{k}", k + 1
        seen.add(candidate)
        ids.append(candidate)
    return ids


class Join(BaseModel):
    """How a stage with several inputs combines them when it should not just append them."""

    model_config = ConfigDict(extra="forbid")

    on: list[str] = Field(min_length=1, description="Key columns the inputs share.")
    how: Literal["inner", "left", "full"] = Field("inner", description="Join type, applied input by input.")


class Resources(BaseModel):
    """What one worker of a stage needs on a distributed executor (Ray); the local executor
    ignores it, and it is never part of a stage's fingerprint (it does not change the rows)."""

    model_config = ConfigDict(extra="forbid")

    num_cpus: float | None = Field(None, gt=0, description="CPUs per worker (default: 1).")
    num_gpus: float | None = Field(None, ge=0, description="GPUs per worker, e.g. 1 for a vLLM or reward-model actor.")
    memory: int | None = Field(None, gt=0, description="Memory per worker in bytes (Ray schedules by it).")
    concurrency: int | None = Field(None, ge=1, description="Number of workers (actors) for the stage. Default: one "
                                    "per CPU for CPU stages, per GPU for GPU stages, 4 for HTTP engines.")
    batch_size: int | None = Field(None, ge=1, description="Rows per batch a worker gets (default: the component's "
                                   "`batch_size`, else the executor's choice).")


class Stage(BaseModel):
    """One step of a recipe: a component (``use``) and its params (``with``)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    use: str = Field(description="Name of the component, e.g. `read.jsonl` or `dedup.exact`.")
    id: str | None = Field(None, description="Unique stage id (default: the `use` name, suffixed "
                           "`-2`, `-3` ... when repeated). Used by `--set stages.<id>...` and outputs.")
    with_: dict[str, Any] = Field(default_factory=dict, alias="with",
                                  description="Params of the component; see `curate describe NAME`.")
    inputs: list[str] | None = Field(
        None, description="Ids of the stages whose output this stage reads (default: the stage before it; "
                          "`[]` starts a new branch from a source). Several inputs are appended.")
    join: Join | None = Field(None, description="Join several inputs on key columns instead of appending them.")
    resources: Resources | None = Field(None, description="Workers, CPUs, GPUs and batch size of the stage on a "
                                        "distributed executor (`--executor ray`); ignored locally.")


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
    stages: list[Stage] = Field(min_length=1, description="The pipeline: stages in order; `inputs` make a graph.")

    _source: Path | None = PrivateAttr(None)
    _lines: dict[KeyPath, int] = PrivateAttr(default_factory=dict)
    _base_dir: Path | None = PrivateAttr(None)
    #: key paths set by ``--set``, with the override's text (errors name it instead of a line)
    _overrides: dict[KeyPath, str] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _assign_ids(self) -> "Recipe":
        seen: set[str] = set()
        for st in self.stages:
            if st.id is not None:
                if st.id in seen:
                    raise ValueError(f"duplicate stage id {st.id!r}")
                seen.add(st.id)
        for st, sid in zip(self.stages, default_stage_ids((st.id, st.use) for st in self.stages)):
            st.id = sid
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
        """``file:line key.path`` for error messages (line of the nearest known key), or the
        ``--set`` override that supplied the value."""
        path = tuple(path)
        for overridden, text in self._overrides.items():
            if path[:len(overridden)] == overridden:
                return f"--set {text} ({render_path(path)})"
        loc = str(self._source) if self._source else f"recipe {self.name!r}"
        probe = path
        while probe and probe not in self._lines:
            probe = probe[:-1]
        if self._source and probe in self._lines:
            loc += f":{self._lines[probe]}"
        return f"{loc} {render_path(path)}".rstrip()

    def stage_where(self, stage_id: str, *rest: str | int) -> str:
        """:meth:`where` for a key path under the stage with this id."""
        index = next(i for i, st in enumerate(self.stages) if st.id == stage_id)
        return self.where(("stages", index, *rest))
