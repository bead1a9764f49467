"""The build seam: user choices → :class:`RunConfig` (:mod:`core.build.choices`) → the parts of a
run (:mod:`core.build.parts`). The CLI and the Train page call ``build_config``; the Trainer builds
through ``build_run``.
"""
from core.build.choices import SETTING_ALIASES, build_config, settings
from core.build.parts import RunParts, build_frame, build_model_seeded, build_run, check_config, cosine_factor

__all__ = ["build_config", "settings", "SETTING_ALIASES", "RunParts", "build_run", "build_frame", "check_config",
           "build_model_seeded", "cosine_factor"]
