from .runs import BaseModel, EvaluationResult, EvaluationRun, EvaluationSuite, RunEvent, TrainingRun
from .snapshots import Snapshot, SnapshotSubmission, Withdrawal

__all__ = [
    "Snapshot", "SnapshotSubmission", "Withdrawal",
    "BaseModel", "TrainingRun", "RunEvent", "EvaluationRun", "EvaluationResult", "EvaluationSuite",
]
