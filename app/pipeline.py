"""The validated pipelines.yaml the worker runs with, loaded once (the CLI has checked it)."""

from __future__ import annotations

from functools import cache

from app.config.loader import load_file
from app.config.schema import PipelinesConfig
from app.settings import settings


@cache
def pipeline_config() -> PipelinesConfig:
    return load_file(settings.pipelines)
