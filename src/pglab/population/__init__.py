"""Population training: many members (hyperparameter configurations and seeds) trained as one batched program.

Each member's copy of a parameter is a row of one stacked tensor `(P, ...)`; the members never couple.
"""

from pglab.population.adam import PopulationAdam

__all__ = ["PopulationAdam"]
