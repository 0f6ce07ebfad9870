"""Bring-up: launch files, configuration, the codediffuser CLI and the ROS-free node test harness."""
