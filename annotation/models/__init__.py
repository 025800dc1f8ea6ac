from .records import Record
from .review import Annotation, Assignment, Certification, ContributorPreference, ReviewDecision, ReviewQueue
from .submissions import IngestChunk, Submission
from .uploads import Upload

__all__ = [
    "Annotation",
    "Assignment",
    "Certification",
    "ContributorPreference",
    "IngestChunk",
    "Record",
    "ReviewDecision",
    "ReviewQueue",
    "Submission",
    "Upload",
]
