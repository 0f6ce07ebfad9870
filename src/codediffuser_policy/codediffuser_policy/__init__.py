"""3D-attention-conditioned diffusion policy: PointNet++, ConditionalUnet1D, DDPM/DDIM, IK, safety."""
