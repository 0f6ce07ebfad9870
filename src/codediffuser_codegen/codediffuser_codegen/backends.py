"""Adapters from the perception core to the API's backend signatures (the real, model-based path).

`feature_detector` binds `codediffuser_perception.detect.detect` (reference-feature similarity +
DBSCAN) to a reference store, giving the `DetectBackend` a `PerceptionAPI` takes. In simulation wrap
it with `oracle.with_object_metadata` to give its instances the names the offline `sel_name` reads;
on the robot pair it with `llm.VlmNameSelector`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from codediffuser_codegen.api import DetectBackend
from codediffuser_perception.types import FeatureCloud, Instance


def feature_detector(references: Mapping[str, np.ndarray], config=None) -> DetectBackend:
    """`detect_backend(cloud, category)` over a cloud with features (`features.fuse_features`).

    Args:
        references: category → (D,) reference feature (`references.ReferenceStore` or a dict).
        config: `codediffuser_perception.detect.DetectConfig`, default thresholds when None.
    """
    from codediffuser_perception.detect import detect

    def backend(cloud: FeatureCloud, category: str) -> list[Instance]:
        return detect(cloud, references, category, config)

    return backend
