"""The README's example and commands stay true."""

import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_readme_example_runs_and_tells_the_story():
    code = re.search(r"```python\n(.*?)```", README, re.S).group(1)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    verdicts = re.findall(r"gradcheck (passed|FAILED)", out.stdout)
    assert verdicts == ["FAILED", "passed"], out.stdout
    assert float(re.search(r"MSE ([\d.e-]+)", out.stdout).group(1)) < 0.01


def test_ci_runs_exactly_the_readme_test_command():
    ci_command = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert ci_command in README
