"""pglab's Hydra launcher `hydra/launcher=population` (see `population_launcher`)."""
