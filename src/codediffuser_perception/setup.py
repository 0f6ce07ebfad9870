"""Perception core: RGB-D fusion, DINOv2 feature clouds, detect, SAM masks, 3D attention.

An ament_python package: `colcon build` installs it on a ROS 2 machine, `pip install -e` anywhere.
"""

from setuptools import find_packages, setup

package_name = "codediffuser_perception"

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
        "scikit-learn",
        "open3d",
        "torch",
        "transformers>=5,<6",
        "pillow",
        "pyyaml",
    ],
    zip_safe=True,
    maintainer="codediffuser maintainers",
    maintainer_email="maintainers@codediffuser.dev",
    description="Perception core: RGB-D fusion, DINOv2 feature clouds, detect, SAM masks, 3D attention.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "fusion_node = codediffuser_perception.node:main",
        ],
    },
)
