"""Fake `launch_ros.substitutions.FindPackageShare`: a package's share folder as the run maps it."""

from __future__ import annotations

from typing import Any

from codediffuser.testing.fake_launch import EXTERNAL_SHARE
from codediffuser.testing.fake_launch.substitutions import (
    SomeSubstitutions,
    Substitution,
    perform_substitutions,
)


def share_directory(package_shares: dict[str, str], package: str) -> str:
    """The mapped share folder, or `EXTERNAL_SHARE/<package>` for a package outside the run."""
    return package_shares.get(package, f"{EXTERNAL_SHARE}/{package}")


class FindPackageShare(Substitution):
    """The share folder of `package`."""

    def __init__(self, package: SomeSubstitutions) -> None:
        self.package = package

    def perform(self, context: Any) -> str:
        return share_directory(context.package_shares, perform_substitutions(context, self.package))
