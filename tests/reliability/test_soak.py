"""The soak benchmark, briefly: mixed traffic with training and imports, no 5xx and no lost event.

bench/soak.py is the real thing (five minutes, figures in docs/benchmarks.md); this
runs it for half a minute so ``make test-reliability`` keeps it honest.
"""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.reliability
def test_a_short_soak_answers_no_5xx_and_loses_no_event():
    result = subprocess.run(
        [sys.executable, "bench/soak.py", "--minutes", "0.5", "--rate", "20"],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "soak: PASS" in result.stdout and "lost: 0" in result.stdout
