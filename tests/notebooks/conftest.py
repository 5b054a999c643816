import sys
from pathlib import Path

# scripts/run_notebook.py is the notebook runner `make demo` uses; the tests reuse it.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
