"""Population training: the jobs of a sweep that differ only in seeds and scalar hyperparameters, trained as one
batched program in one process (`python train.py -m ... hydra/launcher=population`).

- `run.run_population(jobs)`: checks, builds and reports every job as `pglab.train.run` does for one run, and
  trains them together; `hydra_plugins.pglab_population_launcher` is the Hydra launcher that calls it;
- `module.PopulationModule`: the LightningModule of a population (members, collection, evaluation, metrics,
  checkpoints); `ppo.PopulationPPO`, `a2c.PopulationA2C` and `vpg.PopulationVPG` add their algorithm's batched
  update, whose `training_step` updates every member at once;
- `network.StackedActorCritic`: the members' actor-critics as stacked `(P, ...)` weights, one batched pass;
- `adam.PopulationAdam`, `rmsprop.PopulationRMSprop`: each member's own torch optimizer (fused Adam; A2C's
  multi-tensor RMSprop) on its rows of the stacked weights, with its learning rate and step count;
- `collector`: one vector env of every member's sub-envs (torch backend and gymnasium's `SyncVectorEnv`);
- `checkpoints`: each member's `last.ckpt` / `best.ckpt`, its own run's checkpoint bit for bit.

On the CPU every member trains bit for bit as its own run would (same evaluations, same checkpoints), and no
member's hyperparameters or divergence touch another's.
"""

from pglab.population.adam import PopulationAdam
from pglab.population.rmsprop import PopulationRMSprop

__all__ = ["PopulationAdam", "PopulationRMSprop"]
