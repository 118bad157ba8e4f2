"""A clearer message when Hydra rejects a `key=value` override whose key does not exist.

Hydra's own message ("Key 'lrr' is not in struct") names the key but not what the section holds. After
Hydra has refused the command line, `unknown_key_message` composes the config once more with only the group
choices and names each unknown key with the keys its section does have.
"""

from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

CONF = Path(__file__).resolve().parents[2] / "conf"


def unknown_key_message(args: list[str], config_dir: Path = CONF, config_name: str = "train") -> str | None:
    """The message for the first `key=value` in `args` whose key the composed config lacks; None if none."""
    overrides = [a for a in args if "=" in a and not a.startswith("-")]
    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except Exception:  # noqa: BLE001  (Hydra has reported the syntax error itself)
        return None
    groups = {p.name for p in config_dir.iterdir() if p.is_dir()}
    checked = [
        o
        for o in parsed
        if not (
            o.is_add()
            or o.is_delete()
            or o.key_or_group in groups
            or o.key_or_group.split("/")[0] in groups
            or o.key_or_group.startswith("hydra")
        )
    ]
    if not checked:  # group choices only: nothing to compose for (Hydra names a bad option itself)
        return None
    choices = [
        o.input_line
        for o in parsed
        if (o.key_or_group.split("/")[0] in groups and "." not in o.key_or_group)
        or o.key_or_group == "hydra.searchpath"  # an algorithm (or any option) from another config folder
    ]
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
            cfg = compose(config_name, overrides=choices)
    except Exception:  # noqa: BLE001  (a bad group choice: Hydra's message lists the options)
        return None
    finally:
        GlobalHydra.instance().clear()
    for override in checked:
        key = override.key_or_group
        parent, _, leaf = key.rpartition(".")
        section = OmegaConf.select(cfg, parent) if parent else cfg
        if isinstance(section, DictConfig) and leaf not in section.keys():  # noqa: SIM118  (keys() has `???` values too)
            where = parent or "the top level"
            close = ", ".join(sorted(str(k) for k in section))
            return (
                f"{key} is not a key of {where}; its keys: {close}. "
                f"(To add a new key on purpose, write +{key}=...)"
            )
        if section is None and parent:
            return f"{key}: {parent} is not a section of the config; top-level keys: {', '.join(sorted(cfg.keys()))}"
    return None


def resume_group_choices(args: list[str], config_dir: Path = CONF) -> list[str]:
    """With `resume=DIR` in `args`: the group choices DIR's run was launched with (`algo=vpg`,
    `experiment=ppo_hopper`, ...) and its `hydra.searchpath` (where an option such as an algorithm outside pglab
    comes from) that `args` does not repeat.

    train.py puts them on the command line before Hydra composes, so that a `key=value` override valid for that
    run (`algo.value_updates=5` for VPG) composes, instead of failing against the default `algo=ppo`.
    """
    resume = [a.split("=", 1)[1] for a in args if a.startswith("resume=")]
    launched = Path(resume[-1]).expanduser() / ".hydra" / "overrides.yaml" if resume and resume[-1] else None
    if launched is None or not launched.is_file():
        return []
    groups = {p.name for p in config_dir.iterdir() if p.is_dir()}
    given = {a.split("=", 1)[0].lstrip("+~") for a in args if "=" in a}
    lines = list(OmegaConf.load(launched))
    hydra_record = launched.with_name("hydra.yaml")  # Hydra keeps its own overrides apart from the task's
    if hydra_record.is_file():
        hydra_overrides = OmegaConf.select(OmegaConf.load(hydra_record), "hydra.overrides.hydra", default=[])
        lines += [line for line in hydra_overrides or [] if line.startswith("hydra.searchpath=")]
    return [
        line
        for line in lines
        if "=" in line
        and ((name := line.split("=", 1)[0].lstrip("+")) in groups or name == "hydra.searchpath")
        and name not in given
    ]
