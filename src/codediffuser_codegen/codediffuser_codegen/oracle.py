"""Metadata backends of the perception API: the embedded defaults for the simulator and the tests.

In simulation every point of the fused cloud carries the id of the actor it was rendered from
(`FeatureCloud.object_ids`) and the task knows each actor's category and attributes. These two
backends answer `detect` and `sel_name` from that ground truth (DESIGN.md §5, "embedded defaults"), so
the code-generation stack runs with no model weights and no VLM key. They are documented oracles: a
real deployment injects the reference-feature detector and the VLM name selector instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np

from codediffuser_codegen.api import DetectBackend, SelectionError
from codediffuser_perception.types import FeatureCloud, Instance, PerceptionError

_ARTICLES = frozenset({"the", "a", "an", "any", "one", "of", "that", "is", "which", "with", "in", "on", "to"})
_NOUNS = frozenset({"battery", "batteries", "slot", "slots", "mug", "mugs", "branch", "branches", "book"})
_STOPWORDS = _ARTICLES | _NOUNS | {"books", "shelf", "tray", "tree", "object", "instance", "some", "at", "it"}
_SYNONYMS = {"centre": "middle", "center": "middle", "grey": "gray", "rear": "back"}


def metadata_detector(objects: Mapping[int, Mapping[str, str]]) -> DetectBackend:
    """A detector that groups cloud points by simulator object id.

    Args:
        objects: object id → metadata with at least `category` (and usually `name`, `color`, …); ids
            are the values of `FeatureCloud.object_ids`.

    Returns:
        `detect_backend(cloud, category)`: one `Instance` per object of that category with at least
        one point, in increasing id order; `Instance.id` is the object id and `metadata` its metadata
        plus `object_id` (as `codediffuser_perception.detect` sets it, read by the oracle masks).
    """
    known = {str(meta.get("category", "")) for meta in objects.values()}

    def detect(cloud: FeatureCloud, category: str) -> list[Instance]:
        if cloud.object_ids is None:
            raise PerceptionError("the metadata detector needs FeatureCloud.object_ids (simulator clouds)")
        if category not in known:
            raise PerceptionError(f"unknown category {category!r}; this scene has {sorted(known)}")
        found = []
        for obj_id in sorted(objects):
            meta = objects[obj_id]
            if meta.get("category") != category:
                continue
            indices = np.flatnonzero(cloud.object_ids == obj_id)
            if len(indices) == 0:
                continue
            pts = cloud.points[indices]
            lo, hi = pts.min(axis=0), pts.max(axis=0)
            found.append(
                Instance(
                    id=int(obj_id),
                    category=category,
                    indices=indices.astype(np.int64),
                    centroid=((lo + hi) / 2).astype(np.float32),
                    bbox_min=lo.astype(np.float32),
                    bbox_max=hi.astype(np.float32),
                    metadata={**{k: str(v) for k, v in meta.items()}, "object_id": str(obj_id)},
                )
            )
        return found

    return detect


def with_object_metadata(backend: DetectBackend, objects: Mapping[int, Mapping[str, str]]) -> DetectBackend:
    """Wrap a real detector so its instances carry the simulator metadata of the object they cover.

    `codediffuser_perception.detect.detect` stores the dominant simulator id of an instance's points in
    `metadata["object_id"]` when the cloud has `object_ids`; this adds that object's name and
    attributes, so the offline `sel_name` matcher works on top of the feature-based detector in sim.
    """

    def detect(cloud: FeatureCloud, category: str) -> list[Instance]:
        found = backend(cloud, category)
        for inst in found:
            obj_id = inst.metadata.get("object_id")
            if obj_id is not None and int(obj_id) in objects:
                inst.metadata = {**{k: str(v) for k, v in objects[int(obj_id)].items()}, **inst.metadata}
        return found

    return detect


def _tokens(text: str) -> list[str]:
    return [_SYNONYMS.get(t, t) for t in re.findall(r"[a-z0-9]+", text.lower())]


def _vocabulary(inst: Instance) -> set[str]:
    words = {t for key, value in inst.metadata.items() if key != "occupied" for t in _tokens(value)}
    words |= {"occupied", "full"} if inst.metadata.get("occupied") == "true" else {"free", "empty"}
    return words


def match_metadata(cloud: FeatureCloud, candidates: Sequence[Instance], description: str) -> Instance:
    """`sel_name` from metadata: the first candidate whose attributes contain every descriptive word.

    Category nouns and articles are ignored ("the red battery" → {"red"}); "free"/"empty" match a target
    whose `occupied` is not "true" (missing = free, docs/instructions.md). Several matches are equally valid (e.g. "free slot"): the first in
    detect order is returned, so the choice is deterministic.

    Raises:
        SelectionError: no candidate matches (the message lists the candidates' names).
    """
    del cloud  # the oracle reads metadata, not pixels
    words = [t for t in _tokens(description) if t not in _STOPWORDS]
    for inst in candidates:
        if set(words) <= _vocabulary(inst):
            return inst
    names = ", ".join(i.metadata.get("name", f"#{i.id}") for i in candidates)
    raise SelectionError(f"sel_name: no candidate matches {description!r}; candidates: {names}")
