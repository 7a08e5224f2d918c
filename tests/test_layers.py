"""The package's shape: config is a leaf, no import circle, no lower layer imports a higher one.

Every import counts, the lazy ones inside functions too: a lazy import still ties the modules."""

import ast
from pathlib import Path

import causalgear

SRC = Path(causalgear.__file__).parent
# lowest first: a module may import its own layer and the ones below it, never one above
LAYERS = [
    ("config",),
    ("errors", "io", "logs", "estimators", "seeds", "provenance", "results"),
    ("report",),  # renders dicts and files into plots and pages; knows no model
    ("data",),
    ("models",),
    ("harvest",),
    ("sae",),
    ("workbench",),
    ("interventions",),
    ("steering", "features"),
    ("serve", "pipeline", "reseed", "selection"),
    ("preflight", "inputs", "stages", "cli", "__main__", "__init__"),
]
RANK = {name: i for i, names in enumerate(LAYERS) for name in names}


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports() -> dict[str, set[str]]:
    """module -> the causalgear modules it imports (a `from package import name` counts as package.name
    when that is a module)."""
    modules = {module_name(p): p for p in SRC.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("causalgear"):
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    found.add(sub if sub in modules else node.module)
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name.startswith("causalgear")}
        graph[name] = found - {name}
    return graph


def layer(module: str) -> int:
    top = module.split(".")[1] if module != "causalgear" else "__init__"
    return RANK[top]


def test_config_imports_nothing_from_causalgear():
    config = {m: deps for m, deps in imports().items() if m.split(".")[:2] == ["causalgear", "config"]}
    assert set(config) >= {"causalgear.config"}
    assert all(dep.startswith("causalgear.config.") for deps in config.values() for dep in deps)


def test_every_top_level_module_and_package_has_a_layer():
    assert {m.split(".")[1] for m in imports() if m != "causalgear"} <= set(RANK)


def test_no_module_imports_one_of_a_higher_layer():
    upward = sorted(f"{m} -> {dep}" for m, deps in imports().items() for dep in deps if layer(dep) > layer(m))
    assert upward == []


def test_there_is_no_import_circle():
    graph = imports()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles = []

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for dep in sorted(graph.get(m, ())):
            if state.get(dep) == 1:
                cycles.append(" -> ".join([*path[path.index(dep):], dep]))
            elif dep not in state:
                visit(dep, [*path, dep])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert cycles == []


def test_no_module_is_over_400_lines():
    long = {module_name(p): n for p in SRC.rglob("*.py") if (n := len(p.read_text().splitlines())) > 400}
    assert long == {}


def test_no_module_outside_data_tests_the_data_set_s_name():
    """A stage asks the data source what it supports (`causalgear.data.sources`); it never compares
    `data.name` with a string."""
    import re

    compared = re.compile(r"data\.name\s*(==|!=)|\.name\s*(==|!=)\s*[\"'](tinysql|spider|jsonl)[\"']")
    found = [f"{p.relative_to(SRC)}:{i}" for p in SRC.rglob("*.py") if "data" not in p.relative_to(SRC).parts[:1]
             for i, line in enumerate(p.read_text().splitlines(), 1) if compared.search(line)]
    assert found == []


def test_no_function_of_the_experiment_layer_runs_past_60_lines():
    long = []
    for package in ("steering", "interventions"):
        for path in sorted((SRC / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno - node.lineno >= 60:
                    long.append(f"{path.relative_to(SRC)}:{node.lineno} {node.name}")
    assert long == []


def test_no_random_sae_control_is_found_by_building_its_name():
    """A method's random-SAE control is its `twin` field (causalgear.results), never a name made
    by joining or slicing strings."""
    built = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.JoinedStr) and any(
                    isinstance(v, ast.Constant) and "random_sae_" in str(v.value) for v in node.values):
                built.append(f"{path.relative_to(SRC)}:{node.lineno}")
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add) and any(
                    isinstance(side, ast.Constant) and "random_sae_" in str(side.value)
                    for side in (node.left, node.right)):
                built.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert built == []
