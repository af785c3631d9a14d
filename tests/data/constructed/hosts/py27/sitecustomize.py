# constructed: a stand-in for a target whose python3 is Python 2.7 (there is no Python 2 on the test
# machine). Put first on PYTHONPATH, it makes this machine's Python 3 report version 2.7, so the probe's
# bootstrap runs for real and takes the branch a Python 2.7 takes.
import sys

sys.version_info = (2, 7, 18, "final", 0)
