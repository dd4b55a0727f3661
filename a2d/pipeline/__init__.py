"""Running the pipeline itself: which DVC stages will run, and how long each took when it last ran.

Nothing here measures the paper's quantities; it serves `make plan` / `make repro` (what will
run and roughly for how long) and the stage runner (recording each stage's wall time).
"""

from a2d.pipeline.timings import read_timings, record_stage_time

__all__ = ["read_timings", "record_stage_time"]
