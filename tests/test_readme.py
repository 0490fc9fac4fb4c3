import os
import re

README = os.path.join(os.path.dirname(__file__), "..", "README.md")


def test_the_ten_line_example_runs():
    # The README's first Python block is the one users copy first; it must keep working as the API evolves.
    with open(README) as f:
        blocks = re.findall(r"```python\n(.*?)```", f.read(), re.S)
    exec(compile(blocks[0], "README.md", "exec"), {})
