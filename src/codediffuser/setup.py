"""Bring-up: launch files, configuration, the codediffuser CLI and the ROS-free node test harness.

An ament_python package: `colcon build` installs it on a ROS 2 machine, `pip install -e` anywhere.
"""

from glob import glob

from setuptools import find_packages, setup

package_name = "codediffuser"

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    include_package_data=True,
    # vendored interface definitions (interbotix_xs_msgs, std_srvs) read by codediffuser.interfaces
    package_data={"codediffuser": ["interfaces/*/msg/*.msg", "interfaces/*/srv/*.srv"]},
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
        ("share/" + package_name, ["package.xml"]),
        # launch/ and config/ are links to the repository root's folders, so that
        # `ros2 launch codediffuser sim.launch.py` finds them in share/codediffuser.
        ("share/" + package_name + "/launch", glob("launch/*.launch.py")),
        ("share/" + package_name + "/config", glob("config/*.yaml") + glob("config/*.rviz")),
    ],
    python_requires=">=3.10",
    install_requires=[
        "pyyaml",
        "rosbags",
        "matplotlib",
        "opencv-python",  # ChArUco calibration (the same wheel SAPIEN pulls in)
        "pillow",
        "scikit-learn",
        "codediffuser_perception",
        "codediffuser_codegen",
        "codediffuser_policy",
        "codediffuser_sim",
    ],
    zip_safe=True,
    maintainer="codediffuser maintainers",
    maintainer_email="maintainers@codediffuser.dev",
    description="Bring-up: launch files, configuration, the codediffuser CLI and the ROS-free node test harness.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "codediffuser = codediffuser.cli:main",
        ],
    },
)
