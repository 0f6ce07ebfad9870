#!/usr/bin/env bash
# Container entry point: the ROS installation, the built workspace and the Python venv, then the command.
set -e
# shellcheck disable=SC1090
source "/opt/ros/${ROS_DISTRO}/setup.bash"
# shellcheck disable=SC1091
source /ws/install/setup.bash
export PATH="/opt/venv/bin:${PATH}"
exec "$@"
