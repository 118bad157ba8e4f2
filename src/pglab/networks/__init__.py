"""Policy and value networks: MLP builders, action distributions by action space, the actor-critic."""
