"""os._exit at import: the worker process ends before anything is defined."""
import os

os._exit(3)
