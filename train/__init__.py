"""The bundled trainer: `python -m train --data SOURCE --out RUN_DIR [--preset NAME]`."""
