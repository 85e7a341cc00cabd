"""sys.exit at import: a failing statement like any other; the rest has loaded."""
import sys

sys.exit("goodbye")
