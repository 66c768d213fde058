"""Architecture checks that import-linter does not express (run by `make check` and `make test`).

1. No import cycle between first-party modules (grimp's graph, Tarjan's strongly connected components).
2. No function-level import of a first-party module in app code: such an import exists only to
   dodge a cycle, which hides the dependency instead of fixing it. Heavy third-party libraries
   (torch, transformers) may still be imported lazily where the web process must not load them.
3. The number of noqa and type-ignore markers never grows past the recorded budget, and
   each names its rule.

Prints what it measured; exits 1 on a violation.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = tuple(
    name
    for name in (
        "engine",
        "bots",
        "conversations",
        "nlu",
        "knowledge",
        "analytics",
        "inbox",
        "copilot",
        "webhooks",
        "actions",
        "privacy",
        "audit",
        "inference_worker",
        "chatplatform",
    )
    if (ROOT / name / "__init__.py").exists()
)
# Lower it when markers go away; never raise it (issue #10: "the count goes down, never up").
SUPPRESSION_BUDGET = 30
_MARKER = re.compile(r"#\s*(noqa|type:\s*ignore)\b(\S*)")


def module_cycles() -> list[list[str]]:
    graph = grimp.build_graph(*PACKAGES, include_external_packages=False)
    modules = sorted(graph.modules)
    edges = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = 0
    sys.setrecursionlimit(10000)

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, []):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in modules:
        if module not in index:
            visit(module)
    return cycles


def _app_files() -> list[Path]:
    return [p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py")) if "migrations" not in p.parts]


def local_first_party_imports() -> list[str]:
    found = []
    for path in _app_files():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for inner in ast.walk(node):
                names = []
                if isinstance(inner, ast.ImportFrom) and inner.level == 0 and inner.module:
                    names = [inner.module]
                elif isinstance(inner, ast.ImportFrom) and inner.level > 0:
                    names = ["." * inner.level + (inner.module or "")]
                elif isinstance(inner, ast.Import):
                    names = [a.name for a in inner.names]
                for name in names:
                    if name.startswith(".") or name.split(".")[0] in PACKAGES:
                        found.append(f"{path.relative_to(ROOT)}:{inner.lineno}: {name}")
    return sorted(set(found))


def suppression_markers() -> tuple[int, list[str]]:
    total, unnamed = 0, []
    for folder in (*PACKAGES, "tests", "bench", "scripts"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            for number, line in enumerate(path.read_text().splitlines(), start=1):
                for match in _MARKER.finditer(line):
                    total += 1
                    if not match.group(2).startswith((":", "[")):
                        unnamed.append(f"{path.relative_to(ROOT)}:{number}")
    return total, unnamed


def main() -> int:
    sys.path.insert(0, str(ROOT))
    cycles = module_cycles()
    local = local_first_party_imports()
    markers, unnamed = suppression_markers()
    print(f"import cycles between first-party modules: {len(cycles)}")
    for cycle in cycles:
        print("  cycle:", " <-> ".join(cycle))
    print(f"function-level imports of first-party modules: {len(local)}")
    for line in local:
        print("  ", line)
    print(f"noqa / type: ignore markers: {markers} (budget {SUPPRESSION_BUDGET}); without a rule name: {len(unnamed)}")
    for line in unnamed:
        print("  unnamed:", line)
    failed = bool(cycles or local or unnamed or markers > SUPPRESSION_BUDGET)
    print("architecture check:", "FAILED" if failed else "ok")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
