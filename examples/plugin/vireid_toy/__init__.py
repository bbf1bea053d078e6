"""vireid-toy: a vireid plugin with one of each thing vireid builds by name (docs/extending.md).

Importing the package registers them -- a dataset (``toy``), a model (``toy_net``), a loss term
(``loss.toy_center``) and an expansion module (``toy_mix``) -- and makes the package's configs
addressable by name (``vireid train --config toy``).  vireid imports it through the entry point
in ``pyproject.toml`` once the package is installed, or when a config lists it
(``imports: [vireid_toy]``).
"""

from pathlib import Path

from vireid.config.shipped import register_config_dir
from vireid_toy import dataset, expansion, loss, model  # noqa: F401  (each module registers its class)

register_config_dir(Path(__file__).parent / "configs")
