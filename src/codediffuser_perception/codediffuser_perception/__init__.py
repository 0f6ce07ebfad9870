"""Perception core: RGB-D fusion, DINOv2 feature clouds, detect, SAM masks, 3D attention."""
