"""Networks of the policy: the PointNet++ observation encoder and the ConditionalUnet1D denoiser."""
