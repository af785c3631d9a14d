import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS_NOTE = "copies of ../shared/corpus files live in tests/data/corpus/ with their # source: lines"
sys.path.insert(0, str(ROOT))  # tests.support importable
