"""SAPIEN ALOHA simulation: three tasks with ambiguity levels, scripted demos, datasets, evaluation.

Importing the package points Vulkan at the project-local lavapipe (`<venv>/mesa/lvp_icd.json`, installed
by scripts/setup.sh) when `VK_ICD_FILENAMES` is unset, so the SAPIEN cameras work from any entry point
(console scripts, pytest, notebooks) and not only from shells that sourced scripts/env.sh.
"""

import os
import sys
from pathlib import Path

_LAVAPIPE_ICD = Path(sys.prefix) / "mesa" / "lvp_icd.json"
if "VK_ICD_FILENAMES" not in os.environ and _LAVAPIPE_ICD.is_file():
    os.environ["VK_ICD_FILENAMES"] = str(_LAVAPIPE_ICD)
