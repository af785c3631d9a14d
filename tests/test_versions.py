"""One version parser for the package (envdoctor/versions.py): what the driver, CUDA, torch and toolkit strings
of real outputs become, and what odd strings count as."""

import pytest

from envdoctor.versions import release


@pytest.mark.parametrize("text, numbers", [
    ("535.104.05", (535, 104, 5)),  # a driver: leading zeros are numbers
    ("418.87.00", (418, 87, 0)),
    ("12.1", (12, 1)),  # CUDA
    ("12.0", (12, 0)),  # trailing zeros kept: [:2] is major.minor
    ("2.5.1+cu121", (2, 5, 1)),  # torch: the local build tag is not part of the release
    ("0.20.1+cpu", (0, 20, 1)),
    ("2.6.0.dev20241112+cu124", (2, 6, 0)),  # a nightly counts as its release
    ("1.0preview", (1, 0)),  # a pre-release counts as its release (packaging alone would order it below 1.0)
    ("v1.17.8", (1, 17, 8)),
    (" 12.4 ", (12, 4)),
    ("1.17.8-1", (1, 17, 8)),  # a Debian revision packaging reads as a post-release
    # strings packaging rejects: their first dotted number, else their first number
    ("535.183.01-0ubuntu1", (535, 183, 1)),
    ("1.0.0~beta.1-1", (1, 0, 0)),
    ("1:1.17.8-1", (1, 17, 8)),
    ("/opt/nvidia/hpc_sdk/Linux_x86_64/23.5", (23, 5)),
    ("R535", (535,)),
    # no version at all
    ("N/A", None), ("Not Supported", None), ("", None), (None, None),
    ("9" * 5000, None),  # past int()'s digit limit: junk, not a crash
])
def test_release(text, numbers):
    assert release(text) == numbers


def test_compares_as_the_tables_need():
    assert release("535.104.05") < release("535.183.01") < release("550.54.14")
    assert release("1.0preview") == release("1.0")  # a verdict does not change for a pre-release tag
    assert release("12.4.131")[:2] == release("12.4")
    assert max(["535.183.01", "535.216.03", "535.98"], key=release) == "535.216.03"
