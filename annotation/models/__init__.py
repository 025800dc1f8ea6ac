from .records import Record, RecordBand
from .submissions import IngestChunk, Submission

__all__ = ["IngestChunk", "Record", "RecordBand", "Submission"]
