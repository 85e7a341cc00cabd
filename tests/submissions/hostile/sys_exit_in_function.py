"""TinyCNN's forward calls sys.exit."""
import sys

_Correct = TinyCNN


class TinyCNN(_Correct):
    def forward(self, x):
        sys.exit(1)
