"""The public surface: `curate.__all__` is what plugins use, and the core has no import cycles."""

import ast
from pathlib import Path

import curate

ROOT = Path(__file__).resolve().parents[1]


def _module_imports(path: Path) -> list[tuple[str, int]]:
    """Module-level `curate...` imports of a file (not those inside functions or TYPE_CHECKING)."""
    tree = ast.parse(path.read_text(), str(path))
    found = []

    def visit(nodes):
        for node in nodes:
            if isinstance(node, ast.Import):
                found.extend((a.name, node.lineno) for a in node.names if a.name.split(".")[0] == "curate")
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module == "curate":
                found.extend((f"curate.{a.name}", node.lineno) for a in node.names)  # submodules, or a violation
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "curate":
                found.append((node.module, node.lineno))
            elif isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            elif isinstance(node, (ast.If, ast.Try)):
                visit(node.body + getattr(node, "orelse", []) + getattr(node, "handlers", []))

    visit(tree.body)
    return found


def _all_imports(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.module, node.lineno))
    return found


def test_everything_in_all_exists():
    missing = [name for name in curate.__all__ if not hasattr(curate, name)]
    assert not missing


def test_first_party_plugins_use_only_the_public_api():
    """As simonw/llm's plugins use only `llm.*`: a plugin imports `curate`, never its internals."""
    offenders = []
    for path in sorted((ROOT / "plugins").glob("*/curate_*/**/*.py")):
        for module, line in _all_imports(path):
            if module.split(".")[0] == "curate" and module != "curate":
                offenders.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert not offenders, "plugins must import only from `curate`:\n" + "\n".join(offenders)


def test_the_check_above_can_fail(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from curate.component import Filter\nimport curate.formats\nimport curate\n")
    assert [m for m, _ in _all_imports(bad)] == ["curate.component", "curate.formats", "curate"]


def test_core_modules_have_no_import_cycles():
    modules = {}
    for path in (ROOT / "curate").rglob("*.py"):
        rel = path.relative_to(ROOT).with_suffix("")
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        modules[name] = path
    graph = {}
    for name, path in modules.items():
        deps = set()
        for module, line in _module_imports(path):
            assert module in modules or name == "curate", \
                f"{path}:{line}: a core module imports {module} from the `curate` package (a cycle): import its module"
            # `from curate.x import y` depends on curate.x (and on curate.x.y when that is a module)
            deps.add(module)
        graph[name] = {d for d in deps if d in modules and d != name}

    state, cycles = {}, []

    def visit(node, stack):
        state[node] = "visiting"
        for dep in graph.get(node, ()):
            if state.get(dep) == "visiting":
                cycles.append(" -> ".join(stack[stack.index(dep):] + [dep]))
            elif dep not in state:
                visit(dep, stack + [dep])
        state[node] = "done"

    for node in graph:
        if node not in state:
            visit(node, [node])
    # A package's __init__ importing its own submodules is how packages work, not a cycle.
    real = [c for c in cycles if not all(b.startswith(a + ".") or a.startswith(b + ".")
                                          for a, b in zip(c.split(" -> "), c.split(" -> ")[1:]))]
    assert not real, "import cycles:\n" + "\n".join(real)
