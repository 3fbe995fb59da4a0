"""Documentation stays in step with the code."""

import re
from pathlib import Path

from curate import hookspecs
from curate.plugins import registry

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_every_hook_is_documented():
    text = (DOCS / "plugin-hooks.md").read_text()
    documented = set(re.findall(r"^## (curate_\w+)\(", text, re.M))
    hooks = {name for name in dir(hookspecs) if name.startswith("curate_")}
    assert hooks == documented, f"undocumented: {hooks - documented}; stale: {documented - hooks}"


def test_documented_signatures_match_hookspecs():
    import inspect

    text = (DOCS / "plugin-hooks.md").read_text()
    for name, args in re.findall(r"^## (curate_\w+)\(([^)]*)\)", text, re.M):
        spec = inspect.signature(getattr(hookspecs, name))
        assert [a.strip() for a in args.split(",")] == list(spec.parameters), name


def test_every_registered_component_is_documented():
    text = "\n".join(p.read_text() for p in DOCS.rglob("*.md"))
    reg = registry()
    missing = [name for name in reg.names() if name != "scripted" and f"`{name}`" not in text]
    assert not missing, f"components without docs: {missing}"


def test_the_readme_prompt_set_recipe_validates(tmp_path):
    import curate
    from curate.runner.plan import build_plan

    readme = (DOCS.parent / "README.md").read_text()
    section = readme.split("## Recipes are graphs", 1)[1]
    yaml_text = re.search(r"```yaml\n(.*?)```", section, re.S).group(1)
    (tmp_path / "r.yaml").write_text(yaml_text)
    plan = build_plan(curate.load_recipe(tmp_path / "r.yaml"), registry(), tmp_path / "run")
    assert plan.stage("prompts").inputs == ["open-qa", "writing", "math"]


def test_the_architecture_branching_example_validates(tmp_path):
    import curate
    from curate.runner.plan import build_plan

    text = (DOCS / "architecture.md").read_text()
    yaml_text = re.search(r"```yaml\n(name: preference-data.*?)```", text, re.S).group(1)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "prompts.jsonl").write_text('{"prompt": "hi"}\n')
    (tmp_path / "r.yaml").write_text(yaml_text)
    plan = build_plan(curate.load_recipe(tmp_path / "r.yaml"), registry(), tmp_path / "run")
    assert plan.stage("prompts").inputs == ["seed-prompts", "open-qa", "math"]
    assert plan.stage("pairs").inputs == ["judged"] and plan.stage("preference").inputs == ["pairs"]
