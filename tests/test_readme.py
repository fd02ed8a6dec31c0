"""The README's library example runs as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"

def test_readme_python_examples_run() -> None:
    """Every ```python block of the README executes without error."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks
    for block in blocks:
        exec(compile(block, str(README), "exec"), {})


def test_readme_first_example_states_the_backoff_as_it_happens() -> None:
    """EAGAIN at 0, 2 and 6 s, then ECANCELED at 14 s (tests/test_balloon.py pins it)."""
    text = README.read_text()
    assert "EAGAIN at t = 0, 2, 6, 14" not in text
    assert "EAGAIN at t = 0, 2 and 6 s), then cancels\n# (ECANCELED at t = 14 s)" in text
