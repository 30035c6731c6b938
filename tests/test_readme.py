"""The README's Python examples run as written, in order, in a fresh folder, and print
what the README says they print.

An example states an output as a comment on its ``print`` line that reads as a printed
value (``print(mobo.hypervolume(Y, ref))     # 12.0``); a comment in words
(``# expected improvement of each candidate``) is prose, not an output. A block that states
outputs prints one line per ``print`` line, in order."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
# a print statement on one line with a trailing comment; the comment is an output when it
# starts like a printed value: a number, an array or list, a tuple, a quote, True/False/None
PRINT = re.compile(r"^print\(.*\)\s+#\s(?P<out>.*)$")
VALUE = re.compile(r"^(?:[-+]?(?:\d|\.\d|inf|nan)|[\[({'\"]|True\b|False\b|None\b)")


def stated_outputs(block: str) -> list[str | None]:
    """For each line of ``block`` that starts with ``print(``, the output its comment states
    (None where it states none)."""
    outs: list[str | None] = []
    for line in block.splitlines():
        if not line.startswith("print("):
            continue
        match = PRINT.match(line)
        out = match["out"].rstrip() if match else None
        outs.append(out if out is not None and VALUE.match(out) else None)
    return outs


def test_readme_has_python_examples() -> None:
    assert len(BLOCKS) >= 3
    # some examples state their outputs (so the comparison below is not vacuous)
    assert sum(out is not None for block in BLOCKS for out in stated_outputs(block)) >= 2


def test_stated_outputs_are_told_from_prose() -> None:
    block = ('x = 1\nprint(x)      # 1\nprint(a)  # [ True False]\n'
             'print(f(a))   # the improvement of each candidate\nprint(b)\n'
             'for t in ts:\n    print(t)  # 3\n')
    assert stated_outputs(block) == ["1", "[ True False]", None, None]


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index: int, tmp_path_factory: pytest.TempPathFactory) -> None:
    # one folder for all blocks: the second example resumes the first one's journal
    folder = tmp_path_factory.getbasetemp() / "readme"
    folder.mkdir(exist_ok=True)
    script = folder / f"example_{index}.py"
    script.write_text(BLOCKS[index])
    env = dict(os.environ, PYTHONPATH=str(README.parent))
    run = subprocess.run([sys.executable, str(script)], cwd=folder, env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip()
    stated = stated_outputs(BLOCKS[index])
    if any(out is not None for out in stated):
        printed = run.stdout.splitlines()
        assert len(printed) == len(stated), run.stdout
        for line, out in zip(printed, stated, strict=True):
            if out is not None:
                assert line.rstrip() == out
