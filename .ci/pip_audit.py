"""CI gate: audit the pinned requirements with pip-audit; fail only on findings not yet documented.

    python .ci/pip_audit.py [--report pip-audit.json]

Runs ``pip-audit -r requirements.txt`` (the pins as written, no resolution) and
compares every vulnerability it reports with ``.ci/pip-audit-ignore.txt``, where
each accepted finding has a line ``ID  package  reason``. A finding not listed
fails CI (exit 1); a listed one is printed with its reason. When the advisory
service cannot be reached (no network, a mirror without PyPI's JSON API), the
step says so loudly and passes: it must not block work it cannot judge.
``--report`` reads a saved pip-audit JSON report instead of running it (tests).
"""

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REQUIREMENTS = HERE.parent / "requirements.txt"
IGNORE_FILE = HERE / "pip-audit-ignore.txt"
UNREACHABLE_HINTS = ("not found on PyPI", "Connection", "connection", "timed out", "Max retries")


def read_ignore_list(path=IGNORE_FILE):
    """``{id: (package, reason)}``; a line without a reason is an error, so every exception is explained."""
    accepted = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split(None, 2)
        if len(parts) < 3:
            raise SystemExit(f"{path}:{number}: write 'ID package reason' (the reason is required)")
        accepted[parts[0]] = (parts[1], parts[2])
    return accepted


def run_pip_audit():
    """The JSON report of pip-audit over the pins, or ``None`` with the reason when it could not run."""
    command = [
        sys.executable, "-m", "pip_audit", "-r", str(REQUIREMENTS), "--no-deps", "--disable-pip",
        "--progress-spinner", "off", "--format", "json", "--timeout", "20",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    try:
        return json.loads(result.stdout), None
    except json.JSONDecodeError:
        return None, (result.stderr or result.stdout).strip()[-500:]


def judge(report, accepted):
    """``(exit code, lines to print)`` for a pip-audit report."""
    dependencies = report.get("dependencies", [])
    skipped = [d for d in dependencies if d.get("skip_reason")]
    if dependencies and len(skipped) == len(dependencies):
        reasons = {d["skip_reason"] for d in skipped}
        if all(any(hint in reason for hint in UNREACHABLE_HINTS) for reason in reasons):
            return 0, [
                "pip-audit: the advisory service could not be reached from here, so the pinned requirements "
                "were NOT audited (this step passes; run `make audit` where PyPI's JSON API answers).",
                f"  first reason: {sorted(reasons)[0]}",
            ]
    lines, new = [], []
    for dependency in dependencies:
        for vuln in dependency.get("vulns", []):
            ids = [vuln["id"], *vuln.get("aliases", [])]
            listed = next((accepted[i] for i in ids if i in accepted), None)
            where = f"{dependency['name']} {dependency.get('version', '?')}: {vuln['id']}"
            fix = ", ".join(vuln.get("fix_versions", [])) or "no fixed version yet"
            if listed:
                lines.append(f"accepted  {where} (fix: {fix}) - {listed[1]}")
            else:
                new.append(f"NEW       {where} (fix: {fix}) {vuln.get('description', '')[:200]}")
    for dependency in skipped:
        lines.append(f"skipped   {dependency['name']}: {dependency['skip_reason']}")
    audited = len(dependencies) - len(skipped)
    lines.append(f"pip-audit: {audited} pinned packages audited, {len(new)} new finding(s).")
    if new:
        lines += new + [f"Upgrade the pin, or document the finding in {IGNORE_FILE.name} with a reason."]
    return (1 if new else 0), lines


def main(argv):
    accepted = read_ignore_list()
    if "--report" in argv:
        report, error = json.loads(Path(argv[argv.index("--report") + 1]).read_text()), None
    else:
        report, error = run_pip_audit()
    if report is None:
        print(f"pip-audit could not run or reach the advisory service; NOT audited (passing): {error}")
        return 0
    code, lines = judge(report, accepted)
    print("\n".join(lines))
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
