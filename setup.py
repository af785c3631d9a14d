# The catalog (checks/) and the playbooks (playbooks/) live at the top of the repository, where sites and
# reviewers find them; the wheel ships them inside the package as envdoctor/checks and envdoctor/playbooks.
from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["envdoctor", "envdoctor.*"]) + ["envdoctor.checks", "envdoctor.playbooks"],
    package_dir={"envdoctor.checks": "checks", "envdoctor.playbooks": "playbooks"},
)
