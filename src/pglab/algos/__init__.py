"""Policy-gradient algorithms as LightningModules: the shared contract (`base`), one file per algorithm, and the
pure loss functions they use.

`register_configs()` stores every algorithm's hyperparameter defaults in Hydra's ConfigStore (as
`<module>_defaults`, which `conf/algo/<module>.yaml` inherits); train.py calls it before Hydra composes. A new algorithm is a module here with a `PolicyGradientModule` subclass (and its `Config`) plus its YAML
option; one outside pglab registers itself with `pglab.hyperparameters.register_algorithm` (see
`tests/fixtures/extra_algorithm/`).
"""

import importlib
import pkgutil


def register_configs() -> None:
    """Import each algorithm module of this package and register its algorithm's defaults."""
    from pglab.algos.base import PolicyGradientModule
    from pglab.hyperparameters import register_algorithm, register_help_resolver

    register_help_resolver()
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, PolicyGradientModule)
                and value is not PolicyGradientModule
                and value.__module__ == module.__name__
            ):
                register_algorithm(value, info.name)
