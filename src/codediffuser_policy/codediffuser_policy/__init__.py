"""3D-attention-conditioned diffusion policy: PointNet++, ConditionalUnet1D, DDPM/DDIM, IK, safety.

Entry points for other packages (heavy modules are imported where used, not here):

- `dataset.DatasetWriter` — record episodes (docs/dataset.md); `dataset.load_store` / `PolicyDataset`.
- `checkpoint.load_policy(path)` → `policy.DiffusionPolicy` with `reset()`, `observe(obs)` and
  `predict_action(obs) -> ActionChunk`.
- `train.main(argv)` — the `codediffuser train` command; `train.train(TrainConfig)` in process.
- `safety.SafetyLayer` / `SafetyConfig` — the last check before any joint command.
- `kinematics.load_arm_model(side)` — the vx300s model (FK/IK, gripper units).
"""
