"""The CI gate over pip-audit (.ci/pip_audit.py): new findings fail, documented ones pass with their
reason, and an unreachable advisory service is reported as "not audited" without failing CI."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / ".ci" / "pip_audit.py"
spec = importlib.util.spec_from_file_location("pip_audit_gate", SCRIPT)
gate = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gate)

FINDING = {"id": "PYSEC-2099-1", "aliases": ["CVE-2099-1"], "fix_versions": ["9.9"], "description": "bad"}


def report(*dependencies):
    return {"dependencies": list(dependencies), "fixes": []}


def test_a_new_finding_fails_and_names_the_fix():
    code, lines = gate.judge(report({"name": "django", "version": "5.2", "vulns": [FINDING]}), {})
    assert code == 1
    assert any("NEW" in line and "PYSEC-2099-1" in line and "9.9" in line for line in lines)


def test_a_documented_finding_passes_with_its_reason_even_by_alias():
    accepted = {"CVE-2099-1": ("django", "only the admin's unused feature X is affected")}
    code, lines = gate.judge(report({"name": "django", "version": "5.2", "vulns": [FINDING]}), accepted)
    assert code == 0
    assert any("accepted" in line and "unused feature X" in line for line in lines)


def test_an_unreachable_service_is_reported_as_not_audited_and_passes():
    skipped = [
        {"name": name, "skip_reason": f"Dependency not found on PyPI and could not be audited: {name} (1.0)"}
        for name in ("django", "celery")
    ]
    code, lines = gate.judge(report(*skipped), {})
    assert code == 0 and "NOT audited" in lines[0]


def test_a_clean_audit_passes():
    code, lines = gate.judge(report({"name": "django", "version": "5.2", "vulns": []}), {})
    assert code == 0 and "1 pinned packages audited, 0 new" in lines[-1]


def test_an_ignore_line_without_a_reason_is_refused(tmp_path):
    ignore = tmp_path / "ignore.txt"
    ignore.write_text("# comment\nPYSEC-2099-1 django\n")
    with pytest.raises(SystemExit, match="reason is required"):
        gate.read_ignore_list(ignore)


def test_the_committed_ignore_list_reads_and_the_script_runs_on_a_saved_report(tmp_path):
    gate.read_ignore_list()
    saved = tmp_path / "report.json"
    saved.write_text(json.dumps(report({"name": "django", "version": "5.2", "vulns": [FINDING]})))
    result = subprocess.run([sys.executable, str(SCRIPT), "--report", str(saved)], capture_output=True, text=True)
    assert result.returncode == 1 and "PYSEC-2099-1" in result.stdout
