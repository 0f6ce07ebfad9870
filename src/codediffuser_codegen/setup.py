"""Code generation: VLM-written programs over the perception API, sandboxed, offline default.

An ament_python package: `colcon build` installs it on a ROS 2 machine, `pip install -e` anywhere.
"""

from setuptools import find_packages, setup

package_name = "codediffuser_codegen"

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    include_package_data=True,
    package_data={"codediffuser_codegen": ["prompts/*.md"]},
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
        ("share/" + package_name, ["package.xml"]),
    ],
    python_requires=">=3.10",
    install_requires=[
        "numpy>=1.26,<2.3",
        "openai>=1.50",
        "pillow",
        "matplotlib",
        "codediffuser_perception",
    ],
    zip_safe=True,
    maintainer="codediffuser maintainers",
    maintainer_email="maintainers@codediffuser.dev",
    description="Code generation: VLM-written programs over the perception API, sandboxed, offline default.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "codegen_node = codediffuser_codegen.node:main",
        ],
    },
)
