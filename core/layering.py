"""The import rules that keep the layers apart, checked from the source text (no imports are run).

Run ``python -m core.layering`` (``make lint`` does); ``tests/test_layering.py`` runs it on the tree and on
planted violations. The rules:

- ``recommender/ml`` is a plain library: no Django, DRF, Celery, and none of the platform's apps.
- ``core`` is plumbing below every app: it imports neither ``tenants``, ``recommender`` nor ``portal``.
- ``tenants`` sits below ``recommender``: it never imports it.
- ``portal`` sits above ``tenants`` and ``recommender``: neither imports it (only ``saas_platform``'s URLconf
  does), and it validates with forms and the services' checks: no ``rest_framework``, no API module.
- services and selectors raise domain errors and never speak HTTP: no ``rest_framework``.
- ``.unscoped()`` (the escape hatch from tenant scoping) only in the files :data:`UNSCOPED_ALLOWED` lists,
  each use with a ``# cross-tenant: <why>`` comment.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# (folder, forbidden top-level import prefixes, why)
FOLDER_RULES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    (
        "recommender/ml",
        (
            "django",
            "rest_framework",
            "celery",
            "tenants",
            "core",
            "saas_platform",
            "recommender.data",
            "recommender.training",
            "recommender.serving",
        ),  # and not portal: the rule of all of recommender below says so
        "the model library imports no framework and no app",
    ),
    ("core", ("tenants", "recommender", "portal"), "core is plumbing below every app"),
    ("tenants", ("recommender",), "tenants sits below recommender"),
    ("tenants", ("portal",), "the portal sits above tenants"),
    ("recommender", ("portal",), "the portal sits above recommender"),
    ("portal", ("rest_framework",), "the portal validates with forms and the services' checks, never DRF"),
)
# Folders whose code imports no API package (``<app>.api``: DRF serializers, views, errors).
API_FREE: tuple[str, ...] = ("portal",)
SERVICE_FORBIDDEN = ("rest_framework",)
# The files (relative to the root) that may call ``.unscoped()``, the escape hatch from tenant scoping: operator
# admin, look-ups made before a tenant is known, and the periodic cross-tenant sweeps. Migrations may too, and
# tests. ``tests/test_layering.py`` holds this list to the files that use it, so a new use needs a line here,
# and each use needs a ``# cross-tenant: <why>`` comment on its line or the three above it.
UNSCOPED_ALLOWED: tuple[str, ...] = (
    "tenants/operator_admin.py",  # the operators' admin sees every tenant
    "tenants/selectors.py",  # an API key names its tenant; a person's memberships span tenants
    "tenants/turns.py",  # fair turns compare a tenant's running jobs with other tenants' waiting ones
    "tenants/accounts/services.py",  # the organisations a person owns span tenants
    "recommender/data/importing/runner.py",  # reap_orphaned_imports
    "recommender/data/services.py",  # resend_lost_imports
    "recommender/data/retention.py",  # sweep_kept_uploads
    "recommender/serving/batch.py",  # expire_batch_files
    "recommender/training/services/runs.py",  # reap_stale_runs, resend_lost_runs
    "recommender/feedback/services.py",  # aggregate_metrics: tenants with impressions, retention, experiments
)
UNSCOPED_PATTERNS: tuple[str, ...] = ("*/migrations/*.py",)
UNSCOPED_REASON = "cross-tenant:"
SKIP_PARTS = {".venv", "node_modules", "__pycache__", "var", "clients"}


@dataclass(frozen=True)
class Violation:
    path: str
    line: int
    problem: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.problem}"


def _imported_modules(tree: ast.AST) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module


def _matches(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes)


def _is_service_module(relative: Path) -> bool:
    return relative.name in {"services.py", "selectors.py"} or "services" in relative.parent.parts


def check_file(path: Path, root: Path = ROOT) -> list[Violation]:
    """Every rule broken by one Python file."""
    relative = path.relative_to(root)
    shown = relative.as_posix()
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source, filename=shown)
    found = []
    for folder, forbidden, why in FOLDER_RULES:
        if shown.startswith(folder + "/"):
            found += [
                Violation(shown, line, f"imports {module}: {why}")
                for line, module in _imported_modules(tree)
                if _matches(module, forbidden)
            ]
    if any(shown.startswith(folder + "/") for folder in API_FREE):
        found += [
            Violation(shown, line, f"imports {module}: the portal does not borrow the API's serializers or views")
            for line, module in _imported_modules(tree)
            if "api" in module.split(".")
        ]
    if _is_service_module(relative):
        found += [
            Violation(shown, line, f"imports {module}: services and selectors raise core.errors, never HTTP")
            for line, module in _imported_modules(tree)
            if _matches(module, SERVICE_FORBIDDEN)
        ]
    if not shown.startswith("tests/") and not any(relative.match(pattern) for pattern in UNSCOPED_PATTERNS):
        allowed = shown in UNSCOPED_ALLOWED
        lines = source.splitlines()
        for line in unscoped_lines(tree):
            if not allowed:
                found.append(
                    Violation(shown, line, ".unscoped() outside the files core.layering.UNSCOPED_ALLOWED lists")
                )
            elif not any(UNSCOPED_REASON in text for text in lines[max(0, line - 4) : line]):
                found.append(Violation(shown, line, ".unscoped() without a '# cross-tenant: <why>' comment"))
    return found


def unscoped_lines(tree: ast.AST) -> list[int]:
    """The lines of a module that call ``.unscoped()``."""
    return sorted(
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "unscoped"
    )


def unscoped_uses(root: Path = ROOT) -> dict[str, list[int]]:
    """Every file outside tests and migrations that calls ``.unscoped()``, with the lines."""
    uses = {}
    for path in _python_files(root):
        relative = path.relative_to(root)
        if relative.parts[0] == "tests" or any(relative.match(pattern) for pattern in UNSCOPED_PATTERNS):
            continue
        lines = unscoped_lines(ast.parse(path.read_text(encoding="utf-8")))
        if lines:
            uses[relative.as_posix()] = lines
    return uses


def check_tree(root: Path = ROOT) -> list[Violation]:
    """Every rule broken anywhere under ``root``."""
    violations = []
    for path in _python_files(root):
        violations += check_file(path, root)
    return violations


def _python_files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*.py")):
        if not SKIP_PARTS & set(path.relative_to(root).parts):
            yield path


def main() -> int:
    violations = check_tree(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT)
    for violation in violations:
        print(violation)
    print(f"layering: {len(violations)} violation(s)")
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
