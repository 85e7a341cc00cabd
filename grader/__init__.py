"""cnn-grader: a sandboxed, pytest-based autograder for deep-learning coursework.

In a notebook, `import grader` then `grader.check("question")` (one question) or
`grader.check()` (all) runs the public checks on the saved notebook (see notebook.py).
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from grader.checked import Checked

__version__ = "0.1.0"

__all__ = ["__version__", "check"]


def check(question: str | None = None, *, notebook: Any = None) -> Checked | None:
    """Run the public checks of `question` (or of every question) on the saved notebook.

    While the notebook itself is graded (in the sandbox), its check cells do nothing.
    """
    if os.environ.get("GRADER_WORKER"):
        return None
    from grader.notebook import check as check_notebook

    return check_notebook(question, notebook=notebook)


if "IPython" in sys.modules:  # in a kernel: note which cells run from now on (for unsaved-code warnings)
    from grader.notebook import CELLS, _shell

    CELLS.watch(_shell())
