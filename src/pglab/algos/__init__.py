"""Policy-gradient algorithms as LightningModules: a shared base, one small file per algorithm, and the
pure loss functions they use."""
