"""SAPIEN ALOHA simulation: three tasks with ambiguity levels, scripted demos, datasets, evaluation.

An ament_python package: `colcon build` installs it on a ROS 2 machine, `pip install -e` anywhere.
"""

from setuptools import find_packages, setup

package_name = "codediffuser_sim"

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    include_package_data=True,
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
        ("share/" + package_name, ["package.xml"]),
    ],
    python_requires=">=3.10",
    install_requires=[
        "numpy>=1.26,<2.3",
        "scipy",
        "sapien",
        "gym-aloha",
        "mujoco",
        "zarr>=3",
        "tqdm",
        "imageio[ffmpeg]",
        "pyyaml",
        "codediffuser_perception",
        "codediffuser_policy",
    ],
    zip_safe=True,
    maintainer="codediffuser maintainers",
    maintainer_email="maintainers@codediffuser.dev",
    description="SAPIEN ALOHA simulation: three tasks with ambiguity levels, scripted demos, datasets, evaluation.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "sim_bridge_node = codediffuser_sim.bridge_node:main",
        ],
    },
)
