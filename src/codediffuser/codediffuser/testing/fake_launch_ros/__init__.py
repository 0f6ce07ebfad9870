"""A recording stand-in for `launch_ros` (installed as `launch_ros` by `run_launch`)."""

from codediffuser.testing.fake_launch_ros import actions, substitutions

__all__ = ["actions", "substitutions"]
