"""Fake `launch.launch_description_sources`: where an included launch file is."""

from __future__ import annotations

from codediffuser.testing.fake_launch.substitutions import SomeSubstitutions


class PythonLaunchDescriptionSource:
    """A Python launch file (`generate_launch_description()`), by path or path substitution."""

    def __init__(self, launch_file_path: SomeSubstitutions) -> None:
        self.launch_file_path = launch_file_path
