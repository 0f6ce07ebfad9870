"""3D-attention-conditioned diffusion policy: PointNet++, ConditionalUnet1D, DDPM/DDIM, IK, safety.

An ament_python package: `colcon build` installs it on a ROS 2 machine, `pip install -e` anywhere.
"""

from setuptools import find_packages, setup

package_name = "codediffuser_policy"

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
        "torch",
        "diffusers>=0.30",
        "zarr>=3",
        "tqdm",
        "tensorboard",
        "pyyaml",
        "mujoco",
        "gym-aloha",
        "codediffuser_perception",
    ],
    zip_safe=True,
    maintainer="codediffuser maintainers",
    maintainer_email="maintainers@codediffuser.dev",
    description="3D-attention-conditioned diffusion policy: PointNet++, ConditionalUnet1D, DDPM/DDIM, IK, safety.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "policy_node = codediffuser_policy.node:main",
        ],
    },
)
