"""`make promote`: put a registered version of one study's model on an alias of another
registered model (a production name, another study's): checked to fit, recorded on the copy."""

from pipeline.adapters import tracking
from pipeline.core.schema.job_config import PromoteConfig


def run(config: PromoteConfig) -> int:
    name, alias = config.to.rsplit("@", 1)
    version = tracking.promote(config.model_uri, name, alias, config.reason, config.tracking_uri)
    print(
        f"models:/{config.to}: version {version.version}, a copy of "
        f"{version.tags['promoted_from']} (study {version.tags['study']}, run "
        f"{version.tags['source_run']}), promoted {version.tags['promoted_at']}"
    )
    return 0
