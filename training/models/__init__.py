from .runs import BaseModel, EvaluationResult, EvaluationRun, EvaluationSuite, RunEvent, TrainingRun
from .snapshots import Snapshot, SnapshotAccess, SnapshotSubmission, Withdrawal

__all__ = [
    "Snapshot", "SnapshotAccess", "SnapshotSubmission", "Withdrawal",
    "BaseModel", "TrainingRun", "RunEvent", "EvaluationRun", "EvaluationResult", "EvaluationSuite",
]
