"""Results records (`docs/results/<name>.json`), the command that writes and checks them
(`scripts/reproduce.py`), and the docs' measured blocks written from them."""
